"""An emulated profile read like a hardware one: guest code, qemu itself, the rest.

Under ``qemu-aarch64`` about half of all samples land in qemu's own code (the
translator, its TLB, the helpers that emulate atomics), which on real hardware
does not exist. So, besides shares of all samples, every figure about guest code
is also given as a share of *guest* samples only:

* guest samples: rows whose ``ip`` is a guest instruction (``precise``: named
  through qemu's ``-perfmap``) or that qemu ran on a guest instruction's behalf
  (``emulated``), see :mod:`lseprof.samples`;
* emulator samples: the other user-space rows of a process that ran guest code
  (qemu's executable, or its unnamed memory), i.e. qemu working for itself;
* kernel rows stay what they are (futex, scheduler, page faults): the guest's
  system calls cost the same kernel work on hardware.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from lseprof import samples as S
from lseprof.results import CATEGORIES

_KERNEL = ("[kernel.kallsyms]", "[kernel.vmlinux]", "[vdso]", "[vsyscall]")


@dataclass
class EmulationShares:
    guest_share: float  # percent of all samples
    emulator_share: float  # percent of all samples in qemu's own code
    guest_named_share: float  # percent of guest samples that got a symbol
    guest_categories: dict[str, float] = field(default_factory=dict)  # percent of guest


def guest_mask(part: pd.DataFrame) -> npt.NDArray[np.bool_]:
    mask: npt.NDArray[np.bool_] = part["precise"].to_numpy() | part["emulated"].to_numpy()
    return mask


def emulator_mask(part: pd.DataFrame, guest: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """User-space rows of the processes that ran guest code, not in guest code."""
    pids = part["pid"].to_numpy()
    emulating = (
        np.isin(pids, np.unique(pids[guest])) if guest.any() else np.zeros(len(part), np.bool_)
    )
    dsos = part["dso"].astype(object).to_numpy().astype(str)
    kernel = np.isin(dsos, _KERNEL)
    named_qemu = np.char.startswith(np.char.rpartition(dsos, "/")[:, 2], "qemu-") | (
        dsos == S.QEMU_JIT
    )
    mask: npt.NDArray[np.bool_] = ((emulating & ~kernel) | named_qemu) & ~guest
    return mask


def emulation_shares(part: pd.DataFrame) -> EmulationShares | None:
    """The shares of a section with guest code; None for a native profile."""
    guest = guest_mask(part)
    if not guest.any():
        return None
    weight = part["weight"].to_numpy(dtype=np.float64)
    total = float(weight.sum())
    guest_total = float(weight[guest].sum())
    symbols = part["symbol"].astype(object).to_numpy().astype(str)
    named = guest & (symbols != S.UNKNOWN) & ~np.char.startswith(symbols, "guest-0x")
    categories = part["category"].astype(object).to_numpy() if "category" in part else None
    by_cat: dict[str, float] = {}
    if categories is not None:
        for name in CATEGORIES:
            by_cat[name] = 100.0 * float(weight[guest & (categories == name)].sum()) / guest_total
    return EmulationShares(
        guest_share=100.0 * guest_total / total if total else 0.0,
        emulator_share=100.0 * float(weight[emulator_mask(part, guest)].sum()) / total
        if total
        else 0.0,
        guest_named_share=100.0 * float(weight[named].sum()) / guest_total,
        guest_categories=by_cat,
    )


def of_guest(share: float, shares: EmulationShares | None) -> float | None:
    """A share of all samples restated as a share of guest samples."""
    if shares is None or shares.guest_share <= 0:
        return None
    return 100.0 * share / shares.guest_share
