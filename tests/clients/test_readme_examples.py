#!/usr/bin/python3
"""test_readme_examples — runs README.md's runnable SQL examples through psql against a server
loaded with tools/sample.sql.

A fenced block whose info string is `sql runnable` is an example meant to run as written; the
other ```sql blocks are syntax templates ([optional] parts, `…`). Each runnable block runs, in
README order, as one psql script (psql -X -v ON_ERROR_STOP=0 -v VERBOSITY=verbose), so later
blocks see earlier blocks' writes. A statement expected to fail says so with a `-- error: SQLSTATE`
comment on its line; the SQLSTATEs of the errors psql prints must be exactly the expected ones, in
order. Run under tests/clients/run-client with vector_dimensions = 128 (the sample's vectors).
"""
import os
import pathlib
import re
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```sql runnable\s*\n(.*?)^```\s*$", re.S | re.M)
EXPECT = re.compile(r"--\s*error:\s*([0-9A-Z]{5})")
PSQL_ERROR = re.compile(r"^psql:.*?ERROR:\s+([0-9A-Z]{5}):", re.M)


def psql(script):
    cmd = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=0", "-v", "VERBOSITY=verbose",
           "-h", os.environ["PGHOST"], "-p", os.environ["PGPORT"], "-U", "test", "-d", "contextdb",
           "-f", "-"]
    return subprocess.run(cmd, input=script, capture_output=True, text=True, timeout=120)


def main():
    if shutil.which("psql") is None:
        print("psql is not installed: skipped")
        return 77
    load = psql((ROOT / "tools" / "sample.sql").read_text())
    if load.returncode != 0 or "ERROR" in load.stderr:
        print(f"loading tools/sample.sql failed:\n{load.stderr}")
        return 1
    blocks = FENCE.findall((ROOT / "README.md").read_text())
    failed = 0
    for number, block in enumerate(blocks, 1):
        expected = EXPECT.findall(block)
        run = psql(block)
        got = PSQL_ERROR.findall(run.stderr)
        if run.returncode != 0 or got != expected:
            failed += 1
            print(f"FAIL README runnable block {number}: errors {got}, expected {expected}\n"
                  f"{block}\n---- psql stderr ----\n{run.stderr}")
    print(f"README runnable examples: {len(blocks) - failed} of {len(blocks)} blocks ran as expected")
    return 1 if failed or not blocks else 0


if __name__ == "__main__":
    sys.exit(main())
