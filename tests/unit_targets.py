#!/usr/bin/env python3
"""Prints the ninja targets that the 'unit' test suite of a meson build dir
needs (the test executables and what they depend on), one per line, so a
sanitizer build can skip everything else."""
import json
import os
import subprocess
import sys

build = sys.argv[1]
intro = lambda what: json.loads(subprocess.run(["meson", "introspect", build, what],
                                               capture_output=True, text=True, check=True).stdout)
targets = {t["id"]: t for t in intro("--targets")}
wanted = set()
for test in intro("--tests"):
    if not any(s == "unit" or s.endswith(":unit") for s in test["suite"]):
        continue
    wanted.update(test.get("depends", []))
    # The command itself may be a built file (an executable test).
    for t in targets.values():
        if test["cmd"] and test["cmd"][0] in t["filename"]:
            wanted.add(t["id"])
for tid in sorted(wanted):
    if tid in targets:
        for f in targets[tid]["filename"]:
            print(os.path.relpath(f, os.path.abspath(build)))
