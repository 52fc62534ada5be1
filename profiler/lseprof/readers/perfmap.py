"""JIT symbol maps (`/tmp/perf-<pid>.map`), as qemu's `-perfmap` writes them.

Each line is ``<host start hex> <size hex> <name>``; qemu names guest code
``guest-0x<guest address>``, one entry per guest instruction. qemu reuses host
code memory (translation blocks are retranslated, and blocks for one-off
serial execution of atomics are thrown away), so entries overlap. perf resolves
an overlapped address to whichever entry it finds first, often a stale one; here
the entry written last wins, which matches the code that ran for most of a
steady-state run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from lseprof.errors import LseprofError

GUEST_PREFIX = "guest-0x"  # qemu -perfmap names guest code guest-0x<guest address>


class PerfMap:
    """Host address -> the latest map entry covering it, resolved in bulk."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        starts: list[int] = []
        sizes: list[int] = []
        names: list[str] = []
        try:
            with open(self.path, encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    parts = line.rstrip("\n").split(" ", 2)
                    if len(parts) != 3:
                        continue
                    try:
                        start, size = int(parts[0], 16), int(parts[1], 16)
                    except ValueError:
                        continue
                    if start + size >= 1 << 64:  # no address range: a damaged line
                        continue
                    starts.append(start)
                    sizes.append(size)
                    names.append(parts[2])
        except OSError as exc:
            raise LseprofError(
                f"cannot read perf map {self.path} ({exc.strerror}); check the path"
            ) from None
        self.names = names
        start_arr = np.array(starts, dtype=np.uint64)
        end_arr = start_arr + np.array(sizes, dtype=np.uint64)
        bounds = np.unique(np.concatenate([start_arr, end_arr]))
        owner = np.full(max(bounds.size - 1, 0), -1, dtype=np.int64)
        first = np.searchsorted(bounds, start_arr)
        last = np.searchsorted(bounds, end_arr)
        # Painting in file order lets later entries overwrite earlier ones.
        for index, (a, b) in enumerate(zip(first.tolist(), last.tolist(), strict=True)):
            owner[a:b] = index
        self._bounds = bounds
        self._owner = owner
        guest = np.zeros(len(names), dtype=np.uint64)
        is_guest = np.zeros(len(names), dtype=np.bool_)
        for i, name in enumerate(names):
            if name.startswith(GUEST_PREFIX):
                try:
                    value = int(name[len(GUEST_PREFIX) :], 16)
                except ValueError:
                    continue
                if value < 1 << 64:
                    guest[i], is_guest[i] = value, True
        self._guest = guest
        self._is_guest = is_guest

    def __len__(self) -> int:
        return len(self.names)

    def entry_index(self, host: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Index of the entry covering each host address (latest wins), -1 if none."""
        addrs = np.asarray(host, dtype=np.uint64)
        if self._owner.size == 0:
            return np.full(addrs.shape, -1, np.int64)
        seg = np.searchsorted(self._bounds, addrs, side="right") - 1
        inside = (seg >= 0) & (seg < self._owner.size)
        return np.where(inside, self._owner[np.clip(seg, 0, self._owner.size - 1)], -1)

    def guest_addresses(
        self, host: npt.ArrayLike
    ) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.bool_]]:
        """Guest address of the instruction whose host code holds each address."""
        idx = self.entry_index(host)
        safe = np.clip(idx, 0, None)
        ok = (idx >= 0) & (self._is_guest[safe] if self._is_guest.size else False)
        return np.where(ok, self._guest[safe] if self._guest.size else 0, 0).astype(np.uint64), ok
