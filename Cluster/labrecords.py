"""Readers of the lab's own records, shared by Benchmarks/failover and `lab demo`: the
power log each BMC's chassis program writes, Corosync's hires log, and the ISO times of
Lifeboat's history."""
import re
from datetime import datetime
from pathlib import Path


def log_time(stamp, year):
    """Corosync's and Pacemaker's `Dec 04 04:30:01.123` (the lab runs in UTC)."""
    return datetime.strptime(f"{year} {stamp}", "%Y %b %d %H:%M:%S.%f").timestamp()


def iso(t):
    """A time of Lifeboat's history (`2026-12-04T05:17:34.945Z`) as an epoch."""
    return datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()


def power_log(lab_dir, host):
    """[(epoch, what)] from the lab's power log of HOST (the BMC's flips and crashes)."""
    out = []
    for line in (Path(lab_dir) / "hosts" / host / "power.log").read_text().splitlines():
        m = re.search(r"@(\d+\.\d+) (.*)$", line)
        if m:
            out.append((float(m.group(1)), m.group(2)))
    return out


def loss_seen(lab_dir, victim, survivors, after):
    """The first time after AFTER that a survivor's Corosync formed a membership without
    VICTIM (its "Members left" line), or None."""
    nodeid = int(victim.removeprefix("host"))
    year = datetime.now().year
    times = []
    for h in survivors:
        text = (Path(lab_dir) / "hosts" / h / "var/log/corosync/corosync.log").read_text(errors="replace")
        for line in text.splitlines():
            m = re.match(r"(\w{3} \d{2} \d{2}:\d{2}:\d{2}\.\d{3}) .*Members left: ([\d ]+)$", line)
            if m and nodeid in [int(x) for x in m.group(2).split()]:
                t = log_time(m.group(1), year)
                if t > after:
                    times.append(t)
    return min(times) if times else None
