"""The peers of Benchmarks/failover on the real lab (issue 14): Debian's stock Pacemaker
started by `Cluster/lab up --pacemaker` on the lab's own Corosync, fencing a crashed host
through its ipmi_sim BMC with the stock fence_ipmilan, and the benchmark's readers of the
records it compares (Corosync's and Pacemaker's logs, the BMC's power log).

Run as root:  python3 -m pytest -v -s Tests/daemon/test_peers.py
"""
import importlib.machinery
import importlib.util
import os
import subprocess

import pytest

from test_daemon import REPO, lab

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")

BENCH = str(REPO / "Benchmarks/failover")


def failover_module():
    loader = importlib.machinery.SourceFileLoader("failover", BENCH)
    spec = importlib.util.spec_from_loader("failover", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_bad_arguments_are_clear_errors_and_start_nothing():
    for args, needle in ((["--only", "lifeboat,heartbeat"], "unknown system heartbeat"),
                         (["--reps", "0"], "at least 1"),
                         (["--only", "lifeboat", "--lifeboatd", "/nonexistent/lifeboatd"], "no /nonexistent/lifeboatd")):
        p = subprocess.run([BENCH, *args], capture_output=True, text=True, timeout=60)
        assert p.returncode != 0 and needle in p.stderr, (args, p.stdout, p.stderr)
    p = subprocess.run([str(REPO / "Cluster/lab"), "pacemaker", "host1", "start"], capture_output=True, text=True)
    assert p.returncode != 0, p.stdout


def test_stock_pacemaker_on_the_lab_fences_a_crashed_host_through_its_bmc():
    fo = failover_module()
    lab("down", check=False)
    try:
        lab("up", "--hosts", "3", "--pacemaker", timeout=600)
        dc = fo.wait(fo.pacemaker_ready, 120, "3 Pacemaker nodes online and a DC", 1)
        # Bad input: a command for a lab host that does not exist is refused.
        p = lab("pacemaker", "host9", "status", check=False)
        assert p.returncode != 0 and "host9" in p.stderr, p.stderr
        fo.configure_pacemaker(tuned=False, nova=False)
        fo.wait(lambda: all(f"ipmi-{h}" in lab("exec", dc, "stonith_admin", "--list-registered", check=False).stdout
                            for h in fo.HOSTS), 60, "the fence devices registered", 1)
        dc = fo.wait(fo.pacemaker_ready, 60, "a DC", 1)
        victim = "host3" if dc != "host3" else "host2"
        t0 = fo.crash(victim)
        ops = fo.wait(lambda: fo.pacemaker_ops(victim, t0).get(f"ipmi-{victim}"), 60, "fence_ipmilan to return 0", 0.5)
        confirmed, action = ops
        seen = fo.detection(victim, t0)
        off = fo.bmc_off(victim, t0)
        print(f"\nstock Pacemaker: loss seen {seen - t0:.2f} s, BMC off {off - t0:.2f} s, "
              f"fence_ipmilan ({action}) returned {confirmed - t0:.2f} s after the crash")
        # The BMC powered the host off after Corosync saw it leave, and before the fencer
        # reported success; stock's action is a reboot: the BMC powers it on again.
        assert t0 < seen < off <= confirmed + 0.5, (t0, seen, off, confirmed)
        fo.wait(lambda: any(w == "power on via BMC" and t > off for t, w in fo.power_log(victim)), 60,
                "the reboot's power-on")
        fo.wait(lambda: fo.pacemaker_ready() and f'name="{victim}"' in fo.crm_xml("host1"), 90, f"{victim} back online")
    finally:
        lab("down", check=False)
