"""pytest plugin: moto's own Step Functions tests, in moto's server mode, against windlass.

moto's tests in server mode (TEST_SERVER_MODE=true) send every boto3 client
to one endpoint and post `/moto-api/reset` there before and after each test.
This plugin, loaded by `run.py`, puts a `windlass server` at that endpoint
and a moto server beside it, and then:

- sends the clients of every other service (IAM, KMS, STS, DynamoDB, ...)
  to the moto server: windlass serves Step Functions only. windlass's own
  Task states reach the same moto server (AWS_ENDPOINT_URL in its
  environment), so a state machine that writes to DynamoDB writes where the
  test reads;
- answers moto's reset by starting windlass again on the same port with an
  empty data directory (a fresh account, as each test expects) and by
  resetting the moto server;
- points the parser tests' `/moto-api/config` posts, which go to
  `localhost:5000`, at the moto server, where that setting belongs;
- leaves out the tests `exclusions.txt` lists, and fails the run on an
  exclusion that names no test;
- writes every test's outcome to the JSON file WINDLASS_MOTO_RESULTS.

Environment: WINDLASS_BIN (the binary), WINDLASS_MOTO_EXCLUSIONS (the list),
WINDLASS_MOTO_RESULTS, WINDLASS_MOTO_WORKDIR (data directories and logs).
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_exclusions(path):
    """`NODEID -- REASON` lines; `#` starts a comment line."""
    excluded = {}
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            nodeid, sep, reason = line.partition(" -- ")
            if not sep or not reason.strip():
                raise pytest.UsageError(f"{path}:{number}: expected `NODEID -- REASON`, got {line!r}")
            excluded[nodeid.strip()] = reason.strip()
    return excluded


class Servers:
    """windlass on a fixed loopback port (restarted for every reset) and a moto server."""

    def __init__(self, binary, workdir):
        self.binary, self.workdir = binary, workdir
        self.windlass_port, self.moto_port = free_port(), free_port()
        self.windlass_url = f"http://127.0.0.1:{self.windlass_port}"
        self.moto_url = f"http://127.0.0.1:{self.moto_port}"
        self.windlass, self.moto, self.generation = None, None, 0
        self.restarts = 0

    def start(self):
        log = open(os.path.join(self.workdir, "moto.log"), "wb")
        self.moto = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.moto_port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.start_windlass()
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{self.moto_url}/moto-api/", timeout=2).read()
                break
            except OSError:
                if self.moto.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the moto server did not start; see {log.name}")
                time.sleep(0.1)

    def start_windlass(self):
        self.generation += 1
        data = os.path.join(self.workdir, "data")
        shutil.rmtree(data, ignore_errors=True)
        env = dict(os.environ)
        env.update(
            AWS_ENDPOINT_URL=self.moto_url,
            AWS_ACCESS_KEY_ID="test",
            AWS_SECRET_ACCESS_KEY="test",
        )
        env.pop("AWS_PROFILE", None)
        with open(os.path.join(self.workdir, "windlass.err"), "ab") as err:
            self.windlass = subprocess.Popen(
                [self.binary, "server", "--bind", f"127.0.0.1:{self.windlass_port}", "--data-dir", data],
                stdout=subprocess.PIPE,
                stderr=err,
                env=env,
            )
        line = self.windlass.stdout.readline().decode()
        if not line.startswith("windlass server listening on"):
            raise RuntimeError(f"windlass server did not start: {line!r}; see {self.workdir}/windlass.err")

    def stop_windlass(self):
        if self.windlass is not None:
            self.windlass.kill()
            self.windlass.wait()
            self.windlass.stdout.close()
            self.windlass = None

    def reset(self):
        self.restarts += 1
        self.stop_windlass()
        self.start_windlass()
        request = urllib.request.Request(f"{self.moto_url}/moto-api/reset", data=b"", method="POST")
        urllib.request.urlopen(request, timeout=30).read()

    def stop(self):
        self.stop_windlass()
        if self.moto is not None:
            self.moto.kill()
            self.moto.wait()


SERVERS = None
OUTCOMES = {}
EXCLUDED = {}
UNKNOWN_EXCLUSIONS = []


def pytest_configure(config):
    global SERVERS
    SERVERS = Servers(os.environ["WINDLASS_BIN"], os.environ["WINDLASS_MOTO_WORKDIR"])
    # moto reads these when the tests' decorators are made, at collection.
    os.environ["TEST_SERVER_MODE"] = "true"
    os.environ["TEST_SERVER_MODE_ENDPOINT"] = SERVERS.windlass_url
    SERVERS.start()
    EXCLUDED.update(read_exclusions(os.environ["WINDLASS_MOTO_EXCLUSIONS"]))

    import boto3.session
    from moto.core import models

    models.ServerModeMockAWS.reset = lambda self: SERVERS.reset()

    real_client = boto3.session.Session.client
    real_resource = boto3.session.Session.resource

    def other_services_to_moto(args, kwargs):
        service = kwargs.get("service_name", args[0] if args else None)
        if service != "stepfunctions" and kwargs.get("endpoint_url") == SERVERS.windlass_url:
            kwargs["endpoint_url"] = SERVERS.moto_url

    def client(self, *args, **kwargs):
        other_services_to_moto(args, kwargs)
        return real_client(self, *args, **kwargs)

    def resource(self, *args, **kwargs):
        other_services_to_moto(args, kwargs)
        return real_resource(self, *args, **kwargs)

    boto3.session.Session.client = client
    boto3.session.Session.resource = resource

    # The parser tests' modules copy `base_url` when they are imported: set
    # it before they are.
    import tests.test_stepfunctions.parser as parser

    parser.base_url = SERVERS.moto_url.removeprefix("http://")


def pytest_unconfigure(config):
    if SERVERS is not None:
        SERVERS.stop()


def pytest_collection_modifyitems(session, config, items):
    seen = {item.nodeid for item in items}
    UNKNOWN_EXCLUSIONS.extend(sorted(set(EXCLUDED) - seen))
    kept = [item for item in items if item.nodeid not in EXCLUDED]
    dropped = [item for item in items if item.nodeid in EXCLUDED]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = kept


def pytest_runtest_logreport(report):
    outcome = OUTCOMES.get(report.nodeid)
    if report.failed:
        OUTCOMES[report.nodeid] = "failed" if report.when == "call" else "error"
    elif report.skipped and outcome is None:
        OUTCOMES[report.nodeid] = "skipped"
    elif report.passed and report.when == "call" and outcome is None:
        OUTCOMES[report.nodeid] = "passed"


def pytest_sessionfinish(session, exitstatus):
    with open(os.environ["WINDLASS_MOTO_RESULTS"], "w") as f:
        json.dump(
            {
                "outcomes": OUTCOMES,
                "excluded": EXCLUDED,
                "unknown_exclusions": UNKNOWN_EXCLUSIONS,
                "restarts": SERVERS.restarts if SERVERS else 0,
            },
            f,
            indent=1,
        )
