"""Issue 11 on the Nova lab: Lifeboat's Masakari-compatible API driven by the stock clients
(python-masakariclient through `openstack`, masakari-monitors' notifier) with the lab's real
Keystone; the API is found in Keystone's catalog as `instance-ha` (served by host1's
lifeboatd; every lifeboatd serves it).

Run as root:  python3 -m pytest -v -s Tests/daemon/test_nova_api.py
Segments of the lab configuration: "a" = host1, host2, host3 (reserved); "b" = host4.
"""
import datetime
import json
import os
import time
from pathlib import Path

import pytest
from labkit import poll

from test_daemon import LAB_DIR, REPO, agreed, cli, lab, record, run, status
from novakit import CLOUDS, HOSTS, STACK, boot, config, instances, power_offs, restore, vms

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")

VENV = "/opt/lifeboat-openstack/bin"
APICALL = str(REPO / "Tests/support/apicall.py")
API = "http://192.168.240.11:15868"


def osc(*args, cloud="lab", check=True, json_out=True, on="host4", extra=()):
    """The stock `openstack` CLI (with python-masakariclient) on a lab host."""
    cmd = ["exec", on, "env", f"OS_CLIENT_CONFIG_FILE={CLOUDS}", f"{VENV}/openstack", "--os-cloud", cloud, *extra, *args]
    if json_out:
        cmd += ["-f", "json"]
    p = lab(*cmd, check=False, timeout=180)
    if check and p.returncode != 0:
        raise AssertionError(f"openstack {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    if not check:
        return p
    return json.loads(p.stdout) if json_out and p.stdout.strip() else p


def http(method, path, token=None, body=None, version="1.3", on="host4"):
    args = ["exec", on, "python3", APICALL, method, API + path]
    if token:
        args += ["--token", token]
    if version:
        args += ["--version", version]
    if body is not None:
        args += ["--body", json.dumps(body)]
    return json.loads(lab(*args, timeout=60).stdout)


def token(cloud="lab", extra=()):
    return osc("token", "issue", cloud=cloud, extra=extra)["id"]


@pytest.fixture(scope="module")
def api(cloud):
    restore()
    yield
    # Back to the lab's configuration for the suites that follow.
    restore()
    cli("host1", "config", "apply", config())
    poll(agreed(HOSTS, members=HOSTS), 60, "configuration everywhere")


def test_segments_with_the_stock_openstack_cli_found_in_the_keystone_catalog(api):
    listed = {s["name"]: s for s in osc("segment", "list")}
    assert {"a", "b"} <= set(listed), listed
    assert listed["a"]["recovery_method"] == "rh_priority" and listed["a"]["service_type"] == "COMPUTE"
    created = osc("segment", "create", "api-x", "auto", "COMPUTE", "--description", "first")
    assert created["name"] == "api-x" and created["description"] == "first" and created["is_enabled"] is True, created
    assert created["uuid"] and created["id"] > 0 and created["created_at"]
    shown = osc("segment", "show", "api-x")
    assert shown["uuid"] == created["uuid"]
    updated = osc("segment", "update", "api-x", "--description", "d1", "--is_enabled", "False")
    assert updated["description"] == "d1" and updated["is_enabled"] is False, updated
    # Replicated configuration: every node's lifeboatd has it, the CLI too.
    for h in HOSTS:
        seg = {s["name"]: s for s in json.loads(cli(h, "config", "show").stdout)["cluster"]["segments"]}["api-x"]
        assert seg["uuid"] == created["uuid"] and seg["enabled"] is False
    for n in range(4):
        osc("segment", "create", f"api-p{n}", "auto" if n % 2 == 0 else "reserved_host", "COMPUTE", json_out=False)
    # Pagination past one page: the client follows the integer-id markers.
    paged = [s["name"] for s in osc("segment", "list", "--limit", "1", "--sort", "name:asc")]
    assert paged == sorted(paged) and {"a", "b", "api-x", "api-p0", "api-p3"} <= set(paged), paged
    auto = [s["name"] for s in osc("segment", "list", "--sort", "name:asc", "--filters", "recovery_method=auto;service_type=COMPUTE")]
    assert auto == ["api-p0", "api-p2", "api-x", "b"], auto
    # Errors: a duplicate name 409, a bad body 400 (the server names the field).
    dup = osc("segment", "create", "api-x", "auto", "COMPUTE", check=False)
    assert dup.returncode != 0 and "409" in dup.stderr and "already exists" in dup.stderr, dup.stderr
    # (The CLI checks the recovery method itself; a name over 255 characters reaches the server.)
    bad = osc("segment", "create", "y" * 300, "auto", "COMPUTE", check=False)
    assert bad.returncode != 0 and "400" in bad.stderr and "name" in bad.stderr, bad.stderr
    for n in range(4):
        osc("segment", "delete", f"api-p{n}", json_out=False)
    assert "api-p0" not in {s["name"] for s in osc("segment", "list")}


def test_hosts_move_between_segments_with_the_cli_and_unknown_hosts_are_refused(api):
    seg = {s["name"]: s for s in osc("segment", "list")}
    if "api-x" not in seg:
        osc("segment", "create", "api-x", "auto", "COMPUTE", json_out=False)
    hosts_b = {h["name"]: h for h in osc("segment", "host", "list", "b")}
    assert set(hosts_b) == {"host4"}, hosts_b
    assert hosts_b["host4"]["failover_segment_id"] == seg["b"]["uuid"]
    unknown = osc("segment", "host", "create", "no-such-host", "COMPUTE", "SSH", "api-x", check=False)
    assert unknown.returncode != 0 and "400" in unknown.stderr and "not a node of this Lifeboat cluster" in unknown.stderr, unknown.stderr
    taken = osc("segment", "host", "create", "host4", "COMPUTE", "SSH", "api-x", check=False)
    assert taken.returncode != 0 and "409" in taken.stderr, taken.stderr
    osc("segment", "host", "delete", "b", "host4", json_out=False)
    assert osc("segment", "host", "list", "b") == []
    assert "host4" not in {h["name"] for h in json.loads(cli("host1", "config", "show").stdout)["cluster"]["hosts"]}
    moved = osc("segment", "host", "create", "host4", "COMPUTE", "SSH", "api-x", "--reserved", "True")
    assert moved["name"] == "host4" and moved["reserved"] is True and moved["control_attributes"] == "SSH", moved
    # Lifeboat's view: host4 is in segment api-x, a member again (its lifeboatd never stopped).
    poll(lambda: (s := status("host1")) and {h["name"]: h for h in s["hosts"]}["host4"]["segment"] == "api-x"
         and {h["name"]: h for h in s["hosts"]}["host4"]["member"], 30, "host4 a member of api-x")
    shown = osc("segment", "host", "show", "api-x", "host4")
    assert shown["uuid"] == moved["uuid"]
    m = osc("segment", "host", "update", "api-x", "host4", "--on_maintenance", "True")
    assert m["on_maintenance"] is True
    assert {h["name"]: h for h in status("host2")["hosts"]}["host4"]["maintenance"] is True
    osc("segment", "host", "update", "api-x", "host4", "--on_maintenance", "False", json_out=False)
    on = [h["name"] for h in osc("segment", "host", "list", "api-x", "--filters", "on_maintenance=False;reserved=True")]
    assert on == ["host4"], on
    osc("segment", "host", "delete", "api-x", "host4", json_out=False)
    back = osc("segment", "host", "create", "host4", "COMPUTE", "SSH", "b")
    assert back["failover_segment_id"] == seg["b"]["uuid"]
    osc("segment", "delete", "api-x", json_out=False)
    poll(lambda: (s := status("host1")) and {h["name"]: h for h in s["hosts"]}["host4"]["member"], 30, "host4 back in b")


def test_auth_no_token_401_non_admin_403_revoked_401_reader_credential_cannot_write(api):
    assert http("GET", "/v1/segments")["status"] == 401
    admin = token()
    ok = http("GET", "/v1/segments", token=admin)
    assert ok["status"] == 200 and ok["headers"]["OpenStack-API-Version"] == "instance-ha 1.3"
    project = osc("token", "issue")["project_id"]
    assert http("GET", f"/v1/{project}/segments", token=admin)["status"] == 200
    assert http("GET", "/v1/0123456789abcdef/segments", token=admin)["status"] == 400
    bad_version = http("GET", "/v1/segments", token=admin, version="1.7")
    assert bad_version["status"] == 406 and bad_version["body"]["masakariFault"]["code"] == 406, bad_version
    # A token revoked before its first use (Keystone answers 404 for it): 401.
    revoked = token()
    osc("token", "revoke", revoked, json_out=False)
    r = http("GET", "/v1/segments", token=revoked)
    assert r["status"] == 401 and "not valid" in r["body"]["unauthorized"]["message"], r
    # A user with only the member role: 403 (Masakari's policy: admin for reads and writes).
    osc("user", "create", "--domain", "Default", "--password", "lab-member-pw", "--or-show", "ha-member", json_out=False)
    osc("role", "add", "--project", "admin", "--user", "ha-member", "member", json_out=False)
    member = token(extra=("--os-username", "ha-member", "--os-password", "lab-member-pw"))
    r = http("GET", "/v1/segments", token=member)
    assert r["status"] == 403 and "Policy doesn't allow" in r["body"]["forbidden"]["message"], r
    # An application credential limited to the reader role cannot write (nor read).
    run([STACK, "app-credential", "lab-ha-reader", "--reader"])
    before = osc("segment", "list")
    w = osc("segment", "create", "reader-seg", "auto", "COMPUTE", cloud="lab-ha-reader", check=False)
    assert w.returncode != 0 and "403" in w.stderr, w.stderr
    assert osc("segment", "list") == before


def test_auth_an_expired_token_is_401_even_after_it_was_cached(api):
    """A token is cached until it expires, never past it. An application credential that
    expires in 25 s gives tokens that Keystone caps at that time: one works (and is cached,
    for up to 300 s otherwise), then, once past its expiry, the same token is 401 for reads
    and writes, and nothing was written."""
    run([STACK, "app-credential", "lab-ha-short", "--expires-in", "25"])
    issued = osc("token", "issue", cloud="lab-ha-short")
    expires = datetime.datetime.fromisoformat(issued["expires"].replace("Z", "+00:00"))
    left = (expires - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    assert 0 < left <= 26, f"Keystone did not cap the token at the credential's expiry: {issued['expires']} ({left:.0f} s left)"
    ok = http("GET", "/v1/segments", token=issued["id"])
    assert ok["status"] == 200, ok
    time.sleep(max(0.0, left) + 2)
    r = http("GET", "/v1/segments", token=issued["id"])
    assert r["status"] == 401 and "not valid" in r["body"]["unauthorized"]["message"], r
    w = http("POST", "/v1/segments", token=issued["id"], body={"segment": {"name": "late", "recovery_method": "auto", "service_type": "COMPUTE"}})
    assert w["status"] == 401, w
    assert "late" not in [s["name"] for s in osc("segment", "list")]


def monitor_notify(hostname, conf_dir):
    """masakari-monitors' own notifier (masakarimonitors.ha.masakari.SendNotification, the
    client construction of its hostmonitor) posting what its hostmonitor sends for a host
    Pacemaker saw go OFFLINE, with the [api] options from a masakarimonitors.conf."""
    password = Path(LAB_DIR, "openstack", "admin-password").read_text().strip()
    conf = Path(conf_dir, "masakarimonitors.conf")
    conf.write_text(f"""[api]
region = RegionOne
api_interface = public
auth_type = password
auth_url = http://192.168.240.2:5000/v3
username = admin
password = {password}
project_name = admin
user_domain_name = Default
project_domain_name = Default
""")
    conf.chmod(0o600)
    code = f"""
import sys
from oslo_utils import timeutils
import masakarimonitors.conf
from masakarimonitors.ha import masakari
CONF = masakarimonitors.conf.CONF
CONF(['--config-file', '{conf}'], project='masakarimonitors')
event = {{'notification': {{'type': 'COMPUTE_HOST', 'hostname': '{hostname}',
          'generated_time': timeutils.utcnow().isoformat(),
          'payload': {{'event': 'STOPPED', 'cluster_status': 'OFFLINE', 'host_status': 'NORMAL'}}}}}}
masakari.SendNotification().send_notification(CONF.host.api_retry_max, CONF.host.api_retry_interval, event)
print('sent', event['notification']['generated_time'])
"""
    return lab("exec", "host4", f"{VENV}/python", "-c", code, timeout=120)


def test_masakari_monitors_report_a_crashed_host_lifeboat_fences_it_and_the_notification_finishes_with_its_steps(api, tmp_path):
    st, _ = restore()
    victim = "host2"
    ha = boot(victim, 2, ha=True)
    leader = next(h for h in HOSTS if h != victim)
    poll(lambda: all(i in instances(leader) for i in ha), 40, "the servers in the inventory")
    host_uuid = osc("segment", "host", "show", "a", victim)["uuid"]
    seen = {n["notification_uuid"] for n in osc("notification", "list")}
    offs = power_offs(victim)
    t0 = time.time()
    lab("crash", "--power-stays-on", victim)
    p = monitor_notify(victim, tmp_path)
    assert "sent" in p.stdout, p.stdout + p.stderr

    def mine():
        ns = [n for n in osc("notification", "list") if n["source_host_uuid"] == host_uuid and n["notification_uuid"] not in seen]
        return ns and ns[0]
    n, _ = poll(mine, 30, "the notification listed")

    def finished():
        s = osc("notification", "show", n["notification_uuid"])
        return s["status"] == "finished" and s
    shown, took = poll(finished, 180, "the notification finished", interval=1)
    print(f"\nmasakari-monitors' notification for crashed {victim}: finished {time.time() - t0:.1f} s after the crash")
    record("notification_finished_s", round(time.time() - t0, 1))
    steps = shown["recovery_workflow_details"]
    names = [s["name"] for s in steps]
    assert names[:3] == ["FenceHostTask", "ForceDownComputeServiceTask", "DisableComputeServiceTask"] and "EvacuateInstancesTask" in names, steps
    assert all(s["state"] == "SUCCESS" for s in steps), steps
    fence = steps[0]["progress_details"]
    assert any("succeeded" in d["message"] for d in fence), fence
    assert power_offs(victim) == offs + 1, "fenced exactly once"
    moves = osc("notification", "vmove", "list", n["notification_uuid"])
    # (The client shows instance_uuid as server_id.)
    assert sorted(m["server_id"] for m in moves) == sorted(ha), moves
    # Inside segment "a" (host3 is its reserve unless an earlier suite used it up).
    assert all(m["status"] == "succeeded" and m["dest_host"] in ("host1", "host3") for m in moves), moves
    one = osc("notification", "vmove", "show", n["notification_uuid"], moves[0]["uuid"])
    assert one["server_id"] == moves[0]["server_id"] and one["source_host"] == victim
    v = vms()
    assert all(v[i]["host"] == m["dest_host"] and v[i]["status"] == "ACTIVE" for m in moves for i in [m["server_id"]])
    # The same notification again within the detection interval: 409, final for monitors.
    dup = osc("notification", "create", "COMPUTE_HOST", victim, shown["generated_time"],
              json.dumps(shown["payload"]), check=False)
    assert dup.returncode != 0 and "409" in dup.stderr, dup.stderr
    unknown = osc("notification", "create", "COMPUTE_HOST", "no-such-host", shown["generated_time"], '{"event": "STOPPED"}', check=False)
    assert unknown.returncode != 0 and "400" in unknown.stderr, unknown.stderr
    lab("power", victim, "on")
    poll(agreed(HOSTS, members=HOSTS), 90, "all four members again")
