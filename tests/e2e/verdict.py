"""The e2e scripts' verdicts: exit 1 with what failed, 77 with why skipped
(meson's skip code), both on stdout where the test log keeps them."""
import os
import sys
import tempfile


def arg(i):
    """sys.argv[i], or "" when absent (`SCRIPT --list` has no other arguments)."""
    return sys.argv[i] if len(sys.argv) > i else ""


def serve(cases, kernel_dir):
    """An e2e script's entry. `SCRIPT --list` prints its case names, one per
    line: tests/e2e/meson.build registers one test per name, so the script's
    CASES dict is the one list. Otherwise runs the case named by argv[1] in
    a fresh directory, skipping without a fetched kernel."""
    if arg(1) == "--list":
        print("\n".join(cases))
        sys.exit(0)
    if not kernel_dir or not os.path.exists(os.path.join(kernel_dir, "vmlinux")):
        skip("no fetched kernel (run `ktest kernel fetch`, then configure -Dkernel_dir=...)")
    with tempfile.TemporaryDirectory(prefix="ktest-e2e-") as cwd:
        cases[arg(1)](cwd)
    print("ok")


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
