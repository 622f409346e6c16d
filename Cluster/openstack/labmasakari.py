#!/usr/bin/env python3
"""The real Masakari (masakari-api and masakari-engine from PyPI) beside the lab's cloud, a
peer in Benchmarks/failover. It runs in the lab's bridge namespace like the controller,
with its own venv (/opt/lifeboat-masakari), SQLite database and the lab's RabbitMQ and
Keystone; its API listens on CONTROLLER:15869 (not in the catalog: `instance-ha` there is
Lifeboat's).

    labmasakari.py install                 the venv (pinned: masakari 22.0.0; idempotent)
    labmasakari.py start [--tuned]         configure, sync the database, start the API and
                                           the engine, and put every lab host in one
                                           segment (auto recovery); --tuned: every wait
                                           Masakari's configuration has set to 0
    labmasakari.py notify-on-loss HOST...  for each HOST, post a COMPUTE_HOST STOPPED
                                           notification the moment a survivor's Corosync
                                           log shows it leaving (what masakari-monitors'
                                           host monitor reports); prints when, then exits
    labmasakari.py notifications           the notifications and their status (JSON)

Masakari does not fence: its host recovery disables nova-compute, waits
`wait_period_after_service_update` (180 s by default) for Nova to see the service down,
then evacuates the HA servers.
"""
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import labstack  # noqa: E402

VENV = Path(os.environ.get("LAB_MASAKARI_VENV", "/opt/lifeboat-masakari"))
VERSION = "22.0.0"
PORT = 15869
M_DIR = labstack.OS_DIR / "masakari"


def bin_(name):
    return str(VENV / "bin" / name)


def install():
    marker = VENV / ".lifeboat-masakari"
    if marker.exists() and marker.read_text() == VERSION:
        return
    labstack.note(f"installing masakari {VERSION} into {VENV} (a minute or two)")
    if not (VENV / "bin" / "python").exists():
        labstack.run([sys.executable, "-m", "venv", str(VENV)])
    labstack.run([bin_("pip"), "install", "--quiet", "--disable-pip-version-check", f"masakari=={VERSION}"])
    marker.write_text(VERSION)


def api_paste():
    """masakari's api-paste.ini as the package installs it (a data file of the wheel)."""
    for p in (VENV / "etc/masakari/api-paste.ini", Path("/etc/masakari/api-paste.ini")):
        if p.exists():
            return p
    found = list(VENV.rglob("api-paste.ini"))
    if not found:
        labstack.die("masakari's api-paste.ini is not in its venv")
    return found[0]


def configure(tuned):
    url = labstack.url
    admin = labstack.secret("admin")
    waits = ""
    if tuned:
        waits = """wait_period_after_service_update = 0
wait_period_after_evacuation = 0
wait_period_after_power_off = 0
verify_interval = 1
"""
    text = f"""[DEFAULT]
transport_url = {labstack.rabbit_url()}
auth_strategy = keystone
masakari_api_listen = {labstack.CONTROLLER}
masakari_api_listen_port = {PORT}
masakari_api_workers = 1
os_privileged_user_name = admin
os_privileged_user_password = {admin}
os_privileged_user_tenant = admin
os_privileged_user_auth_url = {url('keystone', '/v3')}
os_user_domain_name = Default
os_project_domain_name = Default
os_region_name = {labstack.REGION}
nova_catalog_admin_info = compute:nova:publicURL
duplicate_notification_detection_interval = 180
use_stderr = true
{waits}
[wsgi]
api_paste_config = {api_paste()}

[database]
connection = sqlite:///{M_DIR}/masakari.db

[taskflow]
connection = sqlite:///{M_DIR}/taskflow.db

{labstack.auth_section('admin', project='admin', password=admin)}
[oslo_messaging_notifications]
driver = noop
"""
    labstack.write(M_DIR / "masakari.conf", text)


def mapi(method, path, body=None):
    token, _ = labstack.token_and_catalog()
    req = urllib.request.Request(f"http://{labstack.CONTROLLER}:{PORT}/v1{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"X-Auth-Token": token, "Content-Type": "application/json",
                                          "OpenStack-API-Version": "instance-ha 1.1"})
    with urllib.request.urlopen(req, timeout=30) as r:
        data = r.read()
        return json.loads(data) if data else None


def start(tuned):
    install()
    configure(tuned)
    conf = ["--config-file", str(M_DIR / "masakari.conf")]
    labstack.run([bin_("masakari-manage"), *conf, "db", "sync"])
    labstack.in_bridge([bin_("masakari-api"), *conf], M_DIR / "masakari-api.log")
    labstack.in_bridge([bin_("masakari-engine"), *conf], M_DIR / "masakari-engine.log")
    start = time.time()
    while True:
        try:
            mapi("GET", "/segments")
            break
        except (urllib.error.URLError, OSError) as e:
            if time.time() - start > 90:
                labstack.die(f"masakari-api did not answer within 90 s: {e} (log: {M_DIR}/masakari-api.log)")
            time.sleep(0.5)
    seg = mapi("POST", "/segments", {"segment": {"name": "lab", "recovery_method": "auto", "service_type": "COMPUTE"}})
    uuid = seg["segment"]["uuid"]
    hosts = sorted(h.name for h in (labstack.LAB_DIR / "hosts").iterdir() if h.is_dir())
    for h in hosts:
        mapi("POST", f"/segments/{uuid}/hosts", {"host": {"name": h, "type": "COMPUTE", "control_attributes": "SSH"}})
    labstack.note(f"masakari up at {labstack.CONTROLLER}:{PORT} ({'tuned' if tuned else 'defaults'}), "
                  f"segment lab with {', '.join(hosts)}")


def notify_on_loss(victims):
    """Tails every host's Corosync log; when a survivor's shows a victim leaving, posts its
    notification at once (the token fetched before)."""
    labstack.token_and_catalog()
    hosts = sorted(h.name for h in (labstack.LAB_DIR / "hosts").iterdir() if h.is_dir())
    files = {h: labstack.LAB_DIR / "hosts" / h / "var/log/corosync/corosync.log" for h in hosts}
    offsets = {h: f.stat().st_size if f.exists() else 0 for h, f in files.items()}
    pending = set(victims)
    while pending:
        for h, f in files.items():
            if h in victims:
                continue
            try:
                with open(f, "rb") as fh:
                    fh.seek(offsets[h])
                    chunk = fh.read()
            except OSError:
                continue
            if not chunk.endswith(b"\n"):
                chunk = chunk[: chunk.rfind(b"\n") + 1]
            offsets[h] += len(chunk)
            for line in chunk.decode(errors="replace").splitlines():
                m = re.search(r"Members left: ([\d ]+)$", line)
                if not m:
                    continue
                left = {f"host{n}" for n in m.group(1).split()}
                for v in sorted(pending & left):
                    seen = time.time()
                    now = datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%S.%f")
                    body = {"notification": {"type": "COMPUTE_HOST", "hostname": v, "generated_time": now,
                                             "payload": {"event": "STOPPED", "host_status": "NORMAL",
                                                         "cluster_status": "OFFLINE"}}}
                    r = mapi("POST", "/notifications", body)
                    print(json.dumps({"host": v, "seen": seen, "posted": time.time(),
                                      "notification": r["notification"]["notification_uuid"]}), flush=True)
                    pending.discard(v)
        time.sleep(0.02)


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return
    cmd, rest = argv[0], argv[1:]
    if cmd != "install" and os.environ.get("LAB_IN_BRIDGE") != "1":
        os.execvpe("ip", ["ip", "netns", "exec", labstack.BRIDGE_NS, sys.executable, __file__, *argv],
                   {**os.environ, "LAB_IN_BRIDGE": "1"})
    if cmd == "install":
        install()
    elif cmd == "start":
        start("--tuned" in rest)
    elif cmd == "notify-on-loss":
        if not rest:
            labstack.die("notify-on-loss: name at least one host")
        notify_on_loss(rest)
    elif cmd == "notifications":
        print(json.dumps(mapi("GET", "/notifications"), indent=1))
    else:
        labstack.die(f"unknown command '{cmd}'")


if __name__ == "__main__":
    main(sys.argv[1:])
