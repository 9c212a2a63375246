#!/usr/bin/python3
"""The graph browser end to end: builds web/ (npm ci + esbuild, from the lockfile), starts the
real server with http_port = 0 and the sample graph (tools/sample.sql through psql), and runs
browser.mjs (puppeteer-core from the root lockfile, Debian's chromium) against it. Screenshots
land in the build directory (meson-logs/browser/). SKIP (77) when chromium, node or the npm
packages are missing (no network for npm).

    test_browser.py SERVER_BIN SOURCE_ROOT OUTDIR
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "http"))
from httptest import HttpServer  # noqa: E402


def check_files(url):
    """The static file routes: types, no way out of the directory, 404 with a hint."""
    import requests
    r = requests.get(url + "/", timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html"), r
    r = requests.get(url + "/ui/app.js", timeout=30)
    assert r.status_code == 200 and "javascript" in r.headers["Content-Type"], r.headers
    for bad in ["/ui/..%2Fpackage.json", "/ui/.hidden.js", "/ui/nope.js", "/ui/app.js.map.exe",
                "/ui/%2Fetc%2Fpasswd"]:
        r = requests.get(url + bad, timeout=30)
        assert r.status_code == 404 and r.json()["error"]["code"] == "42P01", (bad, r.text)
    assert "not built" in requests.get(url + "/ui/nope.js", timeout=30).json()["error"]["message"]
    print("ok static files: types, plain names only, 404 with a hint")


def main():
    binary, root, out_dir = sys.argv[1:4]
    chromium = shutil.which("chromium")
    node = shutil.which("node")
    if chromium is None or node is None:
        print("SKIP: chromium or node is not installed")
        return 77
    if not os.path.isdir(os.path.join(root, "node_modules", "puppeteer-core")):
        print("SKIP: npm packages missing (run `npm ci` in %s)" % root)
        return 77
    web = os.path.join(root, "web")
    if not os.path.isfile(os.path.join(web, "dist", "index.html")):
        subprocess.run(["npm", "--prefix", web, "ci", "--no-audit", "--no-fund"], check=True)
        subprocess.run(["npm", "--prefix", web, "run", "build"], check=True)
    tmp = tempfile.mkdtemp(prefix="ctx-browser-")
    srv = HttpServer(binary, tmp, "browser",
                     ["vector_dimensions = 128", "http_ui_dir = " + os.path.join(web, "dist")],
                     env={"CONTEXTDB_LOG_LEVEL": "info"})
    srv.start()
    try:
        check_files(srv.url)
        subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                        str(srv.server.port), "-U", "test", "-d", "test", "-f",
                        os.path.join(root, "tools", "sample.sql")], check=True)
        args = [node, os.path.join(os.path.dirname(os.path.abspath(__file__)), "browser.mjs"),
                srv.url, out_dir]
        if os.environ.get("CTX_README_SCREENSHOT"):
            args.append(os.environ["CTX_README_SCREENSHOT"])
        rc = subprocess.run(args, env=dict(os.environ, CHROMIUM=chromium,
                                           NODE_PATH=os.path.join(root, "node_modules")),
                            cwd=root).returncode
    finally:
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
