"""One entry for a run plan: run it on this host, or, for ``--target aarch64-vm`` on a
host that is not aarch64, in one boot of the aarch64 machine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lseprof.capture import build as builds
from lseprof.jobs.runner import RunPlan, RunSession, execute_here
from lseprof.jobs.vm_runs import execute_in_vm
from lseprof.store import RunStoreProtocol


def execute(
    plan: RunPlan,
    store: RunStoreProtocol,
    runs_root: Path,
    on_progress: Callable[[str], None] = lambda _m: None,
) -> RunSession:
    """Run the whole plan; returns the records (also written to `store`)."""
    if plan.target == builds.VM_TARGET and not builds.host_is_aarch64():
        return execute_in_vm(plan, store, runs_root, on_progress)
    return execute_here(plan, store, runs_root, on_progress)
