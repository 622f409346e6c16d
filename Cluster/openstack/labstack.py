#!/usr/bin/env python3
"""The lab's real OpenStack: Keystone, placement, Nova's controller services, RabbitMQ and
MariaDB in the lab's bridge namespace (address CONTROLLER, reached by every lab host), and one
nova-compute per lab host *inside* that host (fake virt driver), started by Cluster/lab.

Used by Cluster/lab (`up --nova`, `vms`, host boot); run by hand for troubleshooting:

    labstack.py install                  venv with the pinned packages (idempotent)
    labstack.py start                    configure and start the controller services
    labstack.py compute-config HOST      write HOST's nova-compute configuration
    labstack.py wait-computes N          wait until N computes are up and mapped
    labstack.py vms boot HOST N [--ha] [--libvirt]   boot N small servers on HOST
                                         (--libvirt: each backed by a real libvirt domain;
                                         --evacuable-flavor / --evacuable-image: tagged the
                                         fence_evacuate way instead of HA_Enabled)
    labstack.py vms crash|stop|start ID  kill its QEMU process / stop or start it through Nova
    labstack.py vms list [--format json]
    labstack.py migrations               Nova's evacuation records (os-migrations) as JSON
    labstack.py services                 Nova's nova-compute services (os-services) as JSON
    labstack.py vms watch [--interval S]  a JSON line per poll of the server list (default 0.2 s)
    labstack.py vms delete ID / vms migrate ID HOST   by hand, as an operator would
    labstack.py app-credential NAME [--reader] [--expires-in SECONDS]
                                         an application credential, as cloud NAME in clouds.yaml
                                         (Keystone caps its tokens' expiry at the credential's)
    labstack.py api stop|start           stop or start nova-api (Nova down, for tests)
    labstack.py nova-fault MODE [--rate P] [--match REGEX] [--status CODE] | status
                                         with LAB_NOVA_PROXY=1 (lab up --nova-proxy): make the
                                         fault proxy in front of nova-api pass, error, hang or
                                         lose the reply (see faultproxy.py)
    labstack.py env                      print OS_* variables for the admin

Everything lives in $LAB_DIR/openstack; passwords are random, in files readable by root
only; clouds.yaml (mode 0600) is written for the lab cloud.
"""
import hashlib
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
LAB_DIR = Path(os.environ.get("LAB_DIR", "/run/lifeboat-lab"))
OS_DIR = LAB_DIR / "openstack"
VENV = Path(os.environ.get("LAB_OPENSTACK_VENV", "/opt/lifeboat-openstack"))
BRIDGE_NS = os.environ.get("LAB_PREFIX", "lblab") + "-br"
CONTROLLER = os.environ.get("LAB_CONTROLLER", "192.168.240.2")
REGION = "RegionOne"
#: The controller's databases: "sqlite" (default: files, no server; one process per service,
#: as SQLite takes one writer at a time) or "mariadb" (Debian's mariadbd, started by the lab
#: in the bridge namespace, its datadir under $LAB_DIR/openstack/mariadb, so that Nova's API,
#: conductor and placement run several processes). Benchmarks/nova-evacuate-throughput on 2
#: cores: MariaDB takes the 50 evacuation POSTs in 15-20 s instead of 26-33 s, but all 50
#: ACTIVE took as long (74-86 s against 69-100 s: each target's nova-compute claims one server
#: at a time, asking placement for every allocation on the host each time), for 0.4 GB more
#: and 10-17 s more to start: so not the default.
DB = os.environ.get("LAB_DB", "sqlite")
MULTI = DB == "mariadb"
#: nova-api: gunicorn worker processes x threads (one process runs on one core at a time).
NOVA_API_WORKERS = int(os.environ.get("LAB_NOVA_API_WORKERS", 2 if MULTI else 1))
NOVA_API_THREADS = 4
#: nova-conductor processes (it does the computes' database work, the busiest service).
CONDUCTOR_WORKERS = int(os.environ.get("LAB_CONDUCTOR_WORKERS", 2 if MULTI else 1))
SCHEDULER_WORKERS = 1
#: placement: sync worker processes, one request each at a time (no keep-alive: with
#: gunicorn's threaded worker, a kept-alive connection that the server closes as a client
#: reuses it fails the client's request, and Nova's scheduler then reports NoValidHost).
PLACEMENT_WORKERS = int(os.environ.get("LAB_PLACEMENT_WORKERS", 2 if MULTI else 1))
#: Services that share SQLite files under load (Nova's, Keystone's, placement's): busy
#: timeout, WAL, and BEGIN IMMEDIATE where they begin transactions themselves.
NOVA_ENV = {"LAB_SQLITE_IMMEDIATE": "1"} if DB == "sqlite" else {}
MARIADB_DIR = OS_DIR / "mariadb"
#: Lifeboat's Masakari-compatible API on host1 (every lifeboatd serves it), registered in the
#: catalog as Masakari is, so that the stock `openstack segment ...` finds it.
HA_ENDPOINT = "http://" + CONTROLLER.rsplit(".", 1)[0] + ".11:15868/v1/%(tenant_id)s"
PORTS = {"keystone": 5000, "nova": 8774, "placement": 8778, "glance": 9292, "neutron": 9696, "rabbit": 5672,
         "mariadb": 3306, "nova_behind_proxy": 18774}
#: `lab up --nova --nova-proxy`: nova-api listens on its own port and faultproxy.py takes
#: Nova's catalog address, so that `lab nova-fault` can make Nova fail (5xx, hang, lost reply).
def _lab_has_nova_proxy():
    """LAB_NOVA_PROXY from the environment (Cluster/lab exports it), else from the running
    lab's lab.env (a test may run this tool directly)."""
    if "LAB_NOVA_PROXY" in os.environ:
        return os.environ["LAB_NOVA_PROXY"] == "1"
    try:
        return "LAB_NOVA_PROXY=1" in (LAB_DIR / "lab.env").read_text().split()
    except OSError:
        return False


NOVA_PROXY = _lab_has_nova_proxy()
NOVA_API_PORT = PORTS["nova_behind_proxy"] if NOVA_PROXY else PORTS["nova"]
FAULT_CONTROL = OS_DIR / "faultproxy/control.json"
FAULT_MODES = ("pass", "error", "hang", "lost_reply", "slow")
DATABASES = ("keystone", "placement", "nova_api", "nova", "nova_cell0")


def db_url(name, sqlite_path):
    if DB == "mariadb":
        # The controller's services live next to the server: its socket, not TCP.
        return (f"mysql+pymysql://lifeboat:{secret('mariadb')}@localhost/{name}"
                f"?unix_socket={MARIADB_DIR / 'mariadbd.sock'}&charset=utf8")
    return f"sqlite:///{sqlite_path}"


def note(msg):
    print(f"labstack: {msg}", file=sys.stderr, flush=True)


def die(msg):
    note(f"error: {msg}")
    sys.exit(1)


def run(args, env=None, check=True, quiet=True):
    p = subprocess.run(args, env=env, capture_output=quiet, text=True)
    if check and p.returncode != 0:
        die(f"{' '.join(map(str, args))} failed ({p.returncode}):\n{p.stdout or ''}{p.stderr or ''}")
    return p


def bin_(name):
    return str(VENV / "bin" / name)


# ---------------------------------------------------------------------------
# install

def install():
    req = HERE / "requirements.txt"
    digest = hashlib.sha256(req.read_bytes() + (HERE / "sqlite_immediate.py").read_bytes() + (HERE / "labvirt.py").read_bytes()).hexdigest()
    marker = VENV / ".lifeboat-requirements"
    if marker.exists() and marker.read_text() == digest:
        return
    note(f"installing the lab's OpenStack into {VENV} (pinned, about a minute)")
    if not (VENV / "bin" / "python").exists():
        run([sys.executable, "-m", "venv", str(VENV)])
    run([bin_("pip"), "install", "--quiet", "--disable-pip-version-check", "-r", str(req)])
    site = Path(run([bin_("python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    # Every OpenStack process of the venv starts SQLite transactions with BEGIN IMMEDIATE and
    # waits on a busy database: several services share SQLite files in the lab.
    (site / "sqlite_immediate.py").write_text((HERE / "sqlite_immediate.py").read_text())
    (site / "lifeboat-lab-sqlite.pth").write_text("import sqlite_immediate\n")
    # The lab's virt driver (real libvirt domains for servers that ask for one); Nova loads
    # compute drivers from nova.virt only.
    (site / "nova/virt/labvirt.py").write_text((HERE / "labvirt.py").read_text())
    marker.write_text(digest)


# ---------------------------------------------------------------------------
# configuration

def secret(name):
    path = OS_DIR / f"{name}-password"
    if not path.exists():
        OS_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(12))
        path.chmod(0o600)
    return path.read_text().strip()


def url(service, path=""):
    return f"http://{CONTROLLER}:{PORTS[service]}{path}"


def rabbit_url():
    return f"rabbit://lifeboat:{secret('rabbit')}@{CONTROLLER}:{PORTS['rabbit']}/"


def auth_section(user, section="keystone_authtoken", project="service", password=None):
    """A keystoneauth password section; the service users' password unless told another."""
    return f"""[{section}]
www_authenticate_uri = {url('keystone', '/')}
auth_url = {url('keystone', '/v3')}
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = {project}
username = {user}
password = {password if password is not None else secret('service')}
region_name = {REGION}
"""


def nova_common(state_path, host, my_ip):
    return f"""[DEFAULT]
host = {host}
my_ip = {my_ip}
transport_url = {rabbit_url()}
state_path = {state_path}
use_stderr = true
periodic_fuzzy_delay = 0
rpc_response_timeout = 30
# A hung nova-compute shows as down within 12 s (Nova's defaults: 10 s and 60 s), so
# that the lab can test Agents/nova-compute's service check in reasonable time.
report_interval = 3
service_down_time = 12

[oslo_concurrency]
lock_path = {state_path}/lock

[oslo_messaging_notifications]
driver = noop

{auth_section('placement', 'placement')}
{auth_section('nova', 'neutron')}
{auth_section('nova', 'glance')}
[service_user]
send_service_user_token = false
"""


def write(path, text, mode=0o600):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def configure():
    d = OS_DIR
    write(d / "rabbitmq/rabbitmq.conf", f"""listeners.tcp.default = {CONTROLLER}:{PORTS['rabbit']}
default_user = lifeboat
default_pass = {secret('rabbit')}
loopback_users = none
log.console = false
log.file.level = warning
""")
    write(d / "rabbitmq/enabled_plugins", "[].\n")
    write(d / "keystone/keystone.conf", f"""[DEFAULT]
use_stderr = true

[database]
connection = {db_url("keystone", f"{d}/keystone/keystone.db")}

[token]
provider = fernet
expiration = 14400

[fernet_tokens]
key_repository = {d}/keystone/fernet-keys

[fernet_receipts]
key_repository = {d}/keystone/fernet-keys

[credential]
key_repository = {d}/keystone/credential-keys

[identity]
password_hash_rounds = 4

[cache]
enabled = true
backend = dogpile.cache.memory
""")
    write(d / "placement/placement.conf", f"""[DEFAULT]
use_stderr = true

[api]
auth_strategy = keystone

{auth_section('placement')}
[placement_database]
connection = {db_url("placement", f"{d}/placement/placement.db")}
""")
    nova_etc = d / "nova"
    (d / "nova/state/lock").mkdir(parents=True, exist_ok=True)
    write(nova_etc / "api-paste.ini", (VENV / "etc/nova/api-paste.ini").read_text(), 0o644)
    write(nova_etc / "nova.conf", nova_common(f"{d}/nova/state", "controller", CONTROLLER) + f"""
[api_database]
connection = {db_url("nova_api", f"{d}/nova/nova_api.db")}

[database]
connection = {db_url("nova", f"{d}/nova/nova.db")}

{auth_section('nova')}
[scheduler]
discover_hosts_in_cells_interval = 5
workers = {SCHEDULER_WORKERS}

[conductor]
workers = {CONDUCTOR_WORKERS}

[api]
auth_strategy = keystone

[quota]
# The lab boots as many small servers as a test wants.
instances = -1
cores = -1
ram = -1
""")


def compute_config(host):
    """nova-compute of a lab host: its own state, no database settings."""
    n = int(host.removeprefix("host"))
    hd = LAB_DIR / "hosts" / host
    path = hd / "nova/nova-compute.conf"
    (hd / "nova/state/lock").mkdir(parents=True, exist_ok=True)
    # A benchmark may size the hosts (`LAB_COMPUTE_VCPUS=64 lab up ...`): kept for the lab's
    # life in capacity.json (read by labvirt), with allocation ratios of 1 so that Nova's
    # capacity is what the hypervisor reports, as Lifeboat reads it.
    capacity = hd / "nova/capacity.json"
    if os.environ.get("LAB_COMPUTE_VCPUS"):
        vcpus = int(os.environ["LAB_COMPUTE_VCPUS"])
        capacity.write_text(json.dumps({"vcpus": vcpus, "memory_mb": int(os.environ.get("LAB_COMPUTE_RAM_MB", 1024 * vcpus)),
                                        "local_gb": int(os.environ.get("LAB_COMPUTE_DISK_GB", 10 * vcpus))}))
    sized = """cpu_allocation_ratio = 1.0
ram_allocation_ratio = 1.0
disk_allocation_ratio = 1.0
reserved_host_memory_mb = 0
""" if capacity.exists() else ""
    write(path, nova_common(f"{hd}/nova/state", host, f"192.168.240.{10 + n}") + """
[DEFAULT]
compute_driver = labvirt.LabLibvirtDriver
""" + sized)
    print(path)


# ---------------------------------------------------------------------------
# services

def in_bridge(args, log, env=None):
    """Starts a detached service in the bridge namespace (Cluster/lab down ends it)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    full = {**os.environ, **(env or {})}
    out = open(log, "ab")
    p = subprocess.Popen(["ip", "netns", "exec", BRIDGE_NS, *map(str, args)], stdin=subprocess.DEVNULL,
                         stdout=out, stderr=subprocess.STDOUT, env=full, start_new_session=True)
    (log.parent / (log.stem + ".pid")).write_text(str(p.pid))
    return p


def wait_http(service, path, timeout, what):
    start = time.time()
    last = None
    while time.time() - start < timeout:
        try:
            with urllib.request.urlopen(url(service, path), timeout=2) as r:
                return r.status
        except urllib.error.HTTPError as e:
            if e.code < 500:
                return e.code
            last = e
        except Exception as e:  # not up yet
            last = e
        time.sleep(0.3)
    die(f"{what} did not answer at {url(service, path)} within {timeout} s ({last})")


def manage(tool, conf_flag, *args):
    run([bin_(tool), conf_flag, *args])


def gunicorn(app, port, log, env, threads=4, workers=1):
    args = [bin_("gunicorn"), "--bind", f"{CONTROLLER}:{port}", "--workers", str(workers), "--threads", str(threads),
            "--worker-class", "gthread" if threads > 1 else "sync", "--timeout", "120", "--graceful-timeout", "1",
            "--pythonpath", str(HERE)]
    in_bridge(args + [app], log, env)


def start():
    install()
    configure()
    d = OS_DIR
    run(["ip", "netns", "exec", BRIDGE_NS, "ip", "addr", "replace", f"{CONTROLLER}/24", "dev", "br0"])
    t0 = time.time()
    # RabbitMQ, as root, with its own environment (it starts while the rest is set up).
    rd = d / "rabbitmq"
    (rd / "mnesia").mkdir(parents=True, exist_ok=True)
    in_bridge(["/usr/lib/rabbitmq/bin/rabbitmq-server"], rd / "rabbitmq.log", {
        "HOME": str(rd), "RABBITMQ_CONFIG_FILE": str(rd / "rabbitmq.conf"), "RABBITMQ_MNESIA_BASE": str(rd / "mnesia"),
        "RABBITMQ_LOG_BASE": str(rd / "log"), "RABBITMQ_NODENAME": "rabbit@localhost",
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(rd / "enabled_plugins"), "RABBITMQ_PID_FILE": str(rd / "beam.pid"),
        # Erlang writes a crash dump into the working directory unless told where.
        "ERL_CRASH_DUMP": str(rd / "erl_crash.dump")})
    if DB == "mariadb":
        start_mariadb()
    # Keystone.
    kd = d / "keystone"
    kconf = ["--config-file", str(kd / "keystone.conf")]
    run([bin_("keystone-manage"), *kconf, "db_sync"])
    run([bin_("keystone-manage"), *kconf, "fernet_setup", "--keystone-user", "root", "--keystone-group", "root"])
    run([bin_("keystone-manage"), *kconf, "credential_setup", "--keystone-user", "root", "--keystone-group", "root"])
    run([bin_("keystone-manage"), *kconf, "bootstrap", "--bootstrap-password", secret("admin"),
         "--bootstrap-admin-url", url("keystone", "/v3/"), "--bootstrap-internal-url", url("keystone", "/v3/"),
         "--bootstrap-public-url", url("keystone", "/v3/"), "--bootstrap-region-id", REGION])
    gunicorn("wsgi_keystone:application", PORTS["keystone"], kd / "keystone.log", {"OS_KEYSTONE_CONFIG_DIR": str(kd), **NOVA_ENV})
    # Placement and Nova databases meanwhile.
    pd = d / "placement"
    run([bin_("placement-manage"), "--config-file", str(pd / "placement.conf"), "db", "sync"])
    nconf = ["--config-file", str(d / "nova/nova.conf")]
    run([bin_("nova-manage"), *nconf, "api_db", "sync"])
    run([bin_("nova-manage"), *nconf, "cell_v2", "map_cell0", "--database_connection", db_url("nova_cell0", f"{d}/nova/nova_cell0.db")])
    run([bin_("nova-manage"), *nconf, "cell_v2", "create_cell", "--name", "cell1"], check=False)
    run([bin_("nova-manage"), *nconf, "db", "sync"])
    wait_http("keystone", "/v3", 60, "keystone")
    register()
    gunicorn("wsgi_placement:application", PORTS["placement"], pd / "placement.log",
             {"OS_PLACEMENT_CONFIG_DIR": str(pd), **NOVA_ENV}, threads=1, workers=PLACEMENT_WORKERS)
    in_bridge([sys.executable, HERE / "standins.py", CONTROLLER, str(PORTS["glance"]), str(PORTS["neutron"])],
              d / "standins.log")
    novaenv = {"OS_NOVA_CONFIG_DIR": str(d / "nova"), "OS_NOVA_CONFIG_FILES": "api-paste.ini;nova.conf", **NOVA_ENV}
    gunicorn("wsgi_nova:application", NOVA_API_PORT, d / "nova/nova-api.log", novaenv, threads=NOVA_API_THREADS, workers=NOVA_API_WORKERS)
    if NOVA_PROXY:
        start_fault_proxy()
    for svc in ("nova-conductor", "nova-scheduler"):
        in_bridge([bin_(svc), *nconf], d / "nova" / f"{svc}.log", NOVA_ENV)
    write_clouds_yaml()
    wait_http("placement", "/", 60, "placement")
    wait_http("nova", "/", 90, "nova-api")
    note(f"controller up at {CONTROLLER} in {time.time() - t0:.1f} s (logs in {d})")


def start_mariadb():
    """Debian's MariaDB server (mariadbd) in the bridge namespace, with its own datadir under
    the lab's state dir: bound to the controller address, the services use its socket; one
    user with a random password; no durability (the lab's state goes with it)."""
    md = MARIADB_DIR
    datadir = md / "data"
    opts = ["--innodb-buffer-pool-size=64M", "--innodb-log-file-size=16M"]
    t = time.time()
    if not Path("/usr/sbin/mariadbd").exists() or not Path("/usr/bin/my_print_defaults").exists():
        note("installing Debian's mariadb-server-core and mariadb-client-core (Scripts/install-deps does too)")
        run(["apt-get", "install", "-y", "-qq", "mariadb-server-core", "mariadb-client-core"],
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if not (datadir / "mysql").exists():
        datadir.mkdir(parents=True, exist_ok=True)
        run(["mariadb-install-db", "--no-defaults", f"--datadir={datadir}", "--user=root", "--skip-test-db",
             "--auth-root-authentication-method=normal", *opts])
    pw = secret("mariadb")
    init = md / "init.sql"
    write(init, "".join(f"CREATE DATABASE IF NOT EXISTS {n};\n" for n in DATABASES) +
          f"CREATE USER IF NOT EXISTS 'lifeboat'@'%' IDENTIFIED BY '{pw}';\n"
          f"CREATE USER IF NOT EXISTS 'lifeboat'@'localhost' IDENTIFIED BY '{pw}';\n"
          "GRANT ALL PRIVILEGES ON *.* TO 'lifeboat'@'%';\nGRANT ALL PRIVILEGES ON *.* TO 'lifeboat'@'localhost';\n")
    sock = md / "mariadbd.sock"
    in_bridge(["/usr/sbin/mariadbd", "--no-defaults", f"--datadir={datadir}", f"--socket={sock}",
               f"--bind-address={CONTROLLER}", f"--port={PORTS['mariadb']}", "--user=root", "--skip-name-resolve",
               "--skip-log-bin", "--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0", "--sync-frm=0",
               "--max-connections=500", f"--init-file={init}", f"--pid-file={md / 'mariadbd.pidfile'}",
               f"--log-error={md / 'mariadbd.err'}", *opts], md / "mariadbd.log")
    err = md / "mariadbd.err"
    # Ready once it has run the init file and listens (it says so in its error log).
    while not (sock.exists() and err.exists() and "ready for connections" in err.read_text(errors="replace")):
        if time.time() - t > 60:
            die(f"MariaDB did not start (see {err})")
        time.sleep(0.05)
    note(f"MariaDB up in {time.time() - t:.1f} s")


def sdk(admin=True):
    sys.path.insert(0, "")
    env = {**os.environ, **openrc()}
    return env


def openrc():
    return {"OS_AUTH_URL": url("keystone", "/v3"), "OS_USERNAME": "admin", "OS_PASSWORD": secret("admin"),
            "OS_PROJECT_NAME": "admin", "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default",
            "OS_REGION_NAME": REGION, "OS_IDENTITY_API_VERSION": "3", "OS_INTERFACE": "public"}


def register():
    """Service project, users, roles, services and endpoints (one Python process: fast)."""
    code = f"""
import os, openstack
c = openstack.connect(auth_url=os.environ['OS_AUTH_URL'], username='admin', password=os.environ['OS_PASSWORD'],
                      project_name='admin', user_domain_name='Default', project_domain_name='Default', region_name='{REGION}')
svc = c.identity.find_project('service') or c.identity.create_project(name='service', domain_id='default')
admin_role = c.identity.find_role('admin')
for name in ('nova', 'placement'):
    u = c.identity.find_user(name) or c.identity.create_user(name=name, password=os.environ['SERVICE_PASSWORD'], domain_id='default')
    c.identity.assign_project_role_to_user(svc, u, admin_role)
    for r in ('service',):
        role = c.identity.find_role(r) or c.identity.create_role(name=r)
        c.identity.assign_project_role_to_user(svc, u, role)
for name, type_, base in (('nova', 'compute', '{url('nova', '/v2.1')}'), ('placement', 'placement', '{url('placement')}'),
                          ('glance', 'image', '{url('glance')}'), ('neutron', 'network', '{url('neutron')}'),
                          ('masakari', 'instance-ha', '{HA_ENDPOINT}')):
    s = c.identity.find_service(name) or c.identity.create_service(name=name, type=type_)
    have = {{e.interface for e in c.identity.endpoints(service_id=s.id)}}
    for iface in ('public', 'internal', 'admin'):
        if iface not in have:
            c.identity.create_endpoint(service_id=s.id, interface=iface, url=base, region_id='{REGION}')
"""
    run([bin_("python"), "-c", code], env={**os.environ, **openrc(), "SERVICE_PASSWORD": secret("service")})


def write_clouds_yaml():
    text = f"""# The lab cloud (Cluster/openstack/labstack.py). Readable by root only: it holds a password.
clouds:
  lab:
    auth:
      auth_url: {url('keystone', '/v3')}
      username: admin
      password: {secret('admin')}
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: {REGION}
    interface: public
    identity_api_version: 3
"""
    write(OS_DIR / "clouds.yaml", text)


# ---------------------------------------------------------------------------
# computes and servers

def api(method, path, body=None, service="nova", microversion="2.95"):
    token, catalog = token_and_catalog()
    req = urllib.request.Request(url(service, path if service != "nova" else "/v2.1" + path), method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"X-Auth-Token": token, "Content-Type": "application/json",
                                          "OpenStack-API-Version": f"compute {microversion}"})
    with urllib.request.urlopen(req, timeout=60) as r:
        data = r.read()
        return json.loads(data) if data else None


_token = None


def token_and_catalog():
    global _token
    if _token is None:
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"name": "Default"}, "password": secret("admin")}}},
            "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
        req = urllib.request.Request(url("keystone", "/v3/auth/tokens"), data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=30) as r:
            _token = (r.headers["X-Subject-Token"], json.loads(r.read())["token"]["catalog"])
    return _token


def wait_computes(n, timeout=120):
    nconf = ["--config-file", str(OS_DIR / "nova/nova.conf")]
    start = time.time()
    while time.time() - start < timeout:
        try:
            hv = api("GET", "/os-hypervisors")["hypervisors"]
            up = [h for h in hv if h.get("state") == "up"]
            if len(up) >= n:
                note(f"{len(up)} computes up after {time.time() - start:.1f} s")
                return
        except Exception:
            pass
        run([bin_("nova-manage"), *nconf, "cell_v2", "discover_hosts"], check=False)
        time.sleep(1)
    die(f"fewer than {n} hypervisors up after {timeout} s")


def ensure_flavor_and_image(tag=None):
    """lab.small with the stand-in's image; tag "flavor": lab.evacuable (extra spec
    evacuable=true); tag "image": the stand-in's image with property evacuable=true."""
    flavors = {f["name"]: f for f in api("GET", "/flavors")["flavors"]}
    if "lab.small" not in flavors:
        api("POST", "/flavors", {"flavor": {"name": "lab.small", "ram": 512, "vcpus": 1, "disk": 1, "id": "lab-small"}})
    if tag == "flavor" and "lab.evacuable" not in flavors:
        api("POST", "/flavors", {"flavor": {"name": "lab.evacuable", "ram": 512, "vcpus": 1, "disk": 1, "id": "lab-evacuable"}})
        api("POST", "/flavors/lab-evacuable/os-extra_specs", {"extra_specs": {"evacuable": "true"}})
    image = "22222222-3333-4444-5555-666666666666" if tag == "image" else "11111111-2222-3333-4444-555555555555"
    return ("lab-evacuable" if tag == "flavor" else "lab-small"), image   # the image stand-in knows both ids


def vms_boot(host, count, ha, libvirt=False, tag=None):
    flavor, image = ensure_flavor_and_image(tag)
    ids = []
    stamp = int(time.time() * 1000) % 100000000
    for i in range(count):
        body = {"server": {"name": f"vm-{host}-{stamp}-{i}", "imageRef": image, "flavorRef": flavor, "networks": "none",
                           "availability_zone": f"nova:{host}", "metadata": {**({"HA_Enabled": "True"} if ha else {}), **({"lab_vm": "libvirt"} if libvirt else {})}}}
        ids.append(api("POST", "/servers", body)["server"]["id"])
    start = time.time()
    while time.time() - start < 120:
        states = {s["id"]: s["status"] for s in api("GET", "/servers/detail?all_tenants=1")["servers"] if s["id"] in ids}
        if all(v == "ACTIVE" for v in states.values()) and len(states) == len(ids):
            note(f"{count} servers ACTIVE on {host} in {time.time() - start:.1f} s")
            for i in ids:
                print(i)
            return
        if any(v == "ERROR" for v in states.values()):
            die(f"a server went to ERROR: {states}")
        time.sleep(0.5)
    die("servers did not become ACTIVE in 120 s")


def vms_crash(server):
    """The server's VM dies under libvirt (its QEMU process is killed), as a guest crash."""
    for p in Path("/proc").glob("[0-9]*"):
        try:
            cmd = (p / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"qemu-system-x86_64") and server.encode() in cmd:
            os.kill(int(p.name), 9)
            print(f"killed QEMU {p.name} of {server} at {time.time():.3f}")
            return
    die(f"no QEMU process runs server {server} (booted with --libvirt?)")


def vms_list(fmt):
    servers = api("GET", "/servers/detail?all_tenants=1")["servers"]
    rows = [{"id": s["id"], "name": s["name"], "host": s.get("OS-EXT-SRV-ATTR:host"), "status": s["status"],
             "ha": s.get("metadata", {}).get("HA_Enabled", "").lower() == "true",
             "task_state": s.get("OS-EXT-STS:task_state")} for s in servers]
    if fmt == "json":
        print(json.dumps(rows, indent=1))
    else:
        for r in rows:
            print(f"{r['id']}  {r['name']:30} {r['host'] or '-':8} {r['status']:8} {'ha' if r['ha'] else ''}")


def migrations():
    """Nova's own record of every evacuation (os-migrations), as JSON: what `lab chaos --nova`
    checks Lifeboat against."""
    rows = api("GET", "/os-migrations?migration_type=evacuation", microversion="2.80")["migrations"]
    print(json.dumps(rows, indent=1))


def compute_services():
    """Nova's nova-compute services (os-services) as JSON: host, state, status, forced_down
    and updated_at, whose moves show that a host's nova-compute runs (its heartbeat)."""
    rows = api("GET", "/os-services?binary=nova-compute", microversion="2.11")["services"]
    print(json.dumps([{k: r.get(k) for k in ("host", "state", "status", "forced_down", "updated_at")} for r in rows], indent=1))


def vms_watch(interval):
    """One JSON line per poll of Nova's server list, {"t": epoch, "servers": [...]}, until
    killed: one token for the whole watch (benchmarks and the demo read it)."""
    while True:
        t = time.time()
        try:
            servers = api("GET", "/servers/detail?all_tenants=1")["servers"]
        except (urllib.error.URLError, OSError) as e:
            print(json.dumps({"t": t, "error": str(e)}), flush=True)
            time.sleep(interval)
            continue
        rows = [{"id": s["id"], "name": s["name"], "host": s.get("OS-EXT-SRV-ATTR:host"), "status": s["status"],
                 "ha": s.get("metadata", {}).get("HA_Enabled", "").lower() == "true"} for s in servers]
        print(json.dumps({"t": t, "servers": rows}), flush=True)
        time.sleep(max(0.0, interval - (time.time() - t)))


def app_credential(name, reader, expires_in=None):
    """An application credential of the admin user (only the reader role with --reader;
    expiring after `expires_in` seconds if given), added to clouds.yaml as cloud NAME."""
    expires = None
    if expires_in is not None:
        import datetime
        at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=float(expires_in))
        expires = at.strftime("%Y-%m-%dT%H:%M:%S")
    code = f"""
import json, os, openstack
c = openstack.connect(auth_url=os.environ['OS_AUTH_URL'], username='admin', password=os.environ['OS_PASSWORD'],
                      project_name='admin', user_domain_name='Default', project_domain_name='Default', region_name='{REGION}')
user = c.identity.find_user('admin')
roles = [{{'name': 'reader'}}] if {reader!r} else None
old = c.identity.find_application_credential(user, '{name}')
if old:
    c.identity.delete_application_credential(user, old)
extra = {{k: v for k, v in (('roles', roles), ('expires_at', {expires!r})) if v is not None}}
cred = c.identity.create_application_credential(user, '{name}', **extra)
print(json.dumps({{'id': cred.id, 'secret': cred.secret}}))
"""
    out = run([bin_("python"), "-c", code], env={**os.environ, **openrc()}).stdout
    cred = json.loads(out.strip().splitlines()[-1])
    path = OS_DIR / "clouds.yaml"
    # An earlier credential of that name is replaced (its cloud block removed).
    lines, kept, skipping = path.read_text().splitlines(keepends=True), [], False
    for line in lines:
        if line.startswith("  ") and not line.startswith("   "):
            skipping = line.rstrip() == f"  {name}:"
        if not skipping:
            kept.append(line)
    text = "".join(kept)
    text += f"""  {name}:
    auth_type: v3applicationcredential
    auth:
      auth_url: {url('keystone', '/v3')}
      application_credential_id: {cred['id']}
      application_credential_secret: {cred['secret']}
    region_name: {REGION}
    interface: public
"""
    write(path, text)
    print(cred["id"])


def stop_pid(pidfile):
    pid = int(pidfile.read_text())
    run(["kill", str(pid)], check=False)
    for _ in range(100):
        if not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower():
            break
        time.sleep(0.1)


def api_service(op):
    """Nova down and back: nova-api stopped, and its front door (the fault proxy, when the
    lab has one) with it, so that Nova's address refuses connections, as it does when
    nova-api is down without a proxy."""
    pidfile = OS_DIR / "nova/nova-api.pid"
    if op == "stop":
        stop_pid(pidfile)   # gunicorn's master: it stops its worker too
        if NOVA_PROXY and (FAULT_CONTROL.parent / "faultproxy.pid").exists():
            stop_pid(FAULT_CONTROL.parent / "faultproxy.pid")
        note("nova-api stopped")
    elif op == "start":
        novaenv = {"OS_NOVA_CONFIG_DIR": str(OS_DIR / "nova"), "OS_NOVA_CONFIG_FILES": "api-paste.ini;nova.conf", **NOVA_ENV}
        gunicorn("wsgi_nova:application", NOVA_API_PORT, OS_DIR / "nova/nova-api.log", novaenv, threads=NOVA_API_THREADS,
                 workers=NOVA_API_WORKERS)
        if NOVA_PROXY:
            start_fault_proxy()
        wait_http("nova", "/", 90, "nova-api")
        note("nova-api started")
    else:
        die("api: stop or start")


def start_fault_proxy():
    d = FAULT_CONTROL.parent
    d.mkdir(parents=True, exist_ok=True)
    in_bridge([sys.executable, HERE / "faultproxy.py", f"{CONTROLLER}:{PORTS['nova']}", f"{CONTROLLER}:{NOVA_API_PORT}",
               FAULT_CONTROL, d / "requests.jsonl"], d / "faultproxy.log")


def nova_fault(args):
    """`nova-fault MODE [--rate P] [--match REGEX] [--status CODE]` or `nova-fault status`."""
    if not NOVA_PROXY:
        die("this lab has no fault proxy in front of Nova (lab up --nova --nova-proxy)")
    if not args or args[0] == "status":
        print(FAULT_CONTROL.read_text().strip() if FAULT_CONTROL.exists() else json.dumps({"mode": "pass"}))
        return
    mode, rest = args[0], args[1:]
    if mode not in FAULT_MODES:
        die(f"nova-fault: unknown mode '{mode}' (one of: {', '.join(FAULT_MODES)}, status)")
    conf = {"mode": mode}
    opts = {"--rate": ("rate", float), "--match": ("match", str), "--status": ("status", int), "--delay": ("delay", float)}
    while rest:
        if rest[0] not in opts or len(rest) < 2:
            die(f"nova-fault: unknown or incomplete option '{rest[0]}' (--rate P, --match REGEX, --status CODE, --delay S)")
        key, conv = opts[rest[0]]
        try:
            conf[key] = conv(rest[1])
        except ValueError:
            die(f"nova-fault: {rest[0]} takes a {conv.__name__}, got '{rest[1]}'")
        rest = rest[2:]
    if not 0 <= conf.get("rate", 1) <= 1:
        die("nova-fault: --rate must be within 0..1")
    if not 500 <= conf.get("status", 503) <= 599:
        die("nova-fault: --status must be a 5xx code")
    if not 0 <= conf.get("delay", 2) <= 600:
        die("nova-fault: --delay must be within 0..600 seconds")
    if "match" in conf:
        import re
        try:
            re.compile(conf["match"])
        except re.error as e:
            die(f"nova-fault: --match is not a regular expression ({e})")
    FAULT_CONTROL.parent.mkdir(parents=True, exist_ok=True)
    tmp = FAULT_CONTROL.with_suffix(".tmp")
    tmp.write_text(json.dumps(conf))
    tmp.replace(FAULT_CONTROL)
    print(json.dumps(conf))


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return
    cmd, rest = argv[0], argv[1:]
    # Everything that talks to the cloud runs in the bridge namespace, where it lives.
    if cmd not in ("install", "compute-config", "env", "nova-fault") and os.environ.get("LAB_IN_BRIDGE") != "1":
        os.execvpe("ip", ["ip", "netns", "exec", BRIDGE_NS, sys.executable, __file__, *argv],
                   {**os.environ, "LAB_IN_BRIDGE": "1"})
    if cmd == "install":
        install()
    elif cmd == "start":
        start()
    elif cmd == "compute-config":
        compute_config(rest[0])
    elif cmd == "wait-computes":
        wait_computes(int(rest[0]))
    elif cmd == "vms":
        if rest and rest[0] == "boot":
            if len(rest) < 3:
                die("usage: vms boot HOST N [--ha]")
            tag = "flavor" if "--evacuable-flavor" in rest else "image" if "--evacuable-image" in rest else None
            vms_boot(rest[1], int(rest[2]), "--ha" in rest, libvirt="--libvirt" in rest, tag=tag)
        elif rest and rest[0] == "crash":
            vms_crash(rest[1])
        elif rest and rest[0] == "watch":
            vms_watch(float(rest[rest.index("--interval") + 1]) if "--interval" in rest else 0.2)
        elif rest and rest[0] in ("stop", "start"):
            api("POST", f"/servers/{rest[1]}/action", {"os-stop" if rest[0] == "stop" else "os-start": None})
        elif rest and rest[0] == "delete":
            api("DELETE", f"/servers/{rest[1]}")
        elif rest and rest[0] == "migrate":
            api("POST", f"/servers/{rest[1]}/action", {"os-migrateLive": {"host": rest[2], "block_migration": "auto"}})
        else:
            vms_list("json" if "json" in rest else "text")
    elif cmd == "app-credential":
        app_credential(rest[0], reader="--reader" in rest,
                       expires_in=rest[rest.index("--expires-in") + 1] if "--expires-in" in rest else None)
    elif cmd == "migrations":
        migrations()
    elif cmd == "services":
        compute_services()
    elif cmd == "nova-fault":
        nova_fault(rest)
    elif cmd == "api":
        api_service(rest[0] if rest else "status")
    elif cmd == "env":
        for k, v in openrc().items():
            print(f"export {k}={v}")
    else:
        die(f"unknown command '{cmd}'")


if __name__ == "__main__":
    main(sys.argv[1:])
