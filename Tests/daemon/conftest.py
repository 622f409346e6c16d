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
    return _state["up"] and env.exists() and "LAB_NOVA=1" in env.read_text() and "LAB_HOSTS=4" in env.read_text()


_state = {"up": False}


@pytest.fixture(scope="module")
def cloud():
    """lab up --nova once for the suites that need Nova (it takes over a minute), shared by
    consecutive modules; brought up again if another suite's lab replaced it."""
    assert Path(DAEMON).exists(), f"build lifeboatd first ({DAEMON})"
    env = Path(LAB_DIR, "lab.env")
    if os.environ.get("LAB_REUSE") == "1" and env.exists() and "LAB_NOVA=1" in env.read_text():
        _state["up"] = True   # LAB_REUSE=1: a Nova lab left up by LAB_KEEP=1 (while working on a suite)
    if not nova_lab_is_up():
        lab("down", check=False)
        t0 = time.time()
        lab("up", "--hosts", "4", "--nova", "--lifeboatd", DAEMON, timeout=600)
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
