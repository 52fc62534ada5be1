"""An aarch64 user space for emulation, made from Debian's own arm64 packages.

qemu user mode runs a dynamically linked aarch64 program only with an aarch64
dynamic loader and libraries to load (``qemu-aarch64 -L DIR``). This builds DIR
from a pinned list of this Debian release's arm64 packages, fetched with
``apt-get download PKG:arm64`` and unpacked with ``dpkg -x`` (nothing is
installed): libc with its loader and debug symbols, CPython 3.11 with its standard
library and the debug symbols of that interpreter, and two multi-threaded programs
(zstd, xz) used by the tests.

Debian ships the interpreter stripped; its symbols are in ``python3.11-dbg`` as
``/usr/lib/debug/.build-id/NN/REST.debug``, where lseprof's guest symbolizer looks
them up by build-id. Only that directory of the package is kept (the rest is a
debug build of CPython that nothing runs): without it about a fifth of the guest
samples of a Python program stay unnamed.

One consistent copy of libc and loader comes with it on purpose: mixing the cross
toolchain's loader with the multiarch libc hangs ``pthread_create``.

``manifest.json`` records every .deb (version, sha256) and every unpacked file
(size, sha256): a second call only checks the sizes; ``verify`` re-hashes all.
On an aarch64 host nothing of this is made or used.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from lseprof.errors import LseprofError
from lseprof.paths import data_dir

PACKAGES = (
    "libc6",
    "libc6-dbg",
    "libgcc-s1",
    "libstdc++6",
    "zlib1g",
    "liblzma5",
    "libzstd1",
    "libbz2-1.0",
    "libexpat1",
    "libffi8",
    "libssl3",
    "libsqlite3-0",
    "libuuid1",
    "libncursesw6",
    "libtinfo6",
    "libreadline8",
    "libcrypt1",
    "libdb5.3",
    "libnsl2",
    "libtirpc3",
    "libgssapi-krb5-2",
    "libkrb5-3",
    "libk5crypto3",
    "libkrb5support0",
    "libcom-err2",
    "libkeyutils1",
    "media-types",
    "python3.11-minimal",
    "libpython3.11-minimal",
    "libpython3.11-stdlib",
    "zstd",
    "liblz4-1",
    "xz-utils",
    "python3.11-dbg",
)
# Packages wanted for their debug files only: just this directory of each is kept.
DEBUG_ONLY = {"python3.11-dbg": "usr/lib/debug/.build-id"}
ARCH_ALL = ("media-types",)  # architecture-independent: no ":arm64" suffix
MANIFEST = "manifest.json"
PYTHON = "usr/bin/python3.11"


def sysroot_dir() -> Path:
    return data_dir() / "sysroot-arm64"


def _fix(message: str) -> LseprofError:
    return LseprofError(message, exit_code=2)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_arch() -> None:
    try:
        foreign = subprocess.run(
            ["dpkg", "--print-foreign-architectures"], capture_output=True, text=True, check=False
        ).stdout.split()
    except OSError:
        raise _fix(
            "dpkg is not available: the aarch64 sysroot is made from Debian packages; "
            "on another system give qemu a sysroot yourself"
        ) from None
    if "arm64" not in foreign:
        raise _fix(
            "Debian's arm64 packages are not enabled; run `sudo dpkg --add-architecture "
            "arm64 && sudo apt-get update`, then `lseprof sysroot`"
        )


def _download(debs: Path) -> None:
    names = [p if p in ARCH_ALL else f"{p}:arm64" for p in PACKAGES]
    proc = subprocess.run(
        ["apt-get", "download", *names], cwd=debs, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        last = [ln for ln in proc.stderr.splitlines() if ln.startswith("E:")][-1:] or [
            f"exit code {proc.returncode}"
        ]
        raise _fix(
            f"apt-get download of the arm64 packages failed ({last[0]}); run "
            "`sudo apt-get update` (the package lists may be stale or offline), then "
            "`lseprof sysroot`"
        )


def _file_list(root: Path) -> dict[str, list[object]]:
    files: dict[str, list[object]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and path.name != MANIFEST:
            files[str(path.relative_to(root))] = [path.stat().st_size, _sha256(path)]
    return files


def problems(root: Path, full: bool = False) -> list[str]:
    """What is wrong with the sysroot at ``root`` ([] if it is intact). Without
    ``full`` only presence and sizes are checked (fast enough for every run)."""
    try:
        manifest = json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError):
        return [f"{root} has no readable {MANIFEST}"]
    if sorted(manifest.get("packages", {})) != sorted(PACKAGES):
        return ["its package list differs from this lseprof's"]
    found = []
    for rel, (size, digest) in manifest.get("files", {}).items():
        path = root / rel
        if not path.is_file():
            found.append(f"{rel} is missing")
        elif path.stat().st_size != size or (full and _sha256(path) != digest):
            found.append(f"{rel} has changed")
        if len(found) >= 3:
            break
    return found


def unpack_package(deb: Path, into: Path) -> None:
    proc = subprocess.run(["dpkg", "-x", str(deb), str(into)], capture_output=True, text=True)
    if proc.returncode != 0:
        # A download cut short, or a disk that is full: say which package, not a traceback.
        detail = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise _fix(
            f"dpkg -x {deb.name} failed ({detail}); run `sudo apt-get update` and "
            "`lseprof sysroot` again"
        )


def unpack_part(deb: Path, part: str, scratch: Path, tree: Path) -> None:
    """Only ``part`` of the package (python3.11-dbg: its build-id debug files)."""
    unpack_package(deb, scratch)
    if not (scratch / part).is_dir():
        raise _fix(f"{deb.name} has no {part}; run `sudo apt-get update` and `lseprof sysroot`")
    shutil.copytree(scratch / part, tree / part, dirs_exist_ok=True)
    shutil.rmtree(scratch)


def ensure_sysroot(
    report: Callable[[str], None] = lambda _m: None, root: Path | None = None
) -> Path:
    """The sysroot, made on first use (a minute: ~40 MB of packages); reused after."""
    root = root or sysroot_dir()
    if (root / MANIFEST).is_file():
        found = problems(root)
        if not found:
            return root
        report(f"sysroot {root}: {found[0]}; making it again")
    _check_arch()
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        raise _fix("apt-get and dpkg are needed to make the aarch64 sysroot (Debian/Ubuntu)")
    report(f"making the aarch64 sysroot in {root} from {len(PACKAGES)} Debian arm64 packages")
    root.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="sysroot-", dir=root.parent))
    try:
        debs = work / "debs"
        tree = work / "root"
        debs.mkdir()
        _download(debs)
        packages = {}
        for deb in sorted(debs.glob("*.deb")):
            name, version = deb.name.split("_")[:2]
            packages[name] = {"version": version.replace("%3a", ":"), "sha256": _sha256(deb)}
            if name in DEBUG_ONLY:
                unpack_part(deb, DEBUG_ONLY[name], work / name, tree)
            else:
                unpack_package(deb, tree)
        missing = sorted(set(PACKAGES) - set(packages))
        if missing:
            raise _fix(
                f"apt-get download gave no {', '.join(missing)}; run "
                "`sudo apt-get update` and `lseprof sysroot`"
            )
        manifest = {"packages": packages, "files": _file_list(tree)}
        (tree / MANIFEST).write_text(json.dumps(manifest, indent=1))
        if root.exists():
            shutil.rmtree(root)
        tree.rename(root)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return root
