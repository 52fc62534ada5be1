"""Builds of the native BPE encoder: 2 scheduler variants x 3 targets.

Each (target, variant) is one `cargo build` of native/ with the variant's
feature; targets share a cargo target dir per target so dependencies compile
once. Finished binaries are copied to `native/bin/<target>/<variant>/bpe-encode`,
which is what every other part of lseprof runs.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from lseprof.errors import LseprofError
from lseprof.paths import NATIVE_DIR, native_bin_dir

TARGETS = ("host", "aarch64", "aarch64-lse")
# Where `lseprof run` runs: a build target, or the full aarch64 machine (`lseprof vm`,
# the aarch64 builds profiled by the guest's own perf; the machine itself on aarch64).
VM_TARGET = "aarch64-vm"
RUN_TARGETS = (*TARGETS, VM_TARGET)
VARIANTS = ("rayon", "window")
AARCH64_TRIPLE = "aarch64-unknown-linux-gnu"
BINARY_NAME = "bpe-encode"
DEBIAN_REGISTRY = Path("/usr/share/cargo/registry")
_DEBIAN_CRATES = ("rayon-", "serde_json-", "regex-syntax-", "rustc-hash-")

# Frame pointers everywhere so `perf record -g` unwinds. aarch64 builds are
# static and non-PIE: run-time addresses equal ELF addresses, which makes
# emulated (qemu -perfmap) samples symbolizable straight from the ELF.
_HOST_FLAGS = "-C force-frame-pointers=yes"
_AARCH64_FLAGS = (
    "-C force-frame-pointers=yes -C relocation-model=static -C target-feature=+crt-static"
)
RUSTFLAGS = {
    "host": _HOST_FLAGS,
    "aarch64": _AARCH64_FLAGS,
    "aarch64-lse": _AARCH64_FLAGS + " -C target-feature=+lse",
}


# pyelftools' e_machine names of the two architectures lseprof builds for.
_ELF_MACHINES = {"EM_X86_64": "x86_64", "EM_AARCH64": "aarch64"}


@dataclass(frozen=True)
class Build:
    """One built encoder binary, with the architecture its ELF header names."""

    variant: str
    target: str
    atomics: str
    path: Path
    arch: str = "unknown"

    def to_dict(self) -> dict[str, str]:
        data = asdict(self)
        data["path"] = str(self.path)
        return data

    def runs_here(self) -> bool:
        """Whether this host runs it natively (else only under emulation, or not at all:
        a host build made on another machine)."""
        return self.arch == host_arch()


def host_is_aarch64() -> bool:
    return platform.machine().lower() in ("aarch64", "arm64")


def host_arch() -> str:
    """This machine's architecture, named as :func:`elf_arch` names binaries."""
    return "aarch64" if host_is_aarch64() else platform.machine().lower()


def elf_arch(path: Path) -> str:
    """The architecture in an ELF file's header (e_machine), or "unknown"."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        with open(path, "rb") as handle:
            machine = ELFFile(handle).header["e_machine"]
    except (OSError, ELFError):
        return "unknown"
    return _ELF_MACHINES.get(machine, str(machine))


def atomics_mode(target: str, arch: str | None = None) -> str:
    """How atomics are compiled: outline helpers, inline LSE, or the host's native ISA.
    ``arch``: the binary's own (a host build copied from another machine says so)."""
    if target == "aarch64-lse":
        return "lse"
    if target == "aarch64" or (arch or host_arch()) == "aarch64":
        return "outline"
    return "native"


def _found(target: str, variant: str, path: Path) -> Build:
    arch = elf_arch(path)
    return Build(variant, target, atomics_mode(target, arch), path, arch)


def build_target(run_target: str) -> str:
    """The build a run target runs: the aarch64 machine runs the outline-atomics build."""
    return "aarch64" if run_target == VM_TARGET else run_target


def binary_path(target: str, variant: str) -> Path:
    return native_bin_dir() / target / variant / BINARY_NAME


def expand(selection: str, choices: tuple[str, ...], what: str) -> list[str]:
    """'all' -> every choice; a single valid name -> [name]; else a user error."""
    if selection == "all":
        return list(choices)
    if selection not in choices:
        raise LseprofError(f"unknown {what} {selection!r}; choose one of {', '.join(choices)}, all")
    return [selection]


def _toolchain() -> tuple[str, dict[str, str]]:
    """The cargo to run and extra environment for it.

    Debian's rustc-web ships an aarch64 std through multiarch, rustup's default
    toolchain usually does not, so Debian's /usr/bin pair is preferred when present.
    """
    cargo = os.environ.get("LSEPROF_CARGO")
    if cargo:
        return cargo, {}
    if Path("/usr/bin/cargo").exists() and Path("/usr/bin/rustc").exists():
        return "/usr/bin/cargo", {"RUSTC": "/usr/bin/rustc"}
    found = shutil.which("cargo")
    if found is None:
        raise LseprofError(
            "cargo is not installed; run `make demo` (Debian: apt-get install cargo-web rustc-web)"
        )
    return found, {}


def _use_debian_crates() -> bool:
    choice = os.environ.get("LSEPROF_CRATES", "auto")
    if choice in ("debian", "crates-io"):
        return choice == "debian"
    if not DEBIAN_REGISTRY.is_dir():
        return False
    present = {p.name for p in DEBIAN_REGISTRY.iterdir()}
    return all(any(name.startswith(prefix) for name in present) for prefix in _DEBIAN_CRATES)


def cargo_command(target: str, variant: str) -> tuple[list[str], dict[str, str]]:
    """argv and environment of the cargo build for one (target, variant)."""
    cargo, env = _toolchain()
    argv = [
        cargo,
        "build",
        "--release",
        "--target-dir",
        f"target/{target}",
        "--no-default-features",
        "--features",
        variant,
    ]
    if target != "host":
        argv += ["--target", AARCH64_TRIPLE]
        if not host_is_aarch64():
            env["CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER"] = "aarch64-linux-gnu-gcc"
    if _use_debian_crates():
        # crates.io unreachable (or Debian's crates preferred): source replacement
        # on the command line, so nothing in the repo pins users to Debian.
        argv += [
            "--config",
            'source.crates-io.replace-with="debian"',
            "--config",
            f'source.debian.directory="{DEBIAN_REGISTRY}"',
        ]
    env["RUSTFLAGS"] = RUSTFLAGS[target]
    env["LSEPROF_TARGET"] = target
    return argv, env


def _cargo_output(target: str) -> Path:
    triple_dir = AARCH64_TRIPLE if target != "host" else ""
    return NATIVE_DIR / "target" / target / triple_dir / "release" / BINARY_NAME


def _explain_failure(target: str, stderr: str) -> str:
    tail = [line for line in stderr.strip().splitlines() if line.strip()][-1:] or ["no output"]
    if "can't find crate for `std`" in stderr or "can't find crate for `core`" in stderr:
        return (
            f"the Rust standard library for {AARCH64_TRIPLE} is missing; install it "
            "(Debian: apt-get install libstd-rust-web-dev:arm64, or rustup target add "
            f"{AARCH64_TRIPLE})"
        )
    if "linker `aarch64-linux-gnu-gcc` not found" in stderr:
        return "the aarch64 cross linker is missing; apt-get install gcc-aarch64-linux-gnu"
    return f"cargo build for {target} failed: {tail[0].strip()} (rerun with LSEPROF_VERBOSE=1)"


def build(target: str, variant: str) -> Build:
    """Build one binary (cargo decides whether anything is stale) and install it."""
    argv, extra_env = cargo_command(target, variant)
    env = {**os.environ, **extra_env}
    verbose = os.environ.get("LSEPROF_VERBOSE") == "1"
    try:
        proc = subprocess.run(
            argv,
            cwd=NATIVE_DIR,
            env=env,
            text=True,
            check=False,
            stdout=None if verbose else subprocess.PIPE,
            stderr=None if verbose else subprocess.PIPE,
        )
    except FileNotFoundError:
        raise LseprofError(f"{argv[0]} not found; install Rust (run `make demo`)") from None
    if proc.returncode != 0:
        raise LseprofError(_explain_failure(target, proc.stderr or ""))
    dest = binary_path(target, variant)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".tmp")
    shutil.copy2(_cargo_output(target), tmp)
    tmp.replace(dest)  # atomic: a concurrent reader never sees half a binary
    return _found(target, variant, dest)


def list_builds() -> list[Build]:
    """Every binary `lseprof build` has installed."""
    return [
        _found(target, variant, binary_path(target, variant))
        for target in TARGETS
        for variant in VARIANTS
        if binary_path(target, variant).is_file()
    ]


def require_build(target: str, variant: str) -> Build:
    """The installed binary for (target, variant), or a user error naming the fix."""
    expand(target, TARGETS, "target")
    expand(variant, VARIANTS, "variant")
    path = binary_path(target, variant)
    if not path.is_file():
        raise LseprofError(
            f"no {variant} build for {target}; run `lseprof build --target {target} "
            f"--variant {variant}`"
        )
    return _found(target, variant, path)
