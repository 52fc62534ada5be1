"""The callchain step: samples in generic kernel code attributed to what it serves.

A sample whose own frame is the scheduler switching a thread, the IRQ-unmask skid
inside it, or the system-call entry and exit (``[[kernel_path]]`` in the rules
file) is not contention of its own. Its callchain says what the code ran for: the
nearest frame further up that matches a ``[[serves]]`` entry decides (a futex wait
is futex, sched_yield spin, any other system call work), and preemption on the
return to user space (``el0_interrupt``, ``do_notify_resume``,
``irqentry_exit_to_user_mode``) sends the sample to the user code that was
interrupted: its first user-space frame, classified as a sample there would be
(rules, then the instruction where its code is at hand, then the category this
profile's own samples of that function mostly have). User frames are named by the
report's symbolizer first, and a generic system-call wrapper (glibc's ``syscall``)
is classified by its caller.

Vectorized over distinct stacks: each eligible stack is walked once, the distinct
user frames it ends at are classified once, and rows take their stack's answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from lseprof import samples as S
from lseprof.analysis.classify.apply import classify
from lseprof.analysis.classify.rules import USER, ChainRules, Rule, chain_rules
from lseprof.results import CATEGORIES
from lseprof.symbols.elf import ElfImage

_KERNEL_BOUNDARY = 1 << 63  # kernel addresses have the top bit set (arm64, x86-64)
# libc's generic system-call entry points, which say nothing of the call they make.
_WRAPPER = re.compile(r"^(syscall|__syscall\w*|__GI_syscall|__libc_syscall)$")
# Names a table of stack frames (in the samples table's layout) in place.
FrameNamer = Callable[[pd.DataFrame], None]
# What a stack's walk decides: a category, a user frame to classify (its frame, its
# caller's, whether the thread was preempted there), or nothing.
_Answer = str | tuple[int, int, bool] | None


@dataclass
class ChainOutcome:
    """What the step moved: weight by the category it went to, of how much weight."""

    moved: dict[str, float] = field(default_factory=dict)
    preempted: float = 0.0  # of it, preempted user code
    undecided: float = 0.0  # eligible, but the stack ends before saying what it serves
    total: float = 0.0

    def notes(self) -> list[str]:
        """What the step did, for the report's notes."""
        return [n for n in (self._moved(), self._undecided()) if n]

    def _undecided(self) -> str | None:
        if self.undecided <= 0 or self.total <= 0:
            return None
        return (
            f"callchains: {100 * self.undecided / self.total:.2f}% of samples are in scheduler "
            "or system-call entry/exit code whose stacks end before what it serves (the "
            "single-frame rules decided them); a perf.data read with --max-stack 64 says more"
        )

    def _moved(self) -> str | None:
        if not self.moved or self.total <= 0:
            return None
        parts = ", ".join(
            f"{c} {100 * w / self.total:.2f}%" for c, w in sorted(self.moved.items()) if w > 0
        )
        share = 100 * sum(self.moved.values()) / self.total
        return (
            f"callchains: {share:.2f}% of samples in scheduler and system-call entry/exit "
            f"code counted as what it served ({parts}; of it, preempted user code "
            f"{100 * self.preempted / self.total:.2f}%, as the code it interrupted)"
        )


def _is_user(frame: S.StackFrame) -> bool:
    if frame.dso.startswith("[kernel") or frame.ip >= _KERNEL_BOUNDARY:
        return False
    return frame.ip > 0 or not frame.dso.startswith("[")


@dataclass
class _Walk:
    """Stacks walked outwards from their sampled frame."""

    chain: ChainRules
    frames: list[S.StackFrame]

    def serves(self, index: int) -> str | None:
        name = self.frames[index].symbol
        return next((c for regex, c in self.chain.serves if regex.search(name)), None)

    def walk(self, stack: tuple[int, ...]) -> _Answer:
        """A category, (user frame, its caller frame, preempted) to classify, or None."""
        user = False
        for at in range(1, len(stack)):
            index = stack[at]
            if _is_user(self.frames[index]):
                return (index, stack[at + 1] if at + 1 < len(stack) else -1, user)
            if user:
                continue
            found = self.serves(index)
            if found == USER:
                user = True  # preempted: the first user frame further out decides
            elif found is not None:
                return found
        return "work" if user else None  # preempted, and the stack ends in the kernel


def _eligible(frame: pd.DataFrame, chain: ChainRules) -> npt.NDArray[np.bool_]:
    """Rows whose sampled frame is generic kernel code and that have a stack."""
    symbols = [str(c) for c in frame["symbol"].cat.categories]
    leaf = np.array([any(p.search(s) for p in chain.kernel_path) for s in symbols] + [False])
    kernel = np.array([str(d).startswith("[kernel") for d in frame["dso"].cat.categories] + [False])
    rows = leaf[frame["symbol"].cat.codes.to_numpy()] & kernel[frame["dso"].cat.codes.to_numpy()]
    return np.asarray(rows & (frame["stack"].to_numpy() >= 0), dtype=np.bool_)


def _offset(frame: S.StackFrame, image: ElfImage | None) -> int:
    """The frame's offset into its function, where its object is at hand: callchains
    of ``perf script`` text print user addresses as they were mapped or as offsets
    into the file, so whichever lies inside the named function is taken."""
    if frame.symoff >= 0 or image is None:
        return frame.symoff
    start = image.symbols.address_of(frame.symbol)
    size = image.symbols.size_of(frame.symbol) or 0
    if start is None:
        return -1
    loaded = int(image.vaddr_of_offset(np.array([frame.ip], np.int64))[0])
    inside = [a for a in (frame.ip, loaded) if start <= a < start + size]
    return inside[0] - start if inside else -1


def _frames_table(
    capture: S.Capture,
    frames: list[S.StackFrame],
    symoffs: list[int],
    pids: list[int] | None = None,
    callers: list[str] | None = None,
) -> pd.DataFrame:
    """Stack frames in the samples table's layout, to be named or classified as rows."""
    n = len(frames)
    return S.make_samples(
        n,
        capture.source_kind,
        event=pd.Categorical([""] * n),
        comm=pd.Categorical([""] * n),
        symbol=pd.Categorical([f.symbol for f in frames]),
        dso=pd.Categorical([f.dso for f in frames]),
        caller=pd.Categorical(callers if callers is not None else [""] * n),
        caller_dso=pd.Categorical([""] * n),
        ip=np.array([f.ip for f in frames], np.uint64),
        symoff=np.array(symoffs, np.int64),
        pid=None if pids is None else np.array(pids, np.int64),
    )


def _frame_names(
    capture: S.Capture, indexes: list[int], pids: list[int], namer: FrameNamer | None
) -> list[str]:
    """The names of stack frames as the report names its rows (perf leaves frames of
    files it could not find, such as a profile recorded elsewhere, unnamed)."""
    frames = [capture.stack_frames[i] for i in indexes]
    if namer is None or not frames:
        return [f.symbol for f in frames]
    table = _frames_table(capture, frames, [f.symoff for f in frames], pids=pids)
    namer(table)
    return [str(name) for name in table["symbol"].astype(object)]


def _classify_user_frames(
    capture: S.Capture,
    pairs: list[tuple[int, int, int]],
    rules: list[Rule],
    images: dict[str, ElfImage],
    namer: FrameNamer | None,
) -> list[str]:
    """The category of each (user frame, its caller, a pid) as a sample there would get."""
    frames = capture.stack_frames
    chosen = [frames[i] for i, _, _ in pairs]
    n = len(chosen)
    callers = [c for _, c, _ in pairs if c >= 0]
    named = _frame_names(
        capture,
        [i for i, _, _ in pairs] + callers,
        [p for _, _, p in pairs] + [p for _, c, p in pairs if c >= 0],
        namer,
    )
    caller_names = iter(named[n:])
    chosen = [f._replace(symbol=name) for f, name in zip(chosen, named[:n], strict=True)]
    caller_of = [next(caller_names) if c >= 0 else "" for _, c, _ in pairs]
    found = _categories(capture, chosen, caller_of, rules, images)
    # A generic system-call wrapper serves its caller (rayon's wake-ups go through
    # glibc's `syscall`): where the wrapper itself says only "work", the caller decides.
    wrapped = [i for i, f in enumerate(chosen) if found[i] == "work" and _WRAPPER.match(f.symbol)]
    wrapped = [i for i in wrapped if pairs[i][1] >= 0]
    if wrapped:
        outer = [frames[pairs[i][1]]._replace(symbol=caller_of[i]) for i in wrapped]
        outer_found = _categories(capture, outer, None, rules, images)
        for i, category in zip(wrapped, outer_found, strict=True):
            found[i] = category
    return found


def _categories(
    capture: S.Capture,
    chosen: list[S.StackFrame],
    callers: list[str] | None,
    rules: list[Rule],
    images: dict[str, ElfImage],
) -> list[str]:
    """The category of each frame as a sample there would get: the rules, then the
    category this profile's own samples of that function mostly have."""
    symoffs = [_offset(f, images.get(f.dso)) for f in chosen]
    table = _frames_table(capture, chosen, symoffs, callers=callers)
    classify(table, rules, images)
    found = table["category"].astype(str).tolist()
    mostly = _dominant(capture.samples)
    return [
        mostly.get((f.symbol, f.dso), "work") if got == "work" else got
        for f, got in zip(chosen, found, strict=True)
    ]


def _dominant(frame: pd.DataFrame) -> dict[tuple[str, str], str]:
    """Per (function, object): the category most of this profile's samples there have."""
    sums = frame.groupby(["symbol", "dso", "category"], observed=True)["weight"].sum()
    out: dict[tuple[str, str], tuple[str, float]] = {}
    for group, weight in sums.items():
        symbol, dso, category = (str(part) for part in cast(tuple[Any, ...], group))
        if (symbol, dso) not in out or float(weight) > out[(symbol, dso)][1]:
            out[(symbol, dso)] = (category, float(weight))
    return {k: c for k, (c, _) in out.items()}


def attribute_chains(
    capture: S.Capture,
    rules: list[Rule],
    images: dict[str, ElfImage],
    namer: FrameNamer | None = None,
) -> ChainOutcome:
    """Re-classify the rows of generic kernel code by their callchains (see the module
    docstring); the classified samples table is updated in place. `namer` names a
    table of stack frames in place as the report names its rows (the symbolizer's)."""
    frame = capture.samples
    outcome = ChainOutcome(total=float(frame["weight"].sum()) if len(frame) else 0.0)
    if not capture.stacks or not len(frame):
        return outcome
    chain = chain_rules()
    eligible = _eligible(frame, chain)
    if not eligible.any():
        return outcome
    stack = frame["stack"].to_numpy()
    walk = _Walk(chain, capture.stack_frames)
    answers = {int(s): walk.walk(capture.stacks[int(s)]) for s in np.unique(stack[eligible])}
    pid_of = _pid_of_stack(frame, eligible)
    found = {a[:2]: pid_of[s] for s, a in answers.items() if isinstance(a, tuple)}
    pairs = sorted((*pair, pid) for pair, pid in found.items())
    classes = _classify_user_frames(capture, pairs, rules, images, namer)
    user = {pair[:2]: category for pair, category in zip(pairs, classes, strict=True)}
    _apply(frame, eligible, answers, user, outcome)
    return outcome


def _pid_of_stack(frame: pd.DataFrame, rows: npt.NDArray[np.bool_]) -> dict[int, int]:
    """A process of each stack's rows: its user frames are named in that process's
    mappings (a stack of the same frames in two processes of one program is alike)."""
    stacks = frame["stack"].to_numpy()[rows]
    pids = frame["pid"].to_numpy()[rows]
    return {int(s): int(p) for s, p in zip(stacks[::-1], pids[::-1], strict=True)}


def _apply(
    frame: pd.DataFrame,
    eligible: npt.NDArray[np.bool_],
    answers: dict[int, _Answer],
    user: dict[tuple[int, int], str],
    outcome: ChainOutcome,
) -> None:
    codes = frame["category"].cat.codes.to_numpy().copy()
    weight = frame["weight"].to_numpy()
    rows = np.flatnonzero(eligible)
    stack = frame["stack"].to_numpy()[rows]
    for s in np.unique(stack).tolist():
        answer = answers.get(int(s))
        if answer is None:
            outcome.undecided += float(weight[rows[stack == s]].sum())
            continue
        category = user[answer[:2]] if isinstance(answer, tuple) else answer
        hit = rows[stack == s]
        codes[hit] = CATEGORIES.index(category)
        w = float(weight[hit].sum())
        outcome.moved[category] = outcome.moved.get(category, 0.0) + w
        if isinstance(answer, tuple) and answer[2]:
            outcome.preempted += w
    frame["category"] = pd.Categorical.from_codes(
        codes, categories=pd.Index(CATEGORIES), validate=False
    )
