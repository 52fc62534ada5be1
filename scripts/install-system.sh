#!/usr/bin/env bash
# Installs the Debian 12 packages lseprof needs. Idempotent: packages already
# present are skipped, and `apt-get update` runs only when something is missing.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
ARCH="$(dpkg --print-architecture)"

need=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
want() { for p in "$@"; do have "$p" || need+=("$p"); done; }

# Always: perf, a C toolchain (binutils also gives c++filt, the demangler),
# Python venv support, Rust from Debian (rustc-web is the current Rust in bookworm) with its
# clippy and rustfmt (make lint), the packaged crates the encoder builds
# from when crates.io is unreachable, and PostgreSQL: tests/test_store_pg.py
# runs initdb/pg_ctl from /usr/lib/postgresql/*/bin to start its own throwaway
# server (this script enables and starts no service). golang-go gives `go tool
# pprof`, which the tests use to read lseprof's pprof exports.
want linux-perf make gcc binutils python3 python3-venv python3-dev git rustc-web cargo-web \
     rust-web-clippy rustfmt-web \
     librust-rayon-dev librust-serde-json-dev librust-regex-syntax-dev librust-rustc-hash-dev chromium \
     postgresql golang-go
command -v npm >/dev/null 2>&1 || want npm

backports=0
if [ "$ARCH" != "arm64" ]; then
  # aarch64 cross build: the arm64 Rust std through multiarch, the cross linker,
  # binutils for cross-checking disassembly, and qemu >= 8.1 (for -perfmap) from
  # bookworm-backports.
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $SUDO dpkg --add-architecture arm64
    need+=("__refresh__")
  fi
  want libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu libc6-dev-arm64-cross binutils-aarch64-linux-gnu
  # The coherence plugin (native/coherence, `make coherence`) is C against QEMU's
  # plugin API, whose register calls pass glib arrays: glib's headers, via pkg-config.
  want libglib2.0-dev pkg-config
  qemu_ok=0
  if command -v qemu-aarch64 >/dev/null 2>&1; then
    v="$(qemu-aarch64 --version | head -1 | grep -oE '[0-9]+\.[0-9]+' | head -1)"
    if [ "$(printf '%s\n8.1\n' "$v" | sort -V | head -1)" = "8.1" ]; then qemu_ok=1; fi
  fi
  if [ "$qemu_ok" = 0 ]; then need+=("qemu-user/bookworm-backports"); backports=1; fi

  # The full-system aarch64 machine (`lseprof vm`): qemu-system-aarch64 10 from
  # bookworm-backports (what it was measured with; its two companion packages named
  # too, since apt takes only the named packages from backports and 10's need 10's);
  # mmdebstrap and erofs-utils make the image. The kernel, busybox-static:arm64 and
  # the guest's packages are downloaded by `lseprof vm make` (apt-get download,
  # mmdebstrap), never installed on this machine.
  want mmdebstrap erofs-utils
  sys_ok=0
  if command -v qemu-system-aarch64 >/dev/null 2>&1; then
    v="$(qemu-system-aarch64 --version | head -1 | grep -oE '[0-9]+\.[0-9]+' | head -1)"
    if [ "$(printf '%s\n10.0\n' "$v" | sort -V | head -1)" = "10.0" ]; then sys_ok=1; fi
  fi
  if [ "$sys_ok" = 0 ]; then
    need+=("qemu-system-arm/bookworm-backports" "qemu-system-common/bookworm-backports" \
           "qemu-system-data/bookworm-backports")
    backports=1
  fi
fi

if [ "${#need[@]}" -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi

if [ "$backports" = 1 ] && ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  # Reuse the mirror this machine already uses for bookworm itself.
  mirror="$(grep -hs -A3 -E '^Types: *deb' /etc/apt/sources.list.d/*.sources | grep -m1 -oE '^URIs: *[^ ]+/debian$' | sed 's/^URIs: *//')"
  [ -n "$mirror" ] || mirror="$(grep -hs -m1 -oE '^deb +[^ ]+/debian +bookworm ' /etc/apt/sources.list | awk '{print $2}')"
  if [ -z "$mirror" ]; then
    echo "error: cannot find this machine's Debian mirror to add bookworm-backports (needed for qemu-user >= 8.1 and qemu-system-arm >= 10.0); add it to /etc/apt/sources.list.d and re-run" >&2
    exit 2
  fi
  echo "deb $mirror bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/lseprof-backports.list >/dev/null
fi

pkgs=()
for p in "${need[@]}"; do [ "$p" = "__refresh__" ] || pkgs+=("$p"); done
echo "system packages: installing ${pkgs[*]:-(none, refreshing lists)}"
$SUDO apt-get update -qq
if [ "${#pkgs[@]}" -gt 0 ]; then
  # Other jobs on a shared machine may hold the dpkg lock for minutes: wait for it.
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=600 "${pkgs[@]}"
fi
