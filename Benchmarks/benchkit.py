"""What every benchmark under Benchmarks/ needs alike: running a command (the lab's above
all), waiting for a condition, and reading CPU time from /proc. Imported by the scripts
beside it (`sys.path` gets this directory first), so that each says only what it measures.
"""
import os
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAB = str(REPO / "Cluster/lab")
LAB_DIR = Path(os.environ.get("LAB_DIR", "/run/lifeboat-lab"))
TICKS = os.sysconf("SC_CLK_TCK")


class Failed(SystemExit):
    """A step of a benchmark failed. Uncaught, it ends the script with its message and exit
    status 1, as `sys.exit(message)` would; a benchmark that can go on (another rep, another
    system) catches it."""


def run(*args, check=True, timeout=900, env=None, stdin=None):
    """Runs a command and returns its CompletedProcess (text); Failed when it exits non-zero
    and check is set."""
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout, env=env, input=stdin)
    if check and p.returncode != 0:
        raise Failed(f"{' '.join(map(str, args))} failed ({p.returncode}):\n{p.stdout}{p.stderr}")
    return p


def lab(*args, **kw):
    """`Cluster/lab ARGS`."""
    return run(LAB, *args, **kw)


def wait(pred, timeout, what, interval=0.1):
    """pred()'s first true value, asked every interval seconds; Failed after timeout."""
    start = time.time()
    while time.time() - start < timeout:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise Failed(f"timed out after {timeout} s waiting for {what}")


def stat_fields(pid):
    """The fields of /proc/PID/stat after the command's name (which may hold spaces): field
    14 of proc(5), utime, is [11]; or None when the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def cpu_ticks(pid):
    """CPU time the process has used (user + system), in clock ticks; None when it is gone."""
    f = stat_fields(pid)
    return int(f[11]) + int(f[12]) if f else None


def cpu_seconds(pid):
    """CPU time the process has used (user + system), in seconds; None when it is gone."""
    t = cpu_ticks(pid)
    return None if t is None else t / TICKS


def machine_ticks():
    """(busy, total) clock ticks of the whole machine since boot, all cores: busy is user,
    nice, system, irq and softirq; total adds idle, iowait and steal (time the hypervisor
    gave to someone else)."""
    f = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    return f[0] + f[1] + f[2] + f[5] + f[6], sum(f)
