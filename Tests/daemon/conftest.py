"""Fixtures of the daemon suites."""
import os
import time
from pathlib import Path

import pytest
from labkit import poll

from novakit import HOSTS, config
from test_daemon import DAEMON, agreed, cli, lab, record


@pytest.fixture(scope="session")
def cloud():
    """lab up --nova once for every suite that needs Nova (it takes over a minute)."""
    assert Path(DAEMON).exists(), f"build lifeboatd first ({DAEMON})"
    lab("down", check=False)
    t0 = time.time()
    lab("up", "--hosts", "4", "--nova", "--lifeboatd", DAEMON, timeout=600)
    took = time.time() - t0
    print(f"\nlab up --nova with 4 hosts (OpenStack controller and 4 computes): {took:.1f} s")
    record("lab_up_nova_s", round(took, 1))
    poll(agreed(HOSTS, members=["node-1", "node-2", "node-3", "node-4"]), 30, "4 synced lifeboatd")
    cli("host1", "config", "apply", config())
    poll(agreed(HOSTS, members=HOSTS), 20, "configuration everywhere")
    yield
    if os.environ.get("LAB_KEEP") != "1":   # LAB_KEEP=1 leaves the lab up to look at
        lab("down", check=False)


