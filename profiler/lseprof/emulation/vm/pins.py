"""What the aarch64 machine is made of: pinned Debian packages and PyPI wheels.

Every value here goes into the image's manifest (:func:`pins`); an image made with
other pins is made again by ``lseprof vm make`` and refused by ``lseprof vm run``.
Versions are those of Debian 12's archive on 2026-12-07. The kernel comes from
bookworm-security: its next upload brings a new ABI (a new package name) and the
archive drops this one, so `make` then fails with "update the pins" (see
docs/vm.md).
"""

from __future__ import annotations

import hashlib

SUITE = "bookworm"
# The image's layout; bump it when what `make` writes changes shape.
IMAGE_FORMAT = "lseprof-vm/1"

QEMU_PACKAGE = "qemu-system-arm"
# The version everything was measured with (bookworm-backports); recorded, not forced.
QEMU_TESTED = "1:10.0.2+ds-2+deb13u1~bpo12+1"
# Older qemu (bookworm's own 7.2) was never tried with this machine.
MIN_QEMU = (10, 0)

KERNEL_ABI = "6.1.0-57"
KERNEL_PACKAGE = f"linux-image-{KERNEL_ABI}-arm64-unsigned"
KERNEL_VERSION = "6.1.192-3"
BUSYBOX_STATIC = ("busybox-static", "1:1.35.0-4+deb12u1+b1")

# Top-level packages of the root file system, exact versions; their dependencies are
# resolved by apt and recorded in the manifest. linux-perf matches the kernel.
ROOTFS_PINS = {
    "linux-perf": KERNEL_VERSION,
    "python3": "3.11.2-1+b1",
    "python3.11": "3.11.2-6+deb12u9",
    "busybox": "1:1.35.0-4+deb12u1+b1",
    # perf script/report run addr2line to name inlined frames of dwarf call graphs.
    "binutils": "2.40-2",
}

# lseprof's own dependencies for the guest, aarch64 wheels from PyPI. Lean on purpose:
# matplotlib (dashboard), scipy (USL fit) and psycopg (PostgreSQL store) are imported
# lazily by analysis-side code only and would add ~270 MB (see docs/vm.md).
SITE_PACKAGES = (
    "typer",
    "rich",
    "pandas",
    "numpy",
    "pyelftools",
    "capstone",
    "platformdirs",
    "protobuf",
)
# What they resolved to: passed to pip as constraints, so every make gets these.
SITE_LOCK = {
    "annotated-doc": "0.0.7",
    "annotated-types": "0.8.0",
    "capstone": "5.0.9",
    "markdown-it-py": "4.3.0",
    "mdurl": "0.1.2",
    "numpy": "2.4.6",
    "pandas": "3.1.1",
    "platformdirs": "4.14.9",
    "protobuf": "7.36.2",
    "pydantic": "2.14.4",
    "pydantic-core": "2.50.5",
    "pyelftools": "0.33",
    "pygments": "2.21.0",
    "python-dateutil": "4.0.0",
    "rich": "15.0.0",
    "shellingham": "1.5.4",
    "typer": "0.29.2",
    "typing-extensions": "4.16.0",
    "typing-inspection": "0.4.5",
    "tzdata": "2026.6",
}
PIP_PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_17_aarch64", "manylinux_2_28_aarch64")
GUEST_PYTHON = "3.11"


def pins(*extra: str) -> dict[str, object]:
    """Everything an image is made from, as recorded in its manifest. ``extra``: texts
    that shape the image too (the init script, the lseprof wrapper), by digest."""
    digest = hashlib.sha256("\0".join(extra).encode()).hexdigest()
    return {
        "format": IMAGE_FORMAT,
        "kernel": [KERNEL_PACKAGE, KERNEL_VERSION],
        "busybox_static": list(BUSYBOX_STATIC),
        "rootfs": dict(ROOTFS_PINS),
        "site": [list(SITE_PACKAGES), dict(sorted(SITE_LOCK.items()))],
        "scripts": digest,
    }
