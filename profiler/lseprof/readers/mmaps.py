"""Where each DSO was mapped while perf recorded: PERF_RECORD_MMAP/MMAP2 records, as
the perf.data reader's one ``perf script`` pass prints them (--show-mmap-events).

Samples recorded without callchains carry runtime addresses. perf turns them into
symbols only if the DSO is at its recorded path on the reading machine; for a
profile read elsewhere (`lseprof report --binary` on a laptop), the address has to
be moved into the ELF file by hand: runtime address -> file offset through the
mapping (start, pgoff), then file offset -> ELF virtual address through the
program headers (:meth:`lseprof.symbols.elf.ElfImage.vaddr_of_offset`).
"""

from __future__ import annotations

import re

import numpy as np
import numpy.typing as npt

from lseprof.samples import Mapping

# "PERF_RECORD_MMAP2 22738/22738: [0x555f0e93c000(0x1000) @ 0x1000 fe:00 5366307 0]: r-xp /path"
# "PERF_RECORD_MMAP 1234/1234: [0x400000(0x1000) @ 0]: x /path"
# "PERF_RECORD_MMAP2 29434/29434: [0x7fa1e5550000(0x2000) @ 0 <f609bf24...>]: r--p /path"
#   (recorded with --buildid-mmap: the file's build-id instead of device and inode)
_MMAP_RE = re.compile(
    r"PERF_RECORD_MMAP2? (?P<pid>-?\d+)/-?\d+: \[0x(?P<start>[0-9a-f]+)\(0x(?P<len>[0-9a-f]+)\)"
    r" @ (?:0x)?(?P<pgoff>[0-9a-f]+)(?: <(?P<build_id>[0-9a-f]+)>)?[^\]]*\]: (?P<prot>\S+)"
    r" (?P<path>.+)$"
)


def parse_mmaps(text: str, executable_only: bool = True) -> list[Mapping]:
    """The mappings in `perf script --show-mmap-events` text: executable ones only, or
    (for qemu's file mappings of guest objects, which are not executable on the host)
    every one."""
    found = []
    for line in text.splitlines():
        if "PERF_RECORD_MMAP" not in line:
            continue
        m = _MMAP_RE.search(line)
        if m and (not executable_only or "x" in m["prot"]):
            found.append(
                Mapping(
                    int(m["pid"]),
                    int(m["start"], 16),
                    int(m["len"], 16),
                    int(m["pgoff"], 16),
                    m["path"].strip(),
                    m["prot"],
                    m["build_id"],
                )
            )
    return found


def file_offsets(
    ips: npt.NDArray[np.uint64], pids: npt.NDArray[np.int64], mappings: list[Mapping]
) -> npt.NDArray[np.int64]:
    """Each runtime address's offset in the mapped file, or -1 where no mapping of the
    sample's process covers it (the latest mapping wins, as in the process)."""
    out = np.full(ips.size, -1, np.int64)
    addresses = ips.astype(np.int64)
    for m in mappings:  # recording order: later mappings replace earlier ones
        inside = (addresses >= m.start) & (addresses < m.start + m.length)
        if m.pid >= 0:
            inside &= pids == m.pid
        out[inside] = addresses[inside] - m.start + m.pgoff
    return out
