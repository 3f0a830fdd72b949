"""Runs moto's own Step Functions tests against `windlass server`.

Usage: run.py --windlass BIN --cache DIR [PYTEST_ARGS...]

moto's source distribution on PyPI ships its tests. This downloads moto
MOTO_VERSION's (`pip download`, kept in DIR), unpacks its `moto` package and
`tests/test_stepfunctions` (with the Lambda helpers it imports), and runs them with pytest in moto's server mode
against a windlass server (see `windlass_plugin.py`; the moto package of the
same sdist runs the tests and the moto server beside windlass). The tests
`exclusions.txt` lists are left out, each with its reason.

Exit status 0 only if every test that ran passed (or was skipped by moto
itself in server mode) and every exclusion names a test that exists.
"""

import argparse
import json
import os
import subprocess
import sys
import tarfile
import time

MOTO_VERSION = "5.2.5"
HERE = os.path.dirname(os.path.abspath(__file__))


def sdist(cache):
    """The path of moto's source distribution, downloaded into `cache` once."""
    path = os.path.join(cache, f"moto-{MOTO_VERSION}.tar.gz")
    if not os.path.exists(path):
        os.makedirs(cache, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
             f"moto=={MOTO_VERSION}", "--no-binary", ":all:", "--no-deps", "-d", cache],
            check=True,
        )
    return path


def unpack(archive, cache):
    """Unpacks the moto package and the Step Functions tests; returns the tree's root."""
    root = os.path.join(cache, f"moto-{MOTO_VERSION}")
    done = os.path.join(root, ".unpacked")
    if os.path.exists(done):
        return root
    prefix = f"moto-{MOTO_VERSION}/"
    wanted = ("moto/", "tests/__init__.py", "tests/conftest.py", "tests/markers.py",
              "tests/test_stepfunctions/", "tests/test_awslambda/__init__.py",
              "tests/test_awslambda/utilities.py", "pyproject.toml")
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers()
                   if m.name.startswith(prefix) and m.name[len(prefix):].startswith(wanted)]
        tar.extractall(cache, members=members, filter="data")
    open(done, "w").close()
    return root


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windlass", required=True, help="the windlass binary")
    parser.add_argument("--cache", required=True, help="where the sdist is kept and unpacked")
    args, pytest_args = parser.parse_known_args()
    args.cache = os.path.abspath(args.cache)

    root = unpack(sdist(args.cache), args.cache)
    workdir = os.path.join(args.cache, "run")
    os.makedirs(workdir, exist_ok=True)
    results = os.path.join(workdir, "results.json")
    if os.path.exists(results):
        os.remove(results)
    env = dict(os.environ)
    env.update(
        PYTHONPATH=os.pathsep.join([root, HERE]),
        WINDLASS_BIN=os.path.abspath(args.windlass),
        WINDLASS_MOTO_EXCLUSIONS=os.path.join(HERE, "exclusions.txt"),
        WINDLASS_MOTO_RESULTS=results,
        WINDLASS_MOTO_WORKDIR=workdir,
        TEST_SERVER_MODE="true",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
    )
    for name in ("AWS_PROFILE", "AWS_REGION", "AWS_ENDPOINT_URL", "MOTO_TEST_ALLOW_AWS_REQUEST"):
        env.pop(name, None)
    began = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "windlass_plugin", "-p", "no:cacheprovider",
         "--color=no", "-q", "-rfE", "tests/test_stepfunctions", *pytest_args],
        cwd=root,
        env=env,
    )
    seconds = time.monotonic() - began
    if not os.path.exists(results):
        sys.exit("moto-stepfunctions: pytest wrote no results (see the output above)")
    with open(results) as f:
        report = json.load(f)

    outcomes = report["outcomes"]
    counts = {}
    for outcome in outcomes.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    bad = sorted(nodeid for nodeid, outcome in outcomes.items() if outcome in ("failed", "error"))
    print(
        f"moto {MOTO_VERSION} Step Functions tests against windlass: "
        f"{counts.get('passed', 0)} passed, {len(bad)} failed, "
        f"{counts.get('skipped', 0)} skipped by moto in server mode, "
        f"{len(report['excluded'])} excluded (exclusions.txt); "
        f"{report['restarts']} server restarts, {seconds:.0f} s"
    )
    for nodeid in bad:
        print(f"  not listed in exclusions.txt and {outcomes[nodeid]}: {nodeid}")
    for nodeid in report["unknown_exclusions"]:
        print(f"  exclusions.txt names a test that does not exist: {nodeid}")
    if bad or report["unknown_exclusions"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
