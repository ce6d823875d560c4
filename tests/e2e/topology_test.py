#!/usr/bin/env python3
"""End to end: vm.topology and vm.numa as the guest kernel sees them.

usage: topology_test.py CASE KTEST SOURCE_ROOT KERNEL_DIR
The scenario (tests/e2e/scenarios/topology_numa.yaml) asks for 8 vCPUs as
2 sockets x 2 cores x 2 threads in 2 NUMA nodes of 192M; its Run step
prints sysfs topology, LLC (cache index3) and node files, and this test
compares them exactly. Exits 0 on success, 1 on failure, 77 when the
kernel is missing.
"""
import json
import os

# run_test.py reads the same argv; its main() only runs as a script.
from run_test import CASE, KERNEL_DIR, ROOT, check, run, serve, skip

SCENARIO = os.path.join(ROOT, "tests", "e2e", "scenarios", "topology_numa.yaml")


# cpu = (socket * 2 + core) * 2 + thread: QEMU numbers threads innermost.
EXPECTED_CPUS = [
    f"cpu{c} package={c // 4} core={(c // 2) % 2} threads={c & ~1}-{c | 1} "
    f"cores={4 * (c // 4)}-{4 * (c // 4) + 3} l3={4 * (c // 4)}-{4 * (c // 4) + 3}"
    for c in range(8)
]
NODE_MIB = 192


def case_numa(cwd):
    rc, out, secs = run(SCENARIO, "--cpu-model", "qemu64", cwd=cwd)
    print(f"8 vCPUs, q35, TCG: {secs:.1f}s")
    check(rc == 0, f"the scenario passes (exit {rc})", out)
    with open(os.path.join(cwd, "ktest-runs", "latest", "results.json")) as f:
        res = json.load(f)["scenarios"][0]
    vm = res["vm"]
    check(vm["machine"] == "q35", f"NUMA boots on q35, not {vm['machine']}", out)
    check(vm["cpus"] == 8 and vm["numa_nodes"] == 2, "the report shows 8 cpus in 2 nodes", json.dumps(vm))
    check(vm["topology"] == "2 sockets x 2 cores x 2 threads", "the report shows the topology", json.dumps(vm))
    check(vm["cpu_model"] == "qemu64" and vm["cpu_model_source"] == "--cpu-model",
          "the report shows the model and where it came from", json.dumps(vm))
    check(vm["accel"] in ("tcg", "kvm"), "the report shows the accelerator", json.dumps(vm))
    with open(res["steps"][0]["output_file"]) as f:
        lines = f.read().splitlines()
    cpu_lines = [l for l in lines if l.startswith("cpu")]
    node_lines = [l for l in lines if l.startswith("node")]
    check(cpu_lines == EXPECTED_CPUS, "topology and LLC per cpu",
          "\n".join(["want:"] + EXPECTED_CPUS + ["got:"] + cpu_lines))
    check(len(node_lines) == 2, "two NUMA nodes", "\n".join(lines))
    for n, line in enumerate(node_lines):
        name, cpus, mem = line.split()
        check(name == f"node{n}" and cpus == f"cpus={4 * n}-{4 * n + 3}", f"node {n}'s cpulist", line)
        kb = int(mem.split("=")[1])
        # MemTotal is the node's RAM less what firmware and the kernel
        # reserve (more on node 0): between half and all of 192M.
        check(NODE_MIB * 1024 // 2 < kb <= NODE_MIB * 1024, f"node {n} holds its 192M", line)
    check(all(a["outcome"] == "passed" for a in res["assertions"]), "nr_cpus == 8 holds", out)


def case_contradiction(cwd):
    rc, out, _ = run(SCENARIO, "--cpus", "4", cwd=cwd)
    check(rc != 0, "--cpus 4 against an 8-cpu topology fails", out)
    check("contradicts the scenario's vm.topology" in out and "topology_numa.yaml:6:" in out,
          "the error names the scenario's topology key", out)


CASES = {"numa": case_numa, "contradiction": case_contradiction}



if __name__ == "__main__":
    serve(CASES, KERNEL_DIR)
