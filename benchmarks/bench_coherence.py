"""Cache lines between cores: what the coherence plugin measures, and what it costs.

    .venv/bin/python -m benchmarks.bench_coherence [--reps 2] [--lines 3000]
        [--iters 2000000] [--smp 4] [--skip-cost] [--skip-checks] [--skip-encoder]

Every run is one boot of `lseprof vm run`'s machine (run_in_vm, the library call
behind the command) with the plugin loaded as `lseprof vm run --coherence` loads it.

1. **Cost.** The false-sharing program (2 threads x --iters increments, unpadded and
   padded) without the plugin and with it under each interleaving (free, lockstep:100,
   rr:100), and with the comparison build that puts the whole model behind one mutex
   (free): the program's own time (its clock, in the guest), the command's host time
   and the whole run's wall time, each as a ratio to the run without the plugin
   (median of --reps runs, interleaved).
2. **Checks.** Transfers of fs unpadded against padded; one shared atomic counter
   against one per thread for inline LSE, LL/SC and outline-atomic builds; the
   scheduler tests' mutex hand-off; the top line of each with what moved it.
3. **rayon vs window.** The built-in encoder (aarch64 build: outline atomics) at 4
   threads on --smp virtual CPUs over the first --lines lines of the corpus, --reps
   runs of each variant (rr:100, the default): transfers per MiB side by side with a
   Welch interval of their difference, the top lines of each; then one free-running
   run of each, and each variant's throughput without the plugin, for its cost.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from benchmarks.common import bench_console, save
from lseprof.analysis.coherence import load_coherence
from lseprof.analysis.diff import compare_coherence
from lseprof.capture.build import binary_path
from lseprof.emulation.vm import CoherenceSettings, Share, coherence_dir, run_in_vm
from lseprof.paths import data_dir
from lseprof.results import CoherenceResult

console = bench_console()
# The test programs at the same path with and without the plugin (its own share of
# them, /mnt/lseprof-coherence, exists only with it).
PROGRAMS = "/mnt/progs/aarch64"
ENCODER_THREADS = 4
MODES: dict[str, CoherenceSettings | None] = {
    "none": None,
    "free": CoherenceSettings(interleave="free"),
    "lockstep:100": CoherenceSettings(interleave="lockstep"),
    "rr:100": CoherenceSettings(),
    "global mutex (free)": CoherenceSettings(
        interleave="free", plugin=coherence_dir() / "test" / "libcoherence-globallock.so"
    ),
}


def _vm(
    argv: list[str],
    out: Path,
    settings: CoherenceSettings | None,
    smp: int = 2,
    shares: tuple[Any, ...] = (),
) -> dict[str, Any]:
    """One boot: the command's JSON report, times, and the coherence result."""
    stdout, stderr = io.BytesIO(), io.BytesIO()
    started = time.monotonic()
    shares = (Share.extra(coherence_dir(), "progs", False), *shares)
    result = run_in_vm(
        argv, out_dir=out, coherence=settings, smp=smp, stdout=stdout, stderr=stderr,
        shares=shares, timeout=3600,
    )  # fmt: skip
    wall = time.monotonic() - started
    if result.exit_code != 0:
        raise SystemExit(f"{' '.join(argv)}: exit {result.exit_code}: {stderr.getvalue()!r}")
    lines = [line for line in stdout.getvalue().decode().splitlines() if line.startswith("{")]
    coherence = load_coherence(out) if settings is not None else None
    return {
        "report": json.loads(lines[-1]) if lines else {},
        "wall_s": wall,
        "command_s": result.command_seconds,
        "boot_s": result.boot_seconds,
        "coherence": coherence,
    }


def _ratio(value: float, base: float) -> str:
    return f"{value:.3g} ({value / base:.1f}x)" if base else f"{value:.3g}"


def cost(root: Path, reps: int, iters: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for mode in ("unpadded", "padded"):
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in MODES}
        for rep in range(reps):
            order = list(MODES) if rep % 2 == 0 else list(reversed(MODES))
            for name in order:
                out = root / f"cost-{mode}-{len(runs[name])}-{name.split()[0]}"
                argv = [f"{PROGRAMS}/fs", mode, "2", str(iters)]
                runs[name].append(_vm(argv, out, MODES[name]))
        figures[mode] = {
            name: {
                "program_s": statistics.median(r["report"]["seconds"] for r in rs),
                "command_s": statistics.median(r["command_s"] for r in rs),
                "wall_s": statistics.median(r["wall_s"] for r in rs),
                "transfers": [r["coherence"].transfers if r["coherence"] else None for r in rs],
            }
            for name, rs in runs.items()
        }
    table = Table(
        title=f"What the plugin costs: fs, 2 threads x {iters:,} increments, -smp 2 "
        f"(median of {reps}; ratio to no plugin)",
        title_justify="left",
    )
    for col in ("program", "plugin", "program s (guest clock)", "command s", "whole run s",
                "transfers"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("program", "plugin") else "right")
    for mode, by_name in figures.items():
        base = by_name["none"]
        for name, f in by_name.items():
            table.add_row(
                f"fs {mode}",
                name,
                _ratio(f["program_s"], base["program_s"]),
                _ratio(f["command_s"], base["command_s"]),
                _ratio(f["wall_s"], base["wall_s"]),
                ", ".join(f"{t:,}" for t in f["transfers"] if t is not None) or "-",
            )
    console.print(table)
    return figures


def _top(result: CoherenceResult | None) -> str:
    if result is None or not result.lines:
        return "-"
    line = result.lines[0]
    insn = line.instructions[0] if line.instructions else None
    moved = f" by {insn.symbol} ({insn.mnemonic})" if insn is not None else ""
    # Mnemonics hold [x1]-like operands: text, not rich markup.
    return escape(f"{line.symbol} {line.transfers:,} ({line.sharing}){moved}")


def checks(root: Path, iters: int) -> dict[str, Any]:
    small = str(iters // 10)
    cases = [
        ("fs unpadded", [f"{PROGRAMS}/fs", "unpadded", "2", small]),
        ("fs padded", [f"{PROGRAMS}/fs", "padded", "2", small]),
    ]
    for build in ("atomic-lse", "atomic-llsc", "atomic-outline"):
        cases += [
            (f"{build} shared", [f"{PROGRAMS}/{build}", "shared", "2", small]),
            (f"{build} private", [f"{PROGRAMS}/{build}", "private", "2", small]),
        ]
    cases.append(("handoff 2000 items", [f"{PROGRAMS}/handoff", "2000", "0"]))
    table = Table(
        title="What it measures (rr:100, -smp 2): transfers per program", title_justify="left"
    )
    for col in ("program", "transfers", "per item", "top line, what moved it most"):
        table.add_column(col, justify="right" if col in ("transfers", "per item") else "left")
    figures: dict[str, Any] = {}
    for name, argv in cases:
        run = _vm(argv, root / ("check-" + name.replace(" ", "-")), CoherenceSettings())
        result = run["coherence"]
        figures[name] = result.to_dict() if result else None
        table.add_row(
            name,
            f"{result.transfers:,}" if result else "-",
            f"{result.transfers_per_item:.4g}" if result and result.transfers_per_item else "-",
            _top(result),
        )
    console.print(table)
    un, pad = figures["fs unpadded"], figures["fs padded"]
    console.print(
        f"fs: unpadded / padded transfers = {un['transfers'] / max(pad['transfers'], 1):,.0f}x"
    )
    return figures


def _corpus(root: Path, lines: int) -> Path:
    source = data_dir() / "english-prose.txt"
    corpus = root / "corpus" / "corpus.txt"
    corpus.parent.mkdir(parents=True, exist_ok=True)
    with source.open(encoding="utf-8") as text:
        corpus.write_text("".join(line for _, line in zip(range(lines), text, strict=False)))
    return corpus


def _encoder_argv(variant: str, guest_bin: str) -> list[str]:
    return [
        f"{guest_bin}/{variant}/bpe-encode", "--threads", str(ENCODER_THREADS),
        "--corpus", "/mnt/corpus/corpus.txt", "--vocab", "/mnt/lseprof-data/gpt2",
        "--iterations", "1", "--json",
    ]  # fmt: skip


def encoder(root: Path, reps: int, lines: int, smp: int) -> dict[str, Any]:
    corpus = _corpus(root, lines)
    bins = binary_path("aarch64", "rayon").parent.parent
    shares = (Share.extra(corpus.parent, "corpus", False), Share.extra(bins, "encoders", False))
    guest_bin = "/mnt/encoders"
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for variant in ("rayon", "window"):
        results[variant] = {"rr:100": [], "free": [], "none": []}
    plan = [("rr:100", rep) for rep in range(reps)] + [("free", 0), ("none", 0)]
    for mode, rep in plan:
        for variant in ("rayon", "window") if rep % 2 == 0 else ("window", "rayon"):
            out = root / f"enc-{variant}-{mode.split(':')[0]}-{rep}"
            settings = None if mode == "none" else MODES[mode]
            run = _vm(_encoder_argv(variant, guest_bin), out, settings, smp, shares)
            results[variant][mode].append(run)
    return _encoder_table(results, reps, lines, smp)


def _encoder_table(
    results: dict[str, dict[str, list[dict[str, Any]]]], reps: int, lines: int, smp: int
) -> dict[str, Any]:
    table = Table(
        title=f"rayon vs window: bpe-encode (aarch64, outline atomics), {ENCODER_THREADS} "
        f"threads, -smp {smp}, first {lines:,} corpus lines",
        title_justify="left",
    )
    columns = (
        "variant",
        "interleaving",
        "runs",
        "transfers per MiB",
        "transfers per item",
        "MiB/s emulated",
        "MiB/s without plugin",
        "top line (rr), what moved it",
    )
    for col in columns:
        left = col in ("variant", "interleaving") or col.startswith("top")
        table.add_column(col, justify="left" if left else "right")
    figures: dict[str, Any] = {}
    for variant, modes in results.items():
        plain = modes["none"][0]["report"].get("mib_per_s")
        for mode in ("rr:100", "free"):
            found = [r["coherence"] for r in modes[mode] if r["coherence"] is not None]
            per_mib = [c.transfers_per_mib for c in found if c.transfers_per_mib is not None]
            per_item = [c.transfers_per_item for c in found if c.transfers_per_item is not None]
            speed = statistics.median(r["report"].get("mib_per_s", 0.0) for r in modes[mode])
            figures[f"{variant} {mode}"] = {
                "transfers_per_mib": per_mib,
                "transfers_per_item": per_item,
                "mib_per_s": speed,
                "mib_per_s_without_plugin": plain,
                "top": [c.lines[0].to_dict() if c.lines else None for c in found[:1]],
            }
            table.add_row(
                variant, mode, str(len(found)),
                ", ".join(f"{v:,.0f}" for v in per_mib), ", ".join(f"{v:.3g}" for v in per_item),
                f"{speed:.3f}", f"{plain:.3f}" if plain else "-",
                _top(found[0]) if mode == "rr:100" and found else "",
            )  # fmt: skip
    console.print(table)
    delta = compare_coherence(
        [r["coherence"] for r in results["rayon"]["rr:100"]],
        [r["coherence"] for r in results["window"]["rr:100"]],
    )
    if delta is not None:
        interval = (
            f"95% CI {delta.ci_low:+,.0f} .. {delta.ci_high:+,.0f}"
            if delta.ci_low is not None and delta.ci_high is not None
            else "no interval"
        )
        console.print(
            f"window - rayon, transfers per {delta.per} (rr:100): {delta.a:,.0f} -> "
            f"{delta.b:,.0f}, {delta.delta:+,.0f} ({delta.delta_pct or 0:+.1f}%), {interval}"
        )
        figures["window_minus_rayon"] = delta.__dict__
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--iters", type=int, default=2_000_000)
    parser.add_argument("--lines", type=int, default=3000)
    parser.add_argument("--smp", type=int, default=4)
    parser.add_argument("--skip-cost", action="store_true")
    parser.add_argument("--skip-checks", action="store_true")
    parser.add_argument("--skip-encoder", action="store_true")
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="lseprof-bench-coherence-") as tmp:
        root = Path(tmp)
        if not args.skip_cost:
            figures["cost"] = cost(root, args.reps, args.iters)
        if not args.skip_checks:
            figures["checks"] = checks(root, args.iters)
        if not args.skip_encoder:
            figures["encoder"] = encoder(root, args.reps, args.lines, args.smp)
    save(console, "bench_coherence", figures)


if __name__ == "__main__":
    main()
