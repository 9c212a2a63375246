"""httptest — shared helpers of the HTTP API tests (tests/http/).

HttpServer starts the real contextdb binary through tools/ctxserver.py with a config file and
CONTEXTDB_HTTP_PORT=0 (ctxserver turns HTTP off unless told otherwise), and reads the HTTP port
from its `contextdb: HTTP API on HOST:PORT` line. Every started server is remembered, and
stop_all() (called from a test's `finally`) stops those still running, so a failed assertion
leaves no server behind.
OpenApi validates every response the tests receive against the server's own
/api/v1/openapi.json (JSON Schema 2020-12 via python3-jsonschema, `$ref`s resolved in the
document) and records which operations were exercised, so a test can check that it covered the
whole document.
"""
import os
import re
import sys

sys.path.insert(0, os.environ.get("CTX_TOOLS_DIR", os.path.join(os.path.dirname(__file__),
                                                                 "..", "..", "tools")))
from ctxserver import Server  # noqa: E402

import jsonschema  # noqa: E402
import requests  # noqa: E402

HTTP_RE = re.compile(rb"contextdb: HTTP API on 127\.0\.0\.1:(\d+)")


STARTED = []


def stop_all():
    """Stops every HttpServer still running (by PID); for a test's `finally`."""
    for srv in STARTED:
        srv.server.stop()


class HttpServer:
    """One server with its own data directory under tmp/name and a config of lines."""

    def __init__(self, binary, tmp, name, config_lines=(), env=None):
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "server.conf")
        with open(self.conf, "w") as f:
            f.write("http_port = 0\n" + "".join(line + "\n" for line in config_lines))
        self.server = Server(binary, os.path.join(self.dir, "data"), args=["--config", self.conf],
                             env=dict({"CONTEXTDB_HTTP_PORT": "0"}, **(env or {})), log_path=os.path.join(self.dir, "server.log"))
        self.http_port = None

    def start(self):
        offset = os.path.getsize(self.server.log_path) if os.path.exists(
            self.server.log_path) else 0
        STARTED.append(self)
        self.server.start()
        with open(self.server.log_path, "rb") as f:
            f.seek(offset)
            m = HTTP_RE.search(f.read())
        assert m, "no HTTP API line in %s" % self.server.log_path
        self.http_port = int(m.group(1))
        return self

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.http_port

    @property
    def pg_dsn(self):
        return "host=127.0.0.1 port=%d user=test dbname=test sslmode=disable" % self.server.port

    def stop(self):
        status = self.server.stop()
        assert status == 0, "server exited with %s; log %s" % (status, self.server.log_path)

    def log(self):
        with open(self.server.log_path, errors="replace") as f:
            return f.read()


class OpenApi:
    """Validates responses against the OpenAPI document; remembers the operations used."""

    def __init__(self, doc):
        assert doc["openapi"].startswith("3.1"), doc["openapi"]
        self.doc = doc
        self.resolver = jsonschema.RefResolver.from_schema(doc)
        self.used = set()
        for name, schema in doc["components"]["schemas"].items():
            jsonschema.Draft202012Validator.check_schema(schema)

    def validate(self, method, template, response):
        path = self.doc["paths"].get(template)
        assert path is not None, "%s is not in the OpenAPI document" % template
        op = path.get(method.lower())
        assert op is not None, "%s %s is not in the OpenAPI document" % (method, template)
        responses = op["responses"]
        entry = responses.get(str(response.status_code), responses.get("default"))
        assert entry is not None, "%s %s: status %d undocumented" % (method, template,
                                                                    response.status_code)
        content = entry["content"]
        ctype = response.headers.get("Content-Type", "").split(";")[0]
        assert ctype in content, "%s %s: content type %r undocumented (%s)" % (
            method, template, ctype, list(content))
        if ctype == "application/json":
            body = response.json()
            jsonschema.Draft202012Validator(content[ctype]["schema"],
                                            resolver=self.resolver).validate(body)
        self.used.add((method.upper(), template))

    def operations(self):
        ops = set()
        for template, item in self.doc["paths"].items():
            for method in ("get", "post", "put", "delete", "patch"):
                if method in item:
                    ops.add((method.upper(), template))
        return ops


class Client:
    """requests against one server; every response is validated by api."""

    def __init__(self, server, api, token=None):
        self.server, self.api = server, api
        self.session = requests.Session()
        if token is not None:
            self.session.headers["Authorization"] = "Bearer " + token

    def call(self, method, template, ids=None, expect=None, **kwargs):
        path = template
        for key, value in (ids or {}).items():
            path = path.replace("{%s}" % key, str(value))
        response = self.session.request(method, self.server.url + path, timeout=120, **kwargs)
        self.api.validate(method, template, response)
        if expect is not None:
            assert response.status_code == expect, "%s %s: %d, wanted %d: %s" % (
                method, path, response.status_code, expect, response.text[:500])
        return response

    def json(self, method, template, ids=None, expect=None, **kwargs):
        return self.call(method, template, ids=ids, expect=expect, **kwargs).json()
