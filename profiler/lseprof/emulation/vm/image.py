"""The machine's image: made from the pins, checked against its manifest.

An image is a directory (``data/vm-arm64`` by default, ``$LSEPROF_VM_IMAGE`` wins):

* ``vmlinuz``: Debian's arm64 kernel, as shipped; ``kernel.config`` beside it;
* ``initramfs.gz``: stage 1 (:mod:`.initramfs`);
* ``root/``: the root file system (:mod:`.rootfs`), kept for symbolizing the guest's
  binaries on the host;
* ``root.erofs``: the same tree as a read-only erofs image, the guest's root on
  virtio-blk (a cold ``find`` of 14k entries: 10 s, against 62 s over 9p);
* ``manifest.json``: the pins, every .deb's version and sha256, the sha256 of the
  three boot files, a digest of root/'s tree, sizes and make times.

``make`` works in ``DIR.partial`` and renames it when done, so an interrupted make
never leaves something that looks like an image.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lseprof.emulation.vm.digests import disk_usage, quick_digest, sha256_file, tree_digest
from lseprof.emulation.vm.host import (
    apt_download,
    deb_record,
    extract_members,
    installed_version,
    is_root,
    run_tool,
)
from lseprof.emulation.vm.initramfs import (
    BLOCK_MODULES,
    GUEST_BUSYBOX,
    MODULES,
    build_initramfs,
    stage1,
)
from lseprof.emulation.vm.pins import (
    BUSYBOX_STATIC,
    IMAGE_FORMAT,
    KERNEL_ABI,
    KERNEL_PACKAGE,
    KERNEL_VERSION,
    QEMU_PACKAGE,
    pins,
)
from lseprof.emulation.vm.rootfs import (
    SITE,
    WRAPPER,
    WRAPPER_PATH,
    build_rootfs,
    finish_rootfs,
    pip_site,
    precompile,
)
from lseprof.errors import LseprofError
from lseprof.paths import data_dir

MANIFEST = "manifest.json"
ROOT_IMAGE = "root.erofs"
BOOT_FILES = ("vmlinuz", "initramfs.gz", ROOT_IMAGE)
KEY_FILES = (
    GUEST_BUSYBOX,
    "bin/busybox",
    "bin/sh",
    "usr/bin/python3.11",
    "usr/bin/perf",
    "lib/ld-linux-aarch64.so.1",
    WRAPPER_PATH,
)
# Written into DIR.partial while make runs: a directory with it is ours to replace.
MARKER = ".lseprof-vm-partial"
# One step each, in this order: what `make` reports as it goes.
MAKE_STEPS = (
    "kernel and initramfs",
    "root file system (mmdebstrap)",
    "guest Python packages (pip)",
    "erofs image",
)


@dataclass(frozen=True)
class ImageInfo:
    """An intact image: where it is, what it takes on disk, how it was made."""

    path: Path
    disk_bytes: int
    sizes: dict[str, int]
    make_seconds: dict[str, float]
    boot_seconds: float | None
    made_now: bool


def make_command(sudo: bool = True) -> str:
    """The command that makes the image, as the user can paste it: this lseprof's own
    script (sudo's PATH does not have a venv), with sudo when not root."""
    script = Path(sys.executable).with_name("lseprof")
    command = f"{script if script.is_file() else 'lseprof'} vm make"
    return f"sudo {command}" if sudo and not is_root() else command


def image_dir() -> Path:
    """Where the image lives: ``$LSEPROF_VM_IMAGE``, else ``vm-arm64`` in the data dir."""
    env = os.environ.get("LSEPROF_VM_IMAGE")
    return Path(env) if env else data_dir() / "vm-arm64"


def current_pins() -> dict[str, object]:
    return pins(stage1(), WRAPPER)


def read_manifest(image: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads((image / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def remake_hint(image: Path) -> str:
    """The command that makes the image again (and what to remove first, if needed)."""
    if image.is_dir() and not (image / MANIFEST).exists() and any(image.iterdir()):
        return f"remove {image} (it is not an image lseprof made), then run `{make_command()}`"
    again = " again" if image.exists() else ""
    return f"run `{make_command()}` to make it{again}"


def _pin_differences(recorded: object) -> list[str]:
    now = current_pins()
    if not isinstance(recorded, dict):
        return ["all"]
    return [key for key in now if recorded.get(key) != now[key]]


def _file_problems(image: Path, manifest: dict[str, Any], full: bool) -> list[str]:
    found = []
    files = manifest.get("files", {})
    for name in BOOT_FILES:
        record, path = files.get(name, {}), image / name
        if not path.is_file():
            found.append(f"{name} is missing")
        elif (
            path.stat().st_size != record.get("size")
            or quick_digest(path) != record.get("quick")
            or (full and sha256_file(path) != record.get("sha256"))
        ):
            found.append(f"{name} has changed since it was made")
    found += [f"root/{key} is missing" for key in KEY_FILES if not (image / "root" / key).exists()]
    return found


def image_problems(image: Path, full: bool = False) -> list[str]:
    """What is wrong with the image at ``image`` ([] if it is intact and made with
    today's pins). Quick (about a second) unless ``full``, which hashes every byte."""
    if not image.exists():
        partial = image.with_name(image.name + ".partial")
        if partial.exists():
            return [f"there is no image at {image} (a make was cut short: {partial})"]
        return [f"there is no image at {image}"]
    manifest = read_manifest(image)
    if manifest is None:
        return [f"{image} is not a complete image (no readable {MANIFEST})"]
    if manifest.get("format") != IMAGE_FORMAT:
        return [f"{image} has the layout {manifest.get('format')!r}, not {IMAGE_FORMAT!r}"]
    changed = _pin_differences(manifest.get("pins"))
    if changed:
        return [f"{image} was made with other pins ({', '.join(changed)})"]
    found = _file_problems(image, manifest, full)
    if not found and tree_digest(image / "root") != manifest.get("rootfs"):
        found.append("the root file system (root/) differs from the manifest")
    return found


def require_image(image: Path | None = None) -> Path:
    """The intact image, or a user error naming what is wrong and the command that
    makes it again."""
    image = image or image_dir()
    found = image_problems(image)
    if found:
        raise LseprofError(
            f"the aarch64 machine cannot start: {found[0]}; {remake_hint(image)}", exit_code=2
        )
    return image


def image_info(image: Path, made_now: bool = False) -> ImageInfo:
    manifest = read_manifest(image) or {}
    sizes = {str(k): int(v) for k, v in manifest.get("sizes", {}).items()}
    return ImageInfo(
        path=image,
        disk_bytes=disk_usage(image),
        sizes=sizes,
        make_seconds={str(k): float(v) for k, v in manifest.get("make_seconds", {}).items()},
        boot_seconds=manifest.get("boot_seconds"),
        made_now=made_now,
    )


def record_boot_seconds(image: Path, seconds: float) -> None:
    """Keep the boot-to-command time measured after make in the manifest (not hashed)."""
    manifest = read_manifest(image)
    if manifest is not None:
        manifest["boot_seconds"] = round(seconds, 2)
        (image / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")


def ensure_image(
    step: Callable[[str], None] = lambda _s: None, image: Path | None = None
) -> ImageInfo:
    """The image, made when absent, damaged or made with other pins; quick when intact."""
    image = image or image_dir()
    if not image_problems(image):
        return image_info(image)
    make_image(image, step)
    return image_info(image, made_now=True)


def _check_can_make(image: Path) -> None:
    if not is_root():
        raise LseprofError(
            f"making the aarch64 machine needs root (mmdebstrap --mode=root); run "
            f"`sudo {make_command(sudo=False)}`"
        )
    if image.is_dir() and not (image / MANIFEST).exists() and any(image.iterdir()):
        raise LseprofError(
            f"{image} exists and is not an image lseprof made; remove it or set "
            f"LSEPROF_VM_IMAGE to another directory, then run `{make_command()}`"
        )


def _boot_files(work: Path) -> dict[str, dict[str, str]]:
    """vmlinuz, kernel.config, initramfs.gz and the static busybox, from two .debs."""
    debs, scratch = work / "debs", work / "scratch"
    debs.mkdir()
    apt_download(
        [
            f"{KERNEL_PACKAGE}:arm64={KERNEL_VERSION}",
            f"{BUSYBOX_STATIC[0]}:arm64={BUSYBOX_STATIC[1]}",
        ],
        debs,
    )
    records = dict(deb_record(deb) for deb in sorted(debs.glob("*.deb")))
    wanted = {
        f"boot/vmlinuz-{KERNEL_ABI}-arm64",
        f"boot/config-{KERNEL_ABI}-arm64",
        "bin/busybox",
        *[f"{m}.ko" for m in MODULES + BLOCK_MODULES],
    }
    for deb in debs.glob("*.deb"):
        extract_members(deb, scratch, wanted)
    vmlinuz = scratch / f"boot/vmlinuz-{KERNEL_ABI}-arm64"
    if not vmlinuz.is_file():
        raise LseprofError(f"{KERNEL_PACKAGE} has no {vmlinuz.name}; update the pins")
    shutil.copyfile(vmlinuz, work / "vmlinuz")
    shutil.copyfile(scratch / f"boot/config-{KERNEL_ABI}-arm64", work / "kernel.config")
    build_initramfs(scratch / "bin/busybox", scratch / "lib/modules", work / "initramfs.gz")
    shutil.copyfile(scratch / "bin/busybox", work / "busybox-static")
    shutil.rmtree(scratch)
    shutil.rmtree(debs)
    return records


def _erofs(work: Path) -> None:
    # Uncompressed (reads cost emulated CPU), mtimes kept: the .pyc files are checked
    # against their sources' mtimes, and with -T0 every import compiled from source.
    run_tool(
        [
            "mkfs.erofs",
            "--quiet",
            "--preserve-mtime",
            "--all-root",
            "-x-1",
            "-U",
            "6c736570-726f-6600-766d-000000000001",
            str(work / ROOT_IMAGE),
            str(work / "root"),
        ],
        "mkfs.erofs",
    )


def _sizes(work: Path) -> dict[str, int]:
    root, site = disk_usage(work / "root"), disk_usage(work / "root" / SITE)
    return {
        "vmlinuz": (work / "vmlinuz").stat().st_size,
        "initramfs.gz": (work / "initramfs.gz").stat().st_size,
        "root/ without /opt/site": root - site,
        "/opt/site": site,
        ROOT_IMAGE: (work / ROOT_IMAGE).stat().st_size,
    }


def _host_tools() -> dict[str, str]:
    return {p: installed_version(p) or "?" for p in (QEMU_PACKAGE, "mmdebstrap", "erofs-utils")}


def make_image(image: Path, step: Callable[[str], None] = lambda _s: None) -> None:
    """Make the image at ``image`` from the pins (about a minute; needs root, apt's
    arm64 lists and PyPI). ``step`` is told each of :data:`MAKE_STEPS` as it starts.
    Made in ``DIR.partial``, removed again if the make fails or is interrupted."""
    _check_can_make(image)
    work = image.with_name(image.name + ".partial")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    (work / MARKER).write_text("an unfinished `lseprof vm make`\n")
    try:
        manifest = _make_in(work, step)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    (work / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    (work / MARKER).unlink()
    if image.exists():
        shutil.rmtree(image)
    work.rename(image)


def _make_in(work: Path, step: Callable[[str], None]) -> dict[str, object]:
    """Every step of make, in ``work``; the manifest."""
    laps: dict[str, float] = {}
    started = clock = time.monotonic()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.monotonic()
        laps[name] = round(now - clock, 1)
        clock = now

    step(MAKE_STEPS[0])
    boot_debs = _boot_files(work)
    lap(MAKE_STEPS[0])
    step(MAKE_STEPS[1])
    packages = build_rootfs(work / "root")
    finish_rootfs(work / "root", work / "busybox-static")
    (work / "busybox-static").unlink()
    pyc = precompile(work / "root", ["usr/lib/python3.11", "usr/lib/python3/dist-packages"])
    lap(MAKE_STEPS[1])
    step(MAKE_STEPS[2])
    wheels = pip_site(work / "root")
    lap(MAKE_STEPS[2])
    step(MAKE_STEPS[3])
    missing = [key for key in KEY_FILES if not (work / "root" / key).exists()]
    if missing:
        raise LseprofError(f"the root file system has no /{missing[0]}; update the pins")
    _erofs(work)
    lap(MAKE_STEPS[3])
    facts = {
        "host_tools": _host_tools(),
        "boot_packages": boot_debs,
        "rootfs_packages": packages,
        "site_packages": wheels,
        "pyc": pyc,
        "make_seconds": {**laps, "total": round(time.monotonic() - started, 1)},
    }
    return manifest_for(work, facts)


def manifest_for(work: Path, facts: dict[str, object]) -> dict[str, object]:
    """The manifest of the image made in ``work``: today's pins, the digests a run and
    ``verify`` check, sizes, and ``facts`` (what make learned on the way)."""
    return {
        "format": IMAGE_FORMAT,
        "pins": current_pins(),
        "made": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "files": {name: _file_record(work / name) for name in BOOT_FILES},
        "rootfs": tree_digest(work / "root"),
        "sizes": _sizes(work),
        **facts,
    }


def _file_record(path: Path) -> dict[str, object]:
    return {"size": path.stat().st_size, "sha256": sha256_file(path), "quick": quick_digest(path)}
