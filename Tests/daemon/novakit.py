"""The lab with a real OpenStack, shared by the suites that need it (Tests/daemon/conftest.py
starts it once per session): hosts, servers, Nova through the lifeboat CLI."""
import json
import re
import time
from pathlib import Path

from labkit import poll

from test_daemon import LAB_DIR, REPO, agreed, cli, lab

HOSTS = ["host1", "host2", "host3", "host4"]
CLOUDS = f"{LAB_DIR}/openstack/clouds.yaml"
STACK = str(REPO / "Cluster/openstack/labstack.py")


def vms():
    return {v["id"]: v for v in json.loads(lab("vms", "--format", "json").stdout)}


def boot(host, n, ha, libvirt=False, tag=None):
    """N servers ACTIVE on HOST. A host re-enabled a moment ago may still be skipped by
    Nova's scheduler (its provider's disabled trait is cleared asynchronously): servers
    that go to ERROR are booted again, a few times. Every server of a failed attempt is
    deleted first, the ACTIVE ones too: left behind, they would be one server more on HOST
    than the caller knows of (a drain once moved four where the test booted three)."""
    flags = (["--ha"] if ha else []) + (["--libvirt"] if libvirt else []) + ([f"--evacuable-{tag}"] if tag else [])
    start = time.time()
    while True:
        p = lab("vms", "boot", host, str(n), *flags, timeout=300, check=False)
        if p.returncode == 0:
            return [l for l in p.stdout.split() if len(l) == 36]
        # The trait is synced by the compute's periodic resource update (every 60 s).
        if "went to ERROR" not in p.stderr or time.time() - start > 120:
            raise AssertionError(f"vms boot {host} {n} failed:\n{p.stdout}\n{p.stderr}")
        for i in re.findall(r"'([0-9a-f-]{36})': '", p.stderr):
            lab("vms", "delete", i, check=False)
        time.sleep(5)


def nova(*args, cloud="lab", check=True, on="host4"):
    """`lifeboat nova ARGS` on a lab host (the hosts reach the cloud like compute hosts do)."""
    return cli(on, "nova", *args, "--cloud", cloud, "--clouds-yaml", CLOUDS, check=check, timeout=60)


def services():
    out = nova("services").stdout
    return {l.split()[0]: l for l in out.splitlines() if l.strip()}


def instances(on="host1"):
    shown = json.loads(cli(on, "config", "show").stdout)["cluster"]["instances"]
    return {i["id"]: i for i in shown}


def hosts_of(s):
    return {x["name"]: x for x in s["hosts"]}


def power_offs(host):
    log = Path(LAB_DIR, "hosts", host, "power.log")
    return log.read_text().count("power off via BMC") if log.exists() else 0


def restore():
    """Every host on and a member (a test that failed half-way may have left one off)."""
    for h in HOSTS:
        if lab("power", h, "status", check=False).stdout.strip().endswith("off"):
            lab("power", h, "on")
    return poll(agreed(HOSTS, members=HOSTS), 90, "all four members")


def config(policy=None):
    c = json.loads(lab("cluster-config", "--nova").stdout)
    c["segments"] = [{"name": "a", "recovery_method": "rh_priority"}, {"name": "b", "recovery_method": "auto"}]
    for h in c["hosts"]:
        h["segment"] = "b" if h["name"] == "host4" else "a"
        h["reserved"] = h["name"] == "host3"
    # The suites crash the same hosts several times within an hour: the flap guard (3 fences an
    # hour by default) is tested in the core and its own lab test, not here.
    c["policy"] = {"startup_fencing": False, "nova_retry_interval": 5, "storm_threshold": 1.0, "flap_limit": 20, **(policy or {})}
    path = Path(LAB_DIR, "nova-cluster.json")
    path.write_text(json.dumps(c, indent=1))
    return str(path)


