#!/usr/bin/env python3
"""Builds the fuzz corpora in fuzz/corpus/<target>/ from conformance cases.

Usage: fuzz/seed.py [CASES_DIR...]
Defaults to ../shared/conformance/asl/cases and tests/conformance/cases.
Each corpus also gets the committed regression inputs of its target.
Paths, intrinsic calls and JSONata expressions are taken from the fields of
the definitions, with the case input as the rest of the file.
"""

import hashlib
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
TARGETS = ["parse", "path", "intrinsics", "jsonata", "simulate"]


def strings(value, key=""):
    """Yields (key, string) for every string in a JSON value."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from strings(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v, key)
    elif isinstance(value, str):
        yield key, value


def write(target, text):
    data = text.encode()
    name = hashlib.sha1(data).hexdigest()
    path = ROOT / "fuzz" / "corpus" / target / name
    path.write_bytes(data)


def main():
    dirs = [pathlib.Path(d) for d in sys.argv[1:]] or [
        ROOT.parent / "shared" / "conformance" / "asl" / "cases",
        ROOT / "tests" / "conformance" / "cases",
    ]
    for target in TARGETS:
        (ROOT / "fuzz" / "corpus" / target).mkdir(parents=True, exist_ok=True)
        for f in (ROOT / "fuzz" / "regressions" / target).glob("*"):
            write(target, f.read_text())
    for d in dirs:
        for f in sorted(d.glob("*.json")):
            case = json.loads(f.read_text())
            definition = case.get("definition")
            if not isinstance(definition, dict):
                continue
            payload = json.dumps(case.get("input") or {})
            text = json.dumps(definition, indent=1)
            write("parse", text)
            write("simulate", text + "\n@@input\n" + payload)
            for key, s in strings(definition):
                if "\n" in s:
                    continue
                if s.startswith("{%") and s.endswith("%}"):
                    write("jsonata", s + "\n" + payload)
                elif s.startswith("States."):
                    write("intrinsics", s + "\n" + payload)
                    if key.endswith(".$"):
                        write("path", "$\n" + payload)
                elif s.startswith("$") and (key.endswith(".$") or key.endswith("Path") or key == "Variable"):
                    write("path", s + "\n" + payload)
    for target in TARGETS:
        count = len(list((ROOT / "fuzz" / "corpus" / target).iterdir()))
        print(f"{target}: {count} inputs")


if __name__ == "__main__":
    main()
