#!/usr/bin/env bash
# make lint's native half: cargo fmt --check and cargo clippy (both scheduler variants,
# tests included, warnings are errors) on native/ and the coherence plugin's C, with Debian's toolchain
# (rustc-web, rust-web-clippy, rustfmt-web). Debian's packaged crates stand in for
# crates.io, as `lseprof build` does, unless LSEPROF_CRATES=crates-io.
set -euo pipefail
cd "$(dirname "$0")/../native"
# Debian's cargo, clippy-driver and rustfmt before a rustup toolchain on PATH: a
# clippy of one rustc cannot read crates compiled by another.
export PATH="/usr/bin:/bin:$PATH"
cargo fmt --check
config=()
if [ "${LSEPROF_CRATES:-auto}" != crates-io ] && [ -d /usr/share/cargo/registry ]; then
  config=(--offline --config 'source.crates-io.replace-with="debian"'
          --config 'source.debian.directory="/usr/share/cargo/registry"')
fi
for variant in rayon window; do
  cargo clippy "${config[@]}" --quiet --target-dir target/clippy --no-default-features \
    --features "$variant" --all-targets -- -D warnings
done
echo "native: cargo fmt and clippy clean"
# The coherence plugin (C): warnings are errors. Not on aarch64 hosts (no emulated machine).
if [ "$(uname -m)" != aarch64 ]; then
  make --no-print-directory -s -C coherence lint
  echo "native/coherence: gcc -Wall -Wextra -Werror clean"
fi
