"""The initramfs: a static busybox, a dozen kernel modules and ``/init`` (stage 1).

Debian's arm64 kernel has virtio-pci, 9p, virtio-blk and erofs as modules, and its
package has no modules.dep: the .ko files are loaded in dependency order by hand.
The archive is written here (newc cpio, mtime 0, gzip mtime 0): the same inputs give
the same sha256.
"""

from __future__ import annotations

import gzip
import stat
from pathlib import Path

from lseprof.errors import LseprofError

# Loaded in this order: each needs the ones before it.
MODULES = (
    "virtio_pci_legacy_dev",
    "virtio_pci_modern_dev",
    "virtio_pci",
    "netfs",
    "fscache",
    "9pnet",
    "9pnet_virtio",
    "9p",
)
# The root as a read-only erofs image on virtio-blk: libcrc32c needs a crc32c
# implementation loaded first, and there is no modprobe to find one.
BLOCK_MODULES = ("crc32c_generic", "libcrc32c", "erofs", "virtio_blk")
# Where the root file system keeps a static busybox for the run's scripts: execs of
# dynamically linked programs are slow before the page cache is warm.
GUEST_BUSYBOX = "usr/libexec/lseprof-vm/busybox"

# Stage 1: modules, the root (read-only) and the run's control share; then the run's
# /ctl/setup.sh is sourced here, with busybox in RAM (about 20 execs over 9p took
# 3.5 s), and the run's /ctl/init.sh becomes PID 1 in the new root.
STAGE1 = r"""#!/bin/busybox sh
bb=/bin/busybox
R=/newroot
fail() { echo "LSEPROF-VM-FAIL: stage1: $*" > /dev/console; $bb poweroff -f; }
$bb mount -t proc proc /proc
$bb mount -t sysfs sysfs /sys
$bb mount -t devtmpfs devtmpfs /dev
for m in @MODULES@ @BLOCK_MODULES@; do
    $bb insmod /lib/modules/$m.ko || fail "insmod $m"
done
n=0
while [ ! -b /dev/vda ] && [ $n -lt 100 ]; do $bb usleep 20000; n=$((n+1)); done
$bb mount -t erofs -o ro /dev/vda $R || fail "mount the root (erofs on /dev/vda)"
$bb mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 ctl $R/ctl || fail "mount ctl"
[ -r $R/ctl/setup.sh ] || fail "no /ctl/setup.sh"
. $R/ctl/setup.sh
$bb mount --move /proc $R/proc
$bb mount --move /sys $R/sys
$bb mount --move /dev $R/dev
exec $bb switch_root $R /@BUSYBOX@ sh /ctl/init.sh
fail "switch_root"
"""


def stage1() -> str:
    return (
        STAGE1.replace("@MODULES@", " ".join(MODULES))
        .replace("@BLOCK_MODULES@", " ".join(BLOCK_MODULES))
        .replace("@BUSYBOX@", GUEST_BUSYBOX)
    )


def cpio_newc(entries: list[tuple[str, int, bytes, tuple[int, int]]]) -> bytes:
    """A newc cpio archive (what the kernel unpacks) of (name, mode, data, rdev)."""
    out = bytearray()

    def header(ino: int, name: str, mode: int, size: int, rdev: tuple[int, int]) -> None:
        raw = name.encode() + b"\0"
        fields = (ino, mode, 0, 0, 1, 0, size, 0, 0, rdev[0], rdev[1], len(raw), 0)
        out.extend(b"070701" + b"".join(b"%08X" % f for f in fields) + raw)
        out.extend(b"\0" * (-len(out) % 4))

    for ino, (name, mode, data, rdev) in enumerate(entries, start=1):
        header(ino, name, mode, len(data), rdev)
        out.extend(data)
        out.extend(b"\0" * (-len(out) % 4))
    header(0, "TRAILER!!!", 0, 0, (0, 0))
    out.extend(b"\0" * (-len(out) % 512))
    return bytes(out)


def build_initramfs(busybox: Path, modules_root: Path, dest: Path) -> None:
    """Write ``dest`` from a static aarch64 busybox and the kernel's unpacked modules."""
    found = {path.stem: path for path in modules_root.rglob("*.ko")}
    missing = [m for m in MODULES + BLOCK_MODULES if m not in found]
    if missing:
        raise LseprofError(
            f"the kernel package has no {', '.join(missing)}.ko; the module list in "
            "profiler/lseprof/emulation/vm/initramfs.py does not fit the pinned kernel"
        )
    directory, program = stat.S_IFDIR | 0o755, stat.S_IFREG | 0o755
    entries = [
        (name, directory, b"", (0, 0))
        for name in ("bin", "dev", "lib", "lib/modules", "proc", "sys", "newroot")
    ]
    # The kernel opens /dev/console before /init runs, before devtmpfs is mounted.
    entries.append(("dev/console", stat.S_IFCHR | 0o600, b"", (5, 1)))
    entries.append(("bin/busybox", program, busybox.read_bytes(), (0, 0)))
    entries += [
        (f"lib/modules/{m}.ko", stat.S_IFREG | 0o644, found[m].read_bytes(), (0, 0))
        for m in MODULES + BLOCK_MODULES
    ]
    entries.append(("init", program, stage1().encode(), (0, 0)))
    dest.write_bytes(gzip.compress(cpio_newc(entries), compresslevel=6, mtime=0))
