"""A coherence file's records -> :class:`lseprof.results.CoherenceResult`: totals, per
MiB and per item, and the top lines with what they hold, the instructions that moved
them and whether their sharing is true or false."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from lseprof.readers.coherence import CoherenceFile, DetailRecord, LineRecord
from lseprof.results import CoherenceInsn, CoherenceLine, CoherenceResult
from lseprof.symbols.demangle import demangle_all, looks_mangled
from lseprof.symbols.elf import ElfImage
from lseprof.symbols.memory_names import MemoryNamer, StackRange

LINE_BYTES = 64
MIB = float(1 << 20)
WRITES = frozenset({"store", "atomic", "excl_st"})
DEFAULT_TOP = 20


def _popcount(mask: int) -> int:
    return bin(mask).count("1")


def _byte_mask(record: DetailRecord) -> int:
    start = record.data % LINE_BYTES
    end = min(LINE_BYTES, start + max(record.size, 1))
    return ((1 << end) - 1) ^ ((1 << start) - 1)


def _overlap(record: DetailRecord, details: Sequence[DetailRecord], writes_only: bool) -> int:
    """Accesses by other cores to bytes ``record`` touched (their writes only, or all)."""
    mask = _byte_mask(record)
    return sum(
        other.count
        for other in details
        if other.cpu != record.cpu
        and (not writes_only or other.kind in WRITES)
        and _byte_mask(other) & mask
    )


def sharing_of(details: Sequence[DetailRecord]) -> str:
    """How the cores share a line, weighed by the transfers of each access (by its
    count where the records show none): true where a core touches bytes that another
    core writes (or writes bytes another core touches) as a matter of course, false
    where the cores' bytes are disjoint; "both" when neither is under a tenth.
    read-only: no core wrote; unknown: fewer than two cores in the records. "As a
    matter of course": the other core's accesses to those bytes are at least 1% of
    this one's, so that a thread reading its neighbours' counters once at the end
    does not make false sharing true."""
    if len({r.cpu for r in details}) < 2:
        return "unknown"
    if not any(r.kind in WRITES for r in details):
        return "read-only"
    weigh_by_transfers = any(r.transfers for r in details)
    true = false = 0
    for record in details:
        weight = record.transfers if weigh_by_transfers else record.count
        if not weight:
            continue
        others = _overlap(record, details, writes_only=record.kind not in WRITES)
        if others * 100 >= record.count:
            true += weight
        else:
            false += weight
    total = true + false
    if not total:
        return "unknown"
    if false * 10 < total:
        return "true"
    if true * 10 < total:
        return "false"
    return "both"


@dataclass
class _Insn:
    address: int
    kind: str
    count: int = 0
    transfers: int = 0
    invalidations: int = 0
    cpus: set[int] = field(default_factory=set)
    low: int = LINE_BYTES
    high: int = -1
    data: int = 0

    def add(self, record: DetailRecord) -> None:
        if self.count == 0 or record.transfers > 0:
            self.data = record.data
        self.count += record.count
        self.transfers += record.transfers
        self.invalidations += record.invalidations
        self.cpus.add(record.cpu)
        start = record.data % LINE_BYTES
        self.low = min(self.low, start)
        self.high = max(self.high, min(LINE_BYTES, start + max(record.size, 1)) - 1)


def _instructions(details: Sequence[DetailRecord], namer: MemoryNamer) -> list[CoherenceInsn]:
    grouped: dict[tuple[int, str], _Insn] = {}
    for record in details:
        key = (record.insn, record.kind)
        grouped.setdefault(key, _Insn(record.insn, record.kind)).add(record)
    out = []
    for insn in sorted(grouped.values(), key=lambda i: (-i.transfers, -i.count, i.address)):
        symbol, mnemonic = namer.code(insn.address)
        out.append(
            CoherenceInsn(
                insn.address,
                symbol,
                mnemonic,
                insn.kind,
                insn.count,
                insn.transfers,
                insn.invalidations,
                sorted(insn.cpus),
                [insn.low, insn.high],
                namer.data(insn.data)[0],
            )
        )
    return out


def _symbol_of(details: Sequence[DetailRecord], namer: MemoryNamer) -> tuple[str | None, str]:
    """What a line holds: the data it was accessed at, the most transfers first
    (several objects when the line holds several: false sharing between them)."""
    weight: dict[str, int] = defaultdict(int)
    region = "unknown"
    ranked = sorted(details, key=lambda d: (-d.transfers, -d.count))
    for record in ranked:
        name, where = namer.data(record.data)
        if name is None:
            continue
        base = name.split("+", 1)[0]
        weight[base] += record.transfers + 1
        if region == "unknown":
            region = where
    if not weight:
        return None, region
    names = sorted(weight, key=lambda n: -weight[n])
    return ", ".join(names[:4]) + (", ..." if len(names) > 4 else ""), region


def _line(record: LineRecord, details: Sequence[DetailRecord], namer: MemoryNamer) -> CoherenceLine:
    symbol, region = _symbol_of(details, namer)
    return CoherenceLine(
        line=record.paddr,
        address=(details[0].data & ~(LINE_BYTES - 1)) if details else None,
        symbol=symbol,
        region=region,
        transfers=record.transfers,
        hitm=record.hitm,
        invalidations=record.invalidations,
        loads=record.loads,
        stores=record.stores,
        atomics=record.atomics,
        exclusives=record.excl,
        cores=_popcount(record.ever),
        sharing=sharing_of(details),
        instructions=_instructions(details, namer),
    )


def demangle_names(lines: Sequence[CoherenceLine]) -> None:
    """Readable names (one c++filt for all): ``rayon_core::sleep::Sleep::sleep+0x40``."""

    def split(name: str | None) -> tuple[str, str]:
        base, plus, offset = (name or "").partition("+")
        return base, plus + offset

    names = {split(i.symbol)[0] for line in lines for i in line.instructions}
    names |= {n.strip() for line in lines for n in (line.symbol or "").split(",")}
    readable = demangle_all(n for n in names if looks_mangled(n))
    if not readable:
        return
    for line in lines:
        if line.symbol:
            line.symbol = ", ".join(readable.get(n, n) for n in line.symbol.split(", "))
        for insn in line.instructions:
            base, offset = split(insn.symbol)
            if base in readable:
                insn.symbol = readable[base] + offset


def _interleaving(found: CoherenceFile) -> str:
    quantum = found.totals.get("quantum", "0")
    if quantum in ("0", ""):
        return "free"
    return f"{found.totals.get('quantum_mode', 'lockstep')}:{quantum}"


def _work(found: CoherenceFile, work_bytes: float | None, items: float | None) -> dict[str, float]:
    reported = found.meta.get("work")
    work = dict(reported) if isinstance(reported, dict) else {}
    if work_bytes is not None:
        work["bytes"] = work_bytes
    if items is not None:
        work["items"] = items
    return {k: float(v) for k, v in work.items() if isinstance(v, int | float) and v > 0}


def _notes(found: CoherenceFile, result: CoherenceResult, namer: MemoryNamer) -> list[str]:
    notes = []
    if found.partial:
        how = found.meta.get("outcome") or "killed"
        notes.append(
            f"partial: the run did not finish ({how}); the counts are the plugin's "
            f"snapshot {found.header.get('snapshot', '?')}, taken before the end"
        )
    for name, what in (
        ("dropped_lines", "lines not tracked (the line table was full)"),
        ("dropped_details", "instruction records dropped (the detail tables were full)"),
        ("dropped_tasks", "threads not followed (the thread table was full)"),
    ):
        if found.total(name):
            notes.append(f"{found.total(name):,} {what}")
    if found.totals.get("registers") == "missing":
        notes.append("qemu gave the plugin no system registers: processes were not followed")
    if any(i.symbol is None for line in result.lines for i in line.instructions):
        skipped = ", ".join(str(i.path) for i in namer.skipped)
        notes.append(
            "some instructions are not named: give the program's ELF with --binary (files "
            "linked at a fixed address)"
            + (f"; not used (position-independent): {skipped}" if skipped else "")
        )
    if result.transfers_per_mib is None and result.transfers_per_item is None:
        notes.append(
            "no work figure: the command printed no JSON line with bytes or items, so "
            "transfers are not given per MiB or per item"
        )
    return notes


def coherence_result(
    found: CoherenceFile,
    images: Sequence[ElfImage] = (),
    *,
    top: int = DEFAULT_TOP,
    work_bytes: float | None = None,
    items: float | None = None,
) -> CoherenceResult:
    """The result of one coherence file, its code and data named from ``images``;
    ``work_bytes``/``items`` override the work the command reported."""
    stacks = [StackRange(t.tid, t.sp_lo, t.sp_hi) for t in found.threads]
    namer = MemoryNamer(images, stacks)
    by_line: dict[int, list[DetailRecord]] = defaultdict(list)
    for record in found.details:
        by_line[record.line].append(record)
    lines = [_line(r, by_line.get(r.paddr, []), namer) for r in found.lines[:top]]
    demangle_names(lines)
    work = _work(found, work_bytes, items)
    transfers = found.total("transfers")
    mib = work["bytes"] / MIB if "bytes" in work else None
    meta_argv = found.meta.get("argv")
    result = CoherenceResult(
        transfers=transfers,
        hitm=found.total("hitm"),
        invalidations=found.total("invalidations"),
        accesses=found.total("accesses"),
        loads=found.total("loads"),
        stores=found.total("stores"),
        atomics=found.total("atomics"),
        exclusives=found.total("excl"),
        lines_tracked=found.total("lines"),
        shared_lines=len(found.lines),
        work_mib=mib,
        items=work.get("items"),
        transfers_per_mib=transfers / mib if mib else None,
        transfers_per_item=transfers / work["items"] if "items" in work else None,
        partial=found.partial,
        outcome=str(found.meta.get("outcome")) if found.meta.get("outcome") else None,
        cpus=int(found.header.get("vcpus", "0")) or None,
        interleaving=_interleaving(found),
        filter=found.header.get("filter"),
        command=[str(a) for a in meta_argv] if isinstance(meta_argv, list) else [],
        command_s=found.meta.get("command_seconds"),
        source=str(found.path),
        lines=lines,
    )
    result.notes = _notes(found, result, namer)
    return result


def guest_files(found: CoherenceFile) -> list[Path]:
    """The host files behind the command's arguments that are ELF files (the program
    and, under perf, a wrapper or a shell, the programs it runs), through the run's
    shares; the last named first."""
    shares = found.meta.get("shares")
    argv = found.meta.get("argv")
    if not isinstance(shares, dict) or not isinstance(argv, list):
        return []
    out: list[Path] = []
    # Words of the arguments: `sh -c "/path/prog ...; ..."` names its programs too.
    words = [w.strip("'\";&|()") for a in argv for w in str(a).split()]
    for arg in reversed(words):
        if "/" not in arg:
            continue
        guest = PurePosixPath(arg if arg.startswith("/") else f"/out/{arg}")
        host = _host_path(guest, {str(k): str(v) for k, v in shares.items()})
        if host is not None and host.is_file() and _is_elf(host) and host not in out:
            out.append(host)
    return out


def _host_path(guest: PurePosixPath, shares: dict[str, str]) -> Path | None:
    for prefix in sorted(shares, key=len, reverse=True):
        if guest.is_relative_to(prefix):
            return Path(shares[prefix]) / guest.relative_to(prefix)
    return None


def _is_elf(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == b"\x7fELF"
    except OSError:
        return False


def load_images(paths: Sequence[Path]) -> list[ElfImage]:
    """ELF images of the given files (a file that is not ELF is a user error), each
    file once."""
    return [ElfImage(path) for path in dict.fromkeys(Path(p).resolve() for p in paths)]
