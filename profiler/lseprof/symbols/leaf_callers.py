"""The callers of aarch64 leaf functions, from the link register.

A leaf function (an outline-atomic helper, say) saves no frame record, so a
frame-pointer callchain taken inside it goes from the leaf straight to its caller's
caller: the caller itself is only in the link register. perf on an aarch64 machine
puts it back (it records the register, ``sample_regs_user``, and checks the leaf's
unwind table); perf elsewhere cannot, so the perf.data reader reads the register
(the ``lr`` column) and this module names it.

The rule, without the leaf's unwind table: the function the link register points
into is the sample's caller when it is neither the sampled function itself (a
function that has made calls has its own return addresses there) nor the caller the
frame pointers gave (a function that saved its frame already has its caller there).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from lseprof.readers.mmaps import file_offsets
from lseprof.samples import Mapping
from lseprof.symbols.demangle import demangle_all
from lseprof.symbols.elf import ElfImage
from lseprof.symbols.guest import set_values

_KERNEL_PREFIX = "["  # [kernel.kallsyms], [vdso], [unknown]: no user leaf to fix


def name_leaf_callers(
    frame: pd.DataFrame,
    images: dict[str, ElfImage],
    mappings: Sequence[Mapping],
    notes: list[str],
) -> None:
    """Give the rows whose link register names a caller the frame pointers missed
    that caller (``caller``, ``caller_dso``, ``caller_ip``), in place."""
    lr = frame["lr"].to_numpy()
    dsos = frame["dso"].astype(object).to_numpy()
    user = (lr != 0) & np.array([not str(d).startswith(_KERNEL_PREFIX) for d in dsos])
    rows = np.flatnonzero(user)
    if rows.size == 0:
        return
    names, objects, addresses = _link_targets(frame, rows, lr[rows], images, mappings)
    readable = demangle_all([n for n in names if n is not None])
    symbols = frame["symbol"].astype(object).to_numpy()[rows]
    callers = frame["caller"].astype(object).to_numpy()[rows]
    fix = np.array(
        [
            name is not None and readable[name] not in (symbol, caller)
            for name, symbol, caller in zip(names, symbols, callers, strict=True)
        ],
        np.bool_,
    )
    if not fix.any():
        return
    at = rows[fix]
    set_values(frame, "caller", at, np.array([readable[n] for n in names[fix]], dtype=object))
    set_values(frame, "caller_dso", at, objects[fix])
    caller_ip = frame["caller_ip"].to_numpy().copy()
    caller_ip[at] = addresses[fix]
    frame["caller_ip"] = caller_ip
    notes.append(
        f"named the callers of {at.size} leaf-function samples from the link register "
        "(perf does this only on an aarch64 machine)"
    )


def _link_targets(
    frame: pd.DataFrame,
    rows: npt.NDArray[np.int64],
    lr: npt.NDArray[np.uint64],
    images: dict[str, ElfImage],
    mappings: Sequence[Mapping],
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.object_], npt.NDArray[np.uint64]]:
    """Per row: the function the link register points into (None where no known ELF
    holds it), its object, and the address in that object."""
    names = np.full(rows.size, None, dtype=object)
    objects = np.full(rows.size, "", dtype=object)
    addresses = np.zeros(rows.size, np.uint64)
    pids = frame["pid"].to_numpy()[rows]
    # The instruction the link register returns to follows the call: step back onto the
    # call so that a call at a function's very end is not given to the next function.
    calls = lr - np.uint64(4)
    for path in sorted({m.path for m in mappings if m.path in images}):
        image = images[path]
        offsets = file_offsets(calls, pids, [m for m in mappings if m.path == path])
        vaddrs = image.code_vaddr_of_offset(offsets)
        inside = np.flatnonzero(vaddrs >= 0)
        if inside.size == 0:
            continue
        found, _offs = image.symbols.lookup(vaddrs[inside].astype(np.uint64))
        names[inside] = found
        objects[inside] = path
        addresses[inside] = vaddrs[inside].astype(np.uint64)
    return names, objects, addresses
