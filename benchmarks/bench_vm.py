"""The aarch64 machine: its image's size, boot-to-command time per CPU model, and
what `lseprof` itself costs inside.

    .venv/bin/python -m benchmarks.bench_vm [--reps 3] [--cpus max,neoverse-n1,cortex-a57]

Each boot runs `true` (nothing shared; `measure_boot`, what `lseprof vm make` prints
after making the image) or `lseprof --version` (the checkout shared, lseprof's
modules precompiled for the guest), interleaved over the CPU models. Wall seconds
from qemu's start to the command's start, and qemu's CPU seconds (steadier on a busy
host), as median [min-max] of --reps boots. Emulated (TCG) on this host: these are
the costs of the emulator, not of an aarch64 server.
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path
from typing import Any

from rich.table import Table

from benchmarks.common import bench_console, save
from lseprof.emulation.vm import image_dir, image_info, measure_boot, require_image, run_in_vm

console = bench_console()
MIB = 1024 * 1024


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} [{min(values):.1f}-{max(values):.1f}]"


def _size_table(image: Path) -> dict[str, float]:
    info = image_info(image)
    sizes = {name: size / MIB for name, size in info.sizes.items()}
    sizes["on disk (the image directory)"] = info.disk_bytes / MIB
    table = Table(title=f"Image {image}")
    table.add_column("part")
    table.add_column("MiB", justify="right")
    for name, mib in sizes.items():
        table.add_row(name, f"{mib:.0f}")
    console.print(table)
    return sizes


def _boots(cpus: list[str], reps: int) -> dict[str, dict[str, list[float]]]:
    found: dict[str, dict[str, list[float]]] = {}
    for rep in range(reps):
        for cpu in cpus:
            for what in ("true", "lseprof --version"):
                console.print(f"[{rep + 1}/{reps}] -cpu {cpu}: {what}")
                if what == "true":
                    result = measure_boot(cpu=cpu)
                else:
                    with open(os.devnull, "wb") as sink:
                        result = run_in_vm(
                            what.split(), cpu=cpu, out_dir=None, stdout=sink, stderr=sink
                        )
                row = found.setdefault(f"{cpu}: {what}", {"boot": [], "command": [], "qemu": []})
                row["boot"].append(result.boot_seconds)
                row["command"].append(result.command_seconds or 0.0)
                row["qemu"].append(result.qemu_cpu_seconds)
    return found


def _boot_table(found: dict[str, dict[str, list[float]]]) -> None:
    table = Table(title="Boot to command and the command (seconds, median [min-max])")
    for column in ("-cpu: command", "boot to command (wall)", "command (wall)", "qemu CPU"):
        table.add_column(column, justify="right" if column != "-cpu: command" else "left")
    for name, row in found.items():
        table.add_row(name, _spread(row["boot"]), _spread(row["command"]), _spread(row["qemu"]))
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--cpus", default="max,neoverse-n1,cortex-a57")
    args = parser.parse_args()
    image = require_image(image_dir())
    figures: dict[str, Any] = {"load_average": os.getloadavg(), "cpu_count": os.cpu_count()}
    figures["sizes_mib"] = _size_table(image)
    figures["boots"] = _boots(args.cpus.split(","), args.reps)
    _boot_table(figures["boots"])
    console.print(f"load average {figures['load_average']}, {figures['cpu_count']} CPUs")
    save(console, "bench_vm", figures)


if __name__ == "__main__":
    main()
