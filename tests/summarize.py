#!/usr/bin/env python3
"""Prints 'N passed, N failed, N skipped' from meson's testlog.json files.

Each unit-test executable is one meson test, so the counts are taken from
doctest's own summary in each test's output when it has one (test cases),
and from the meson result otherwise (end-to-end tests are one case each).
"""
import json
import re
import sys

DOCTEST = re.compile(r"\[doctest\] test cases:\s*(\d+) \|\s*(\d+) passed \|\s*(\d+) failed \|\s*(\d+) skipped")

def main(paths):
    passed = failed = skipped = 0
    for path in paths:
        try:
            lines = open(path, encoding="utf-8").read().splitlines()
        except OSError as e:
            print(f"cannot read {path}: {e}", file=sys.stderr)
            failed += 1
            continue
        for line in lines:
            t = json.loads(line)
            result = t.get("result", "")
            m = DOCTEST.search(t.get("stdout", "") or "")
            if m and result in ("OK", "FAIL"):
                passed += int(m.group(2))
                failed += int(m.group(3))
                skipped += int(m.group(4))
                if result == "FAIL" and int(m.group(3)) == 0:
                    failed += 1  # crashed or failed outside a test case
            elif result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif result == "SKIP":
                skipped += 1
            else:
                failed += 1
    print(f"{passed} passed, {failed} failed, {skipped} skipped")

if __name__ == "__main__":
    main(sys.argv[1:])
