"""The e2e scripts' verdicts: exit 1 with what failed, 77 with why skipped
(meson's skip code), both on stdout where the test log keeps them."""
import sys


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(77)


def check(cond, what, output=""):
    if not cond:
        print(f"FAIL: {what}")
        if output:
            print("---- output ----")
            print(output[-8000:])
        sys.exit(1)
