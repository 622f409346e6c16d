"""Fixtures of the daemon suites."""
import os
import time
from pathlib import Path

import pytest
from labkit import poll

from novakit import HOSTS, config
from test_daemon import DAEMON, LAB_DIR, agreed, cli, lab, record


def nova_lab_is_up():
    """The lab is the 4-host Nova lab this session brought up (another suite may have
    replaced it with a lab of its own since)."""
    env = Path(LAB_DIR, "lab.env")
    text = env.read_text() if env.exists() else ""
    return _state["up"] and "LAB_NOVA=1" in text and "LAB_NOVA_PROXY=1" in text and "LAB_HOSTS=4" in text


_state = {"up": False}


@pytest.fixture(scope="module")
def cloud():
    """lab up --nova-proxy once for the suites that need Nova (it takes over a minute), shared
    by consecutive modules; brought up again if another suite's lab replaced it. Every
    request to Nova goes through the lab's fault proxy (passing them all unless a test says
    otherwise with `lab nova-fault`)."""
    assert Path(DAEMON).exists(), f"build lifeboatd first ({DAEMON})"
    env = Path(LAB_DIR, "lab.env")
    if os.environ.get("LAB_REUSE") == "1" and env.exists() and "LAB_NOVA=1" in env.read_text():
        _state["up"] = True   # LAB_REUSE=1: a Nova lab left up by LAB_KEEP=1 (while working on a suite)
    if not nova_lab_is_up():
        lab("down", check=False)
        t0 = time.time()
        lab("up", "--hosts", "4", "--nova-proxy", "--lifeboatd", DAEMON, timeout=600)
        took = time.time() - t0
        print(f"\nlab up --nova with 4 hosts (OpenStack controller and 4 computes): {took:.1f} s")
        record("lab_up_nova_s", round(took, 1))
        poll(agreed(HOSTS, members=["host1", "host2", "host3", "host4"]), 30, "4 synced lifeboatd")
        cli("host1", "config", "apply", config())
        poll(agreed(HOSTS, members=HOSTS), 20, "configuration everywhere")
        _state["up"] = True
    yield


@pytest.fixture(scope="session", autouse=True)
def lab_down_at_the_end():
    yield
    if _state["up"] and os.environ.get("LAB_KEEP") != "1":   # LAB_KEEP=1 leaves the lab up to look at
        lab("down", check=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed lab test keeps the lab's own records (every host's lifeboatd, corosync,
    nova-compute and power logs, the controller's logs) under .build/failed-tests/TEST:
    the lab goes down before anyone can look, and CI prints only the assertion."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed or not Path(LAB_DIR).exists():
        return
    import shutil
    dest = Path(__file__).resolve().parents[2] / ".build" / "failed-tests" / item.name
    shutil.rmtree(dest, ignore_errors=True)
    for host in sorted(Path(LAB_DIR, "hosts").glob("host*")):
        for rel in ("lifeboatd.log", "nova-compute.log", "power.log", "boot.log", "var/log/corosync/corosync.log"):
            if (host / rel).exists():
                (dest / host.name).mkdir(parents=True, exist_ok=True)
                shutil.copy(host / rel, dest / host.name / Path(rel).name)
    if Path(LAB_DIR, "openstack").exists():
        for log in Path(LAB_DIR, "openstack").rglob("*.log"):
            target = dest / "openstack" / log.relative_to(Path(LAB_DIR, "openstack"))
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(log, target)
    # The lifeboatd logs' last lines, where CI's output shows them.
    for log in sorted(dest.glob("host*/lifeboatd.log")):
        tail = log.read_text(errors="replace").splitlines()[-25:]
        report.sections.append((f"{log.parent.name} lifeboatd.log (last 25 lines)", "\n".join(tail)))
    report.sections.append(("lab records", f"kept in {dest}"))
