"""The full-system aarch64 machine, booted: `lseprof vm run` end to end.

Each test boots the image that `make test` makes (`lseprof vm make`, in data/vm-arm64)
once: about 6-13 s of boot on a 2-core x86 host, under TCG (an x86 host has no KVM
for an aarch64 guest). Missing image or qemu: skipped here, failed under CI=true.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import time
from pathlib import Path

import pytest

import lseprof.emulation.vm.image as vm_image
from lseprof.capture.build import host_arch, host_is_aarch64
from lseprof.emulation.vm import image_dir, image_problems
from tests.helpers import AARCH64_BIN, LSEPROF, REPO, assert_one_line_error, needs_tool, run

pytestmark = [
    pytest.mark.skipif(host_is_aarch64(), reason="an aarch64 host needs no emulated machine"),
    needs_tool(
        "the aarch64 machine (qemu-system-aarch64 and its image)",
        not image_problems(image_dir()) and os.path.exists("/usr/bin/qemu-system-aarch64"),
        "make test makes it: sudo bash scripts/install-system.sh && sudo .venv/bin/lseprof vm make",
    ),
]


def _vm(out: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return run([LSEPROF, "vm", "run", "--out", out, *args], timeout=timeout)


def _finished_perf_data(path: Path) -> bool:
    """perf writes the data section's size into the header when it ends cleanly."""
    header = path.read_bytes()[:64]
    magic, _size, _attr_size, _attrs_at, _attrs_size, _data_at, data_size = struct.unpack(
        "<8s6Q", header[:56]
    )
    return magic == b"PERFILE2" and data_size > 0


def test_the_machine_is_aarch64(tmp_path: Path) -> None:
    proc = _vm(tmp_path, "--", "sh", "-c", "uname -m; ls /mnt")
    assert proc.returncode == 0 and proc.stdout.startswith("aarch64\n"), proc.stderr
    # Nothing from qemu or the guest's console on stderr: no KVM is the normal case.
    assert proc.stderr == ""
    # Without --coherence no plugin: its share is not mounted, it wrote no file.
    assert "lseprof-coherence" not in proc.stdout and not list(tmp_path.iterdir())


def test_streams_and_exit_status_pass_through(tmp_path: Path) -> None:
    script = "echo out; echo err >&2; printf '%s|' \"$@\"; exit 3"
    proc = _vm(tmp_path, "--", "sh", "-c", script, "sh", "a b", "c'd", "*")
    assert proc.returncode == 3
    assert proc.stdout == "out\na b|c'd|*|"
    assert proc.stderr == "err\n"


def test_lseprof_doctor_inside_finds_the_pmu_and_both_call_graphs(tmp_path: Path) -> None:
    script = "lseprof build --list --json > builds.json && exec lseprof doctor --json"
    proc = _vm(tmp_path, "--", "sh", "-c", script)
    # cargo is not in the machine (exit 1 for a missing requirement); the rest is JSON.
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads(proc.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert report["arch"] == "aarch64"
    assert checks["perf"]["status"] == "ok"
    assert checks["event cycles"]["status"] == "ok"
    for mode in ("fp", "dwarf"):
        assert checks[f"call graph {mode}"] == {
            "name": f"call graph {mode}",
            "status": "ok",
            "detail": "works with cycles",
            "fix": "",
        }
    assert checks["perf_event_paranoid"]["detail"] == "-1"
    assert checks["scheduler tracepoints (--sched)"]["status"] == "ok"
    assert checks["data files"]["status"] == "ok", checks["data files"]
    # The aarch64 builds run here; only the x86 host builds are foreign.
    assert "aarch64" not in checks["native builds"]["detail"], checks["native builds"]
    assert "rust std for aarch64" not in checks and "qemu-aarch64 with -perfmap" not in checks
    # On aarch64 the host builds made on this host are not aarch64, and say so.
    builds = json.loads((tmp_path / "builds.json").read_text())
    assert {b["target"]: b["arch"] for b in builds} == {
        "host": host_arch(),
        "aarch64": "aarch64",
        "aarch64-lse": "aarch64",
    }
    assert {b["atomics"] for b in builds if b["target"] != "aarch64-lse"} == {"native", "outline"}


def test_perf_record_inside_leaves_perf_data_on_the_host(tmp_path: Path) -> None:
    loop = "i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done"
    proc = _vm(
        tmp_path,
        "--",
        "perf", "record", "-q", "-e", "cycles", "-F", "999", "-g", "-o", "perf.data",
        "--", "sh", "-c", loop,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = tmp_path / "perf.data"
    assert _finished_perf_data(data)
    header = run(["perf", "report", "--header-only", "-i", data])
    assert "arch : aarch64" in header.stdout, header.stdout + header.stderr
    samples = run(["perf", "script", "-F", "comm,event", "-i", data])
    assert samples.stdout.count("cycles") > 20, samples.stderr


def test_lseprof_inside_and_on_this_host_read_a_profile_alike(tmp_path: Path) -> None:
    """The laptop flow: recorded in the machine, `lseprof report` there and here (the
    guest's kallsyms and the binary handed over) agree on every category within 0.1
    point and on the helpers; `inspect` there and here see the same atomics."""
    guest_bin = f"/project/{AARCH64_BIN.relative_to(REPO)}"
    script = (
        f"perf record -q -e cycles -F 999 -g -o perf.data -- {guest_bin} 2 600 > program.out"
        " && cat /proc/kallsyms > kallsyms"
        f" && lseprof inspect {guest_bin} --json > inspect.json"
        " && exec lseprof report perf.data --json"
    )
    proc = _vm(tmp_path, "--", "sh", "-c", script, timeout=600)
    assert proc.returncode == 0, proc.stderr
    inside = json.loads(proc.stdout)
    here_proc = run(
        [LSEPROF, "report", tmp_path / "perf.data", "--kallsyms", tmp_path / "kallsyms",
         "--binary", AARCH64_BIN, "--json"]
    )  # fmt: skip
    assert here_proc.returncode == 0, here_proc.stderr
    here = json.loads(here_proc.stdout)
    assert here["samples"] == inside["samples"]
    for category, share in inside["categories"].items():
        assert abs(here["categories"][category] - share) <= 0.1, (category, here, inside)
    assert {h["symbol"] for h in here["helpers"]} == {h["symbol"] for h in inside["helpers"]}
    assert here["unnamed_share"] <= inside["unnamed_share"] + 0.1
    inspected = json.loads((tmp_path / "inspect.json").read_text())
    local = json.loads(run([LSEPROF, "inspect", AARCH64_BIN, "--json"]).stdout)
    for key in ("build_id", "helpers", "has_lse_flag"):
        assert inspected[key] == local[key], key


def test_a_hanging_command_is_killed_at_the_timeout(tmp_path: Path) -> None:
    started = time.monotonic()
    proc = _vm(tmp_path, "--timeout", "25", "--", "sleep", "1000")
    assert time.monotonic() - started < 60
    assert_one_line_error(proc, "`sleep 1000` did not finish in 25 s", "guest was killed", code=124)
    log = Path(proc.stderr.split("console log: ")[1].rstrip(")\n"))
    assert log.is_file()  # kept, and named, for the one who looks into it
    ctl = str(log.parent)
    # qemu is gone: no process still has the run's control directory on its command line.
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            assert ctl.encode() not in cmdline.read_bytes()
        except OSError:
            continue
    shutil.rmtree(ctl)


def test_a_kernel_panic_is_reported_as_such(tmp_path: Path) -> None:
    proc = _vm(tmp_path, "--", "sh", "-c", "echo c > /proc/sysrq-trigger")
    assert_one_line_error(
        proc,
        "kernel panic in the guest while running `sh -c 'echo c > /proc/sysrq-trigger'`: "
        "Kernel panic - not syncing: sysrq triggered crash (console log: ",
        code=125,
    )
    log = Path(proc.stderr.split("console log: ")[1].rstrip(")\n"))
    assert "sysrq: Trigger a crash" in log.read_text(errors="replace")
    shutil.rmtree(log.parent)


def test_a_machine_that_cannot_mount_its_root_says_so(tmp_path: Path) -> None:
    # The real kernel and initramfs with a root image of zeros: stage 1 fails, and
    # says which step (the manifest is written for it, so the image checks pass).
    real, broken = image_dir(), tmp_path / "broken"
    broken.mkdir()
    for name in ("vmlinuz", "initramfs.gz"):
        os.link(real / name, broken / name)
    (broken / "root.erofs").write_bytes(bytes(4 << 20))
    for key in vm_image.KEY_FILES:
        (broken / "root" / key).parent.mkdir(parents=True, exist_ok=True)
        (broken / "root" / key).write_text("stand-in")
    manifest = vm_image.manifest_for(broken, {})
    (broken / "manifest.json").write_text(json.dumps(manifest))
    env = {**os.environ, "LSEPROF_VM_IMAGE": str(broken)}
    proc = run([LSEPROF, "vm", "run", "--out", tmp_path, "--", "true"], env=env, timeout=120)
    assert_one_line_error(
        proc,
        "the machine failed before running `true`: LSEPROF-VM-FAIL: stage1: mount the root",
        code=125,
    )
    shutil.rmtree(Path(proc.stderr.split("console log: ")[1].rstrip(")\n")).parent)


def test_qemu_refusing_to_start_is_reported_with_its_message(tmp_path: Path) -> None:
    proc = _vm(tmp_path, "--memory", "100000000", "--", "true")
    assert_one_line_error(
        proc, "the machine stopped without an exit status for `true` (qemu exit 1: ", code=125
    )
    assert "memory" in proc.stderr
    shutil.rmtree(Path(proc.stderr.split("console log: ")[1].rstrip(")\n")).parent)


def _start_vm(out: Path, *command: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(LSEPROF), "vm", "run", "--out", str(out), "--", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_ctrl_c_stops_the_command_and_keeps_what_it_wrote(tmp_path: Path) -> None:
    script = (
        "echo kept > kept.txt; echo started; exec perf record -e cycles -o perf.data sleep 1000"
    )
    proc = _start_vm(tmp_path, "sh", "-c", script)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "started\n"
    deadline = time.monotonic() + 60
    while not (tmp_path / "perf.data").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(3)  # perf has set up its signal handlers and is waiting on sleep
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("lseprof: error: interrupted: `sh -c"), err
    assert last.endswith(f"; what it wrote to {tmp_path} is kept"), err
    assert (tmp_path / "kept.txt").read_text() == "kept\n"
    assert _finished_perf_data(tmp_path / "perf.data")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_while_booting_stops_the_machine_at_once(tmp_path: Path, signum: int) -> None:
    proc = _start_vm(tmp_path, "touch", "never")
    time.sleep(1)
    started = time.monotonic()
    proc.send_signal(signum)
    _out, err = proc.communicate(timeout=60)
    assert time.monotonic() - started < 10
    assert proc.returncode == 130
    assert err.strip() == (
        "lseprof: error: interrupted while the machine was booting; `touch never` did not start"
    )
    assert not (tmp_path / "never").exists()


def test_a_second_ctrl_c_kills_a_command_that_ignores_the_first(tmp_path: Path) -> None:
    proc = _start_vm(tmp_path, "sh", "-c", "trap '' INT; echo started; sleep 1000")
    assert proc.stdout is not None and proc.stdout.readline() == "started\n"
    proc.send_signal(signal.SIGINT)
    time.sleep(2)
    assert proc.poll() is None  # the command ignores SIGINT, the guest still runs
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == (
        "lseprof: error: interrupted: `sh -c 'trap '\"'\"''\"'\"' INT; echo started; sleep 1000'` "
        f"was killed; what it wrote to {tmp_path} is kept"
    )


def test_vm_make_is_quick_when_the_image_is_made() -> None:
    started = time.monotonic()
    proc = run([LSEPROF, "vm", "make"])
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started < 20
    assert "(already made)" in proc.stdout and "boot-to-command:" in proc.stdout


def test_vm_make_verify_rehashes_and_boots() -> None:
    proc = run([LSEPROF, "vm", "make", "--verify"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(
        f"{image_dir()}: every file matches its manifest; boot-to-command "
    )
