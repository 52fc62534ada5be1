"""The aarch64 machine's image checks, on small images made here (no qemu, no root):
what `lseprof vm run` refuses and what it says to do, the initramfs archive, the
qemu command line, and the usage errors of `lseprof vm`.

The images are real in layout (the manifest is written by the same code as `make`
writes it) but hold a few bytes per file; the machine itself boots in tests/e2e/test_vm.py.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import lseprof.emulation.vm.guest as vm_guest
import lseprof.emulation.vm.host as vm_host
import lseprof.emulation.vm.image as vm_image
import lseprof.emulation.vm.initramfs as vm_initramfs
from lseprof.emulation.vm import Share, image_problems, qemu_command, remake_hint, require_image
from lseprof.errors import LseprofError
from tests.helpers import LSEPROF, assert_one_line_error, run

KEY_FILES = vm_image.KEY_FILES


def _make_small_image(path: Path) -> Path:
    """An image as `make` lays it out, with small files (the erofs one 5 MiB, so that
    its quick digest leaves some bytes out, as it does for the real 400 MB one)."""
    path.mkdir(parents=True)
    (path / "vmlinuz").write_bytes(b"kernel" * 1000)
    (path / "initramfs.gz").write_bytes(gzip.compress(b"cpio", mtime=0))
    (path / "root.erofs").write_bytes(os.urandom(5 << 20))
    for key in KEY_FILES:
        (path / "root" / key).parent.mkdir(parents=True, exist_ok=True)
        (path / "root" / key).write_bytes(b"\x7fELF" + key.encode())
    manifest = vm_image.manifest_for(path, {"make_seconds": {"total": 1.0}})
    (path / "manifest.json").write_text(json.dumps(manifest))
    return path


@pytest.fixture()
def image(tmp_path: Path) -> Path:
    return _make_small_image(tmp_path / "vm-arm64")


def _vm_run(image: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LSEPROF_VM_IMAGE": str(image)}
    return run([LSEPROF, "vm", "run", *args], env=env, timeout=120)


def test_an_intact_image_has_no_problems(image: Path) -> None:
    assert image_problems(image) == []
    assert image_problems(image, full=True) == []
    assert require_image(image) == image


def test_a_changed_initramfs_is_refused(image: Path) -> None:
    data = bytearray((image / "initramfs.gz").read_bytes())
    data[-1] ^= 0xFF  # same size, other bytes
    (image / "initramfs.gz").write_bytes(bytes(data))
    assert image_problems(image) == ["initramfs.gz has changed since it was made"]


def test_a_missing_key_file_is_refused(image: Path) -> None:
    (image / "root/usr/bin/perf").unlink()
    assert "root/usr/bin/perf is missing" in image_problems(image)


def test_an_extra_file_in_the_root_is_refused(image: Path) -> None:
    (image / "root/etc").mkdir()
    (image / "root/etc/extra").write_text("x")
    assert image_problems(image) == ["the root file system (root/) differs from the manifest"]


def test_damage_the_quick_check_misses_is_found_by_the_full_one(image: Path) -> None:
    # A byte between the first and the middle MiB: only the full sha256 covers it.
    with open(image / "root.erofs", "r+b") as handle:
        handle.seek((1 << 20) + 10)
        byte = handle.read(1)
        handle.seek((1 << 20) + 10)
        handle.write(bytes([byte[0] ^ 0xFF]))
    assert image_problems(image) == []
    assert image_problems(image, full=True) == ["root.erofs has changed since it was made"]


def test_vm_make_verify_names_damage_the_quick_check_misses(image: Path) -> None:
    with open(image / "root.erofs", "r+b") as handle:
        handle.seek((1 << 20) + 10)
        handle.write(b"\0\0\0\0damage")
    env = {**os.environ, "LSEPROF_VM_IMAGE": str(image)}
    proc = run([LSEPROF, "vm", "make", "--verify"], env=env, timeout=120)
    assert_one_line_error(
        proc,
        "root.erofs has changed since it was made; run `",
        "lseprof vm make` to make it again",
    )


def test_a_truncated_root_image_is_refused(image: Path) -> None:
    with open(image / "root.erofs", "r+b") as handle:
        handle.truncate(1 << 20)
    assert image_problems(image) == ["root.erofs has changed since it was made"]


def test_an_image_made_with_other_pins_is_made_again(image: Path) -> None:
    manifest = json.loads((image / "manifest.json").read_text())
    manifest["pins"]["kernel"] = ["linux-image-6.1.0-50-arm64-unsigned", "6.1.176-1"]
    (image / "manifest.json").write_text(json.dumps(manifest))
    assert image_problems(image) == [f"{image} was made with other pins (kernel)"]


def test_a_directory_without_manifest_is_not_an_image(image: Path) -> None:
    (image / "manifest.json").unlink()
    assert image_problems(image) == [f"{image} is not a complete image (no readable manifest.json)"]
    assert remake_hint(image).startswith(f"remove {image}")


def test_a_missing_or_partial_image_names_what_happened(tmp_path: Path) -> None:
    image = tmp_path / "vm-arm64"
    assert image_problems(image) == [f"there is no image at {image}"]
    (tmp_path / "vm-arm64.partial").mkdir()
    assert "a make was cut short" in image_problems(image)[0]
    with pytest.raises(LseprofError) as caught:
        require_image(image)
    assert caught.value.exit_code == 2 and "lseprof vm make" in caught.value.message


def test_vm_run_refuses_a_damaged_image_with_the_command_that_remakes_it(image: Path) -> None:
    (image / "root/usr/bin/perf").unlink()
    proc = _vm_run(image, "--", "uname", "-m")
    assert_one_line_error(proc, "root/usr/bin/perf is missing", f"`{LSEPROF} vm make`")


def test_vm_run_refuses_a_partial_image(tmp_path: Path) -> None:
    (tmp_path / "vm-arm64.partial").mkdir()
    proc = _vm_run(tmp_path / "vm-arm64", "--", "true")
    assert_one_line_error(proc, "a make was cut short", "lseprof vm make")


def test_vm_make_refuses_to_replace_what_it_did_not_make(tmp_path: Path) -> None:
    other = tmp_path / "precious"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    env = {**os.environ, "LSEPROF_VM_IMAGE": str(other)}
    proc = run([LSEPROF, "vm", "make"], env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "is not an image lseprof made" in proc.stderr, proc.stderr
    assert (other / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ((), ["no command given"]),
        (("--cpu", "cortex-a53", "--", "true"), ["unknown --cpu 'cortex-a53'", "cortex-a57"]),
        (("--smp", "0", "--", "true"), ["--smp must be 1 or more"]),
        (("--share", "/tmp:x", "--", "true"), ["HOSTDIR:TAG:ro"]),
        (("--share", "/tmp:out:rw", "--", "true"), ["share tag 'out'"]),
    ],
)
def test_vm_run_usage_errors_are_one_line(
    image: Path, args: tuple[str, ...], words: list[str]
) -> None:
    assert_one_line_error(_vm_run(image, *args), *words)


def test_the_machine_is_emulated_with_tcg_not_kvm(tmp_path: Path) -> None:
    # An x86 host's KVM cannot run an aarch64 guest: no KVM is the normal case.
    share = Share.extra(tmp_path, "extra", writable=False)
    argv = qemu_command("qemu", tmp_path, tmp_path, [share], "max", 2, 1024)
    assert argv[argv.index("-accel") + 1] == "tcg,thread=multi"
    assert "-enable-kvm" not in argv and "kvm" not in " ".join(argv)
    assert f"local,id=fs1,path={tmp_path},security_model=none,multidevs=remap,readonly=on" in argv


def _newc_names(archive: bytes) -> list[str]:
    names, offset = [], 0
    while True:
        header = archive[offset : offset + 110]
        assert header[:6] == b"070701"
        size, name_size = int(header[54:62], 16), int(header[94:102], 16)
        name = archive[offset + 110 : offset + 110 + name_size - 1].decode()
        if name == "TRAILER!!!":
            return names
        names.append(name)
        offset += 110 + name_size
        offset += -offset % 4 + size
        offset += -offset % 4


def test_the_initramfs_is_deterministic_and_loads_every_module(tmp_path: Path) -> None:
    busybox = tmp_path / "busybox"
    busybox.write_bytes(b"\x7fELF busybox")
    modules = tmp_path / "lib/modules/6.1.0-57-arm64/kernel"
    for name in vm_initramfs.MODULES + vm_initramfs.BLOCK_MODULES:
        (modules / name).mkdir(parents=True)
        (modules / name / f"{name}.ko").write_bytes(name.encode())
    first, second = tmp_path / "a.gz", tmp_path / "b.gz"
    vm_initramfs.build_initramfs(busybox, tmp_path / "lib/modules", first)
    vm_initramfs.build_initramfs(busybox, tmp_path / "lib/modules", second)
    assert first.read_bytes() == second.read_bytes()
    names = _newc_names(gzip.decompress(first.read_bytes()))
    assert {"init", "bin/busybox", "dev/console", "lib/modules/9p.ko"} <= set(names)
    shutil.rmtree(modules / "erofs")
    with pytest.raises(LseprofError, match=r"no erofs\.ko"):
        vm_initramfs.build_initramfs(busybox, tmp_path / "lib/modules", first)


def test_a_pin_that_left_the_archive_says_to_update_the_pins(tmp_path: Path) -> None:
    if shutil.which("apt-get") is None:
        pytest.skip("not a Debian host: lseprof vm make needs apt")
    with pytest.raises(LseprofError) as caught:
        vm_host.apt_download(["linux-image-0.0.0-0-arm64-unsigned:arm64=0.0.0-0"], tmp_path)
    assert "sudo apt-get update" in caught.value.message
    assert "update the pins in profiler/lseprof/emulation/vm/pins.py" in caught.value.message


def test_a_failing_tool_is_one_line_with_its_last_words() -> None:
    with pytest.raises(LseprofError) as caught:
        vm_host.run_tool(["sh", "-c", "echo first >&2; echo last words >&2; exit 4"], "the tool")
    assert caught.value.message == "the tool failed (exit 4: first | last words)"
    with pytest.raises(LseprofError, match="no-such-tool is not installed; run `sudo bash"):
        vm_host.run_tool(["no-such-tool"], "it")


def test_without_qemu_the_fix_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LseprofError, match=r"qemu-system-aarch64 is not installed; run `sudo bash"):
        vm_host.find_qemu()
    old = tmp_path / "qemu-system-aarch64"
    old.write_text("#!/bin/sh\necho 'QEMU emulator version 7.2.19 (Debian 1:7.2+dfsg-7)'\n")
    old.chmod(0o755)
    with pytest.raises(LseprofError, match=r"qemu-system-aarch64 7\.2 is older than 10\.0"):
        vm_host.find_qemu()


def test_making_the_image_needs_root(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root, to become another user for a moment")
    # This process as nobody (its saved user id stays root, so it can come back).
    os.seteuid(65534)
    try:
        with pytest.raises(LseprofError) as caught:
            vm_image.make_image(tmp_path / "vm-arm64")
    finally:
        os.seteuid(0)
    assert caught.value.message == (
        "making the aarch64 machine needs root (mmdebstrap --mode=root); run "
        f"`sudo {LSEPROF} vm make`"
    )
    assert not (tmp_path / "vm-arm64.partial").exists()


def test_the_checkout_is_compiled_for_the_guest_once(tmp_path: Path) -> None:
    if sys.implementation.cache_tag != "cpython-311":
        pytest.skip("the host's CPython writes another .pyc format than the guest's 3.11")
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "mod.py").write_text("VALUE = 1\n")
    assert vm_guest.precompile_checkout(package) == 3
    assert vm_guest.precompile_checkout(package) == 0
    (package / "sub" / "mod.py").write_text("VALUE = 22\n")  # another size: stale
    assert vm_guest.precompile_checkout(package) == 1
    # CPython itself takes them: it names the .pyc it loads code from.
    proc = run(
        [sys.executable, "-v", "-c", "import pkg.sub.mod as m; print(m.VALUE)"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert proc.stdout == "22\n"
    assert f"code object from '{package}/sub/__pycache__/mod.cpython-311.pyc'" in proc.stderr
