"""The lab's Nova virt driver: Nova's fake driver, plus a real libvirt domain on the host for
every server booted with metadata lab_vm=libvirt, so that Nova's stop, start, reboot and
evacuation act on a real domain and libvirt emits real lifecycle events (what Lifeboat's VM
monitor listens to). Each domain is a KVM guest of 32 MiB booting a one-sector floppy that
halts its vCPU: it costs ~2 s of CPU to start and nothing after, which 2 cores can afford.

compute_driver = labvirt.LabLibvirtDriver (installed as nova/virt/labvirt.py in the lab's venv).
"""
import os
import subprocess

from nova.virt import fake

URI = os.environ.get("LAB_LIBVIRT_URI", "qemu:///system")
IMAGE = os.path.join(os.environ.get("LAB_DIR", "/run/lifeboat-lab"), "halt.img")

DOMAIN = """<domain type='kvm'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <memory unit='MiB'>32</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type><boot dev='fd'/></os>
  <on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='floppy'><source file='{image}'/><target dev='fda' bus='fdc'/><readonly/></disk>
    <memballoon model='none'/>
  </devices>
</domain>
"""


def halt_image():
    """A 1.44 MB floppy whose boot sector is `cli; hlt; jmp $-1`."""
    if not os.path.exists(IMAGE):
        sector = bytearray(512)
        sector[0:4] = bytes([0xFA, 0xF4, 0xEB, 0xFD])
        sector[510:512] = b"\x55\xaa"
        with open(IMAGE + ".tmp", "wb") as f:
            f.write(bytes(sector) + bytes(1474560 - 512))
        os.replace(IMAGE + ".tmp", IMAGE)
    return IMAGE


def virsh(*args):
    return subprocess.run(["virsh", "-q", "-c", URI, *args], capture_output=True, text=True, timeout=60)


def name(instance):
    return f"instance-{instance.uuid}"


def real(instance):
    return (instance.metadata or {}).get("lab_vm") == "libvirt"


def start(instance):
    if virsh("domstate", name(instance)).returncode != 0:
        path = f"/tmp/lab-domain-{instance.uuid}.xml"
        with open(path, "w") as f:
            f.write(DOMAIN.format(name=name(instance), uuid=instance.uuid, image=halt_image()))
        r = virsh("define", path)
        os.unlink(path)
        if r.returncode != 0:
            raise RuntimeError(f"virsh define: {r.stderr.strip()}")
    if "running" not in virsh("domstate", name(instance)).stdout:
        r = virsh("start", name(instance))
        if r.returncode != 0:
            raise RuntimeError(f"virsh start: {r.stderr.strip()}")


def stop(instance):
    virsh("destroy", name(instance))   # already off: nothing to do


def capacity():
    """The host's size when a benchmark set one (labstack's compute-config writes it next to
    nova-compute.conf); None: the fake driver's own (1000 vCPUs)."""
    import json
    import nova.conf
    path = os.path.join(os.environ.get("LAB_DIR", "/run/lifeboat-lab"), "hosts", str(nova.conf.CONF.host), "nova", "capacity.json")
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


class LabLibvirtDriver(fake.FakeDriverWithoutFakeNodes):
    def __init__(self, virtapi, read_only=False):
        size = capacity()
        if size:
            self.vcpus, self.memory_mb, self.local_gb = size["vcpus"], size["memory_mb"], size["local_gb"]
        super().__init__(virtapi, read_only)

    def spawn(self, context, instance, *args, **kwargs):
        super().spawn(context, instance, *args, **kwargs)
        if real(instance) and kwargs.get("power_on", True):
            start(instance)

    def destroy(self, context, instance, *args, **kwargs):
        super().destroy(context, instance, *args, **kwargs)
        if real(instance):
            stop(instance)
            virsh("undefine", name(instance))

    def power_off(self, instance, *args, **kwargs):
        super().power_off(instance, *args, **kwargs)
        if real(instance):
            stop(instance)

    def power_on(self, context, instance, *args, **kwargs):
        super().power_on(context, instance, *args, **kwargs)
        if real(instance):
            start(instance)

    def reboot(self, context, instance, network_info, reboot_type, *args, **kwargs):
        super().reboot(context, instance, network_info, reboot_type, *args, **kwargs)
        if real(instance):
            stop(instance)
            start(instance)
