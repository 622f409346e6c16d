"""Tests proving the Lifeboat lab (Cluster/lab) is real.

Run as root:  python3 -m pytest -v Tests/lab
Every wait polls observed state with a timeout; there are no fixed sleeps.
"""
import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from labkit import poll

REPO = Path(__file__).resolve().parents[2]
LAB = str(REPO / "Cluster" / "lab")
LAB_DIR = os.environ.get("LAB_DIR", "/run/lifeboat-lab")
PREFIX = os.environ.get("LAB_PREFIX", "lblab")
HOSTS = ["host1", "host2", "host3"]

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")


def lab(*args, check=True, timeout=120):
    """Run Cluster/lab; return the CompletedProcess."""
    proc = subprocess.run([LAB, *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"lab {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def status():
    """Hosts by name, from `lab status --format json`."""
    out = lab("status", "--format", "json").stdout
    return {h["name"]: h for h in json.loads(out)["hosts"]}


def members_are(expected):
    """Predicate: exactly `expected` are members and quorate, the rest neither."""
    def check():
        st = status()
        ok = all(st[h]["member"] == (h in expected) and st[h]["quorate"] == (h in expected)
                 for h in HOSTS)
        return st if ok else False
    return check


def host_pids(host):
    out = subprocess.run(["ip", "netns", "pids", f"{PREFIX}-{host}"],
                         capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def proc_stat(pid):
    """(state, start time) of pid from /proc/pid/stat, or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()   # after "pid (comm)"
    except (FileNotFoundError, ProcessLookupError):
        return None
    return fields[0], fields[19]


def alive(pid, start=None):
    """pid runs: it exists and is not a zombie (killed lab processes may stay zombies
    for a while, this VM's PID 1 reaps lazily); with `start`, it must also still be the
    process that started then, not a later one that reused the PID."""
    st = proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X") and (start is None or st[1] == start)


@pytest.fixture(scope="session")
def the_lab():
    lab("down")
    up = lab("up", timeout=180)
    print(up.stdout)
    yield
    lab("down")


@pytest.fixture
def healthy(the_lab):
    """Every test starts (and leaves things, if it can) with 3 quorate members."""
    poll(members_are(set(HOSTS)), 30, "3 quorate members before the test")
    yield
    lab("heal")
    for h in HOSTS:
        if lab("power", h, "status", check=False).stdout.strip().endswith("off"):
            lab("power", h, "on")


def test_three_hosts_become_quorate(healthy):
    st = status()
    for i, h in enumerate(HOSTS, start=1):
        assert st[h]["power"] == "on"
        assert st[h]["member"] and st[h]["quorate"]
        assert st[h]["node_id"] == i
        assert st[h]["address"] == f"192.168.240.{10 + i}"
        assert st[h]["bmc"] == f"192.168.240.{110 + i}"


def test_up_is_idempotent(healthy):
    out = lab("up").stdout
    assert "already running" in out


def test_exec_reaches_the_hosts_own_corosync(healthy):
    out = lab("exec", "host2", "corosync-quorumtool", "-s").stdout
    assert "Quorate:          Yes" in out
    assert any(line.split()[:1] == ["2"] and "(local)" in line for line in out.splitlines())
    addrs = lab("exec", "host2", "ip", "-o", "-4", "addr", "show", "dev", "eth0").stdout
    assert "192.168.240.12/24" in addrs


def test_knet_crypto_is_on_and_a_host_with_another_key_cannot_join(healthy):
    """Corosync runs with aes256/sha256 and one shared key (mode 0400); a host whose key
    differs is not let in (so the crypto is really in force), and joins again with the
    cluster's key."""
    import hashlib
    import stat
    for h in HOSTS:
        cmap = lab("exec", h, "corosync-cmapctl", "-g", "totem.crypto_cipher").stdout
        assert "aes256" in cmap, cmap
        assert "sha256" in lab("exec", h, "corosync-cmapctl", "-g", "totem.crypto_hash").stdout
    keys = [Path(LAB_DIR, "hosts", h, "etc/corosync/authkey") for h in HOSTS]
    assert all(stat.S_IMODE(k.stat().st_mode) == 0o400 and k.stat().st_uid == 0 for k in keys)
    assert len({hashlib.sha256(k.read_bytes()).hexdigest() for k in keys}) == 1
    key = keys[2]
    cluster_key = key.read_bytes()
    lab("power", "host3", "off")
    poll(members_are({"host1", "host2"}), 15, "host3 off")
    try:
        key.chmod(0o600)
        key.write_bytes(os.urandom(256))
        key.chmod(0o400)
        lab("power", "host3", "on")
        # Its corosync runs, but it hears nobody: alone, not quorate; the others go on.
        poll(lambda: "Quorate:          No" in lab("exec", "host3", "corosync-quorumtool", "-s", check=False).stdout,
             30, "host3's corosync up, alone")
        time.sleep(5)
        st = status()
        assert not st["host3"]["member"] and st["host1"]["member"] and st["host2"]["member"], st
        assert "Total votes:      1" in lab("exec", "host3", "corosync-quorumtool", "-s", check=False).stdout
    finally:
        lab("power", "host3", "off", check=False)
        key.chmod(0o600)
        key.write_bytes(cluster_key)
        key.chmod(0o400)
        lab("power", "host3", "on")
    poll(members_are(set(HOSTS)), 30, "host3 back with the cluster's key")


def test_crash_is_detected_by_survivors_within_5s(healthy):
    start = time.monotonic()
    lab("crash", "host3")
    st, _ = poll(members_are({"host1", "host2"}), 10, "survivors to drop host3")
    detected = time.monotonic() - start
    print(f"\ncrash of host3 detected by the survivors in {detected:.2f}s")
    assert detected < 5.0
    assert host_pids("host3") == []
    assert st["host3"]["power"] == "off"   # documented: crash = power loss
    lab("power", "host3", "on")
    _, rejoin = poll(members_are(set(HOSTS)), 30, "host3 to rejoin after power on")
    print(f"host3 back in the membership {rejoin:.2f}s after BMC power on")


def test_bmc_power_off_kills_host_and_power_on_brings_it_back(healthy):
    before = host_pids("host2")
    assert before, "host2 should have processes (corosync)"
    start = time.monotonic()
    out = lab("power", "host2", "off").stdout      # ipmipower --off over IPMI 2.0
    assert "ok" in out
    poll(lambda: not any(alive(p) for p in before), 5, "host2's processes to die")
    assert host_pids("host2") == []
    st, _ = poll(members_are({"host1", "host3"}), 10, "survivors to drop host2")
    print(f"\nBMC power off of host2 -> survivors dropped it in {time.monotonic() - start:.2f}s")
    assert st["host2"]["power"] == "off"
    assert lab("power", "host2", "status").stdout.strip() == "host2: off"

    lab("power", "host2", "on")
    st, rejoin = poll(members_are(set(HOSTS)), 30, "host2 to rejoin after power on")
    print(f"host2 back in the membership {rejoin:.2f}s after BMC power on")
    assert st["host2"]["power"] == "on"
    assert host_pids("host2")


def test_a_chassis_set_of_several_items_powers_off_as_a_set_of_power_alone(healthy):
    """ipmi_sim calls the generated chassis program, which answers a lone `set power 0`
    itself and hands every other op to `lab _chassis`: a set of several items must power
    off the same way (logged, the host's processes killed) and a power-on boot it again."""
    log = Path(LAB_DIR, "hosts", "host2", "power.log")
    lines = len(log.read_text().splitlines()) if log.exists() else 0
    before = host_pids("host2")
    assert before
    lab("_chassis", "host2", "set", "bootdev", "1", "power", "0")
    poll(lambda: not any(alive(p) for p in before), 5, "host2's processes to die")
    new = poll(lambda: (l := log.read_text().splitlines()[lines:]) and "processes gone" in l[-1] and l, 5,
               "the power log's line for the kill")[0]
    assert [l.split(" ", 3)[3] for l in new] == ["power off via BMC", "processes gone"], new
    assert lab("power", "host2", "status").stdout.strip() == "host2: off"
    poll(members_are({"host1", "host3"}), 10, "survivors to drop host2")
    lab("power", "host2", "on")
    poll(members_are(set(HOSTS)), 30, "host2 to rejoin after power on")


@pytest.mark.parametrize("mode", ["down", "drop", "cluster"])
def test_partition_one_of_three_and_heal(healthy, mode):
    start = time.monotonic()
    lab("partition", "--mode", mode, "host1")

    def split():
        st = status()
        ok = (not st["host1"]["quorate"] and not st["host1"]["member"]
              and all(st[h]["quorate"] and st[h]["member"] for h in ("host2", "host3")))
        return st if ok else False

    st, _ = poll(split, 10, f"partition ({mode}) to take effect")
    print(f"\npartition ({mode}) of host1 seen in {time.monotonic() - start:.2f}s")
    assert st["host1"]["partition"] == mode
    assert st["host1"]["power"] == "on"   # still running, just cut off
    # host1's own corosync sees itself alone and inquorate.
    q = lab("exec", "host1", "corosync-quorumtool", "-s", check=False).stdout
    assert "Quorate:          No" in q
    if mode == "cluster":
        # Only cluster traffic is cut: host1 still reaches a BMC (here host2's) with FreeIPMI.
        pw = Path(LAB_DIR, "hosts", "host2", "bmc", "password")
        r = lab("exec", "host1", "ipmipower", "-D", "LAN_2_0", "-W", "opensesspriv", "-h", "192.168.240.112",
                "-u", "admin", "-p", pw.read_text().strip(), "--stat", check=False)
        assert "on" in r.stdout, r.stdout + r.stderr

    start = time.monotonic()
    lab("heal")
    poll(members_are(set(HOSTS)), 15, f"heal after partition ({mode})")
    print(f"heal after partition ({mode}) merged 3 members in {time.monotonic() - start:.2f}s")


def test_sol_console_line_is_readable_through_the_bmc(healthy):
    token = f"lifeboat-console-{uuid.uuid4().hex[:8]}"
    lab("console", "host2", f"boot message {token}")
    out, _ = poll(lambda: (lambda o: o if token in o else False)(
        lab("sol", "host2", check=False).stdout), 20, "the console line in the SOL history")
    assert "<End Of History>" in out
    # Other hosts' consoles are separate.
    assert token not in lab("sol", "host1", check=False).stdout


def test_bmc_down_and_up(healthy):
    lab("bmc-down", "host1")
    assert lab("power", "host1", "status", check=False).returncode != 0
    assert status()["host1"]["power"] == "unknown"
    lab("bmc-up", "host1")
    assert lab("power", "host1", "status").stdout.strip() == "host1: on"


def test_bmc_verb_prints_credentials(the_lab):
    out = lab("bmc", "host3").stdout
    assert "192.168.240.113" in out and "623" in out and "admin" in out
    cred = next(l.split()[-1] for l in out.splitlines() if l.startswith("credentials_file:"))
    assert Path(cred).is_file()


def test_logs_verb(the_lab):
    assert "corosync" in lab("logs", "host1").stdout.lower()


@pytest.mark.parametrize("args,message", [
    (["frobnicate"], "unknown verb"),
    (["crash", "host9"], "unknown host"),
    (["exec", "nosuchhost", "true"], "unknown host"),
    (["power", "host1", "sideways"], "expected on, off or status"),
    (["partition", "--mode", "bogus", "host1"], "--mode must be down, drop or cluster"),
])
def test_bad_usage_fails_clearly(the_lab, args, message):
    proc = lab(*args, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr


def test_every_verb_has_help():
    for verb in ["up", "down", "status", "exec", "crash", "partition", "heal", "bmc",
                 "bmc-down", "bmc-up", "power", "console", "sol", "logs", "lifeboatd", "corosync"]:
        proc = lab(verb, "--help")
        assert "Usage:" in proc.stdout, verb


def test_zz_down_leaves_nothing_behind(the_lab):
    namespaces = [l.split()[0] for l in subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True).stdout.splitlines()
        if l.startswith(PREFIX + "-")]
    assert namespaces
    pids = {}   # pid -> start time, so a PID reused after down is not taken for ours
    for ns in namespaces:
        out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
        for p in map(int, out.split()):
            st = proc_stat(p)
            if st:
                pids[p] = st[1]
    assert pids

    lab("down")

    # Every process that was in the lab (including ones still tearing down after
    # leaving their namespace, like an exiting tail -F) must be gone: only zombies
    # may be left.
    assert not [p for p, start in pids.items() if alive(p, start)]
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert PREFIX + "-" not in left
    assert not os.path.exists(LAB_DIR)
    shm = [f for f in os.listdir("/dev/shm") if f.startswith("qb-")
           and any(str(p) in f.split("-") for p in pids)]
    assert shm == []
    # Nothing of ours is running any more, anywhere.
    ps = subprocess.run(["ps", "-eo", "stat=,args="], capture_output=True, text=True).stdout
    ours = [l for l in ps.splitlines() if not l.startswith("Z")
            and (LAB_DIR in l or "lab _bmc" in l or "lab _boot" in l)]
    assert ours == []
