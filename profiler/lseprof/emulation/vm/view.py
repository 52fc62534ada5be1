"""The guest's files as the host sees them: for naming what the machine recorded.

A perf.data made in the machine names its objects by guest paths (``/project/...``,
``/usr/lib/aarch64-linux-gnu/libc.so.6``, ``/mnt/TAG/...``). :class:`GuestView` maps
those paths to host paths (the checkout and the other shares, the image's ``root/``
for the rest) and builds a directory of links with the guest's layout: what perf and
lseprof take as ``--symfs``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from lseprof.emulation.vm.guest import Share, project_shares
from lseprof.emulation.vm.image import require_image


@dataclass(frozen=True)
class GuestView:
    """Guest path -> host path for one run of the machine: its shares (longest guest
    path first) over the image's root file system."""

    shares: tuple[tuple[str, Path], ...]
    root: Path

    @classmethod
    def of(
        cls, out_dir: Path | None, extra: Sequence[Share] = (), image: Path | None = None
    ) -> GuestView:
        """The view of a run with the checkout shared (as :func:`run_in_vm` shares it by
        default), `out_dir` at /out and the `extra` shares."""
        every = project_shares()[0] + list(extra)
        if out_dir is not None:
            every.append(Share(out_dir.resolve(), "out", True, "/out"))
        pairs = sorted(((s.guest, s.host) for s in every), key=lambda p: -len(p[0]))
        return cls(tuple(pairs), require_image(image) / "root")

    def host_path(self, guest: str) -> Path:
        """Where a guest path's file is on the host."""
        path = PurePosixPath(guest)
        for mount, host in self.shares:
            if path == PurePosixPath(mount) or PurePosixPath(mount) in path.parents:
                return host / path.relative_to(mount)
        return self.root / path.relative_to("/")

    def guest_path(self, host: Path) -> str | None:
        """Where a host file is in the guest, if a share holds it."""
        host = host.resolve()
        for mount, root in self.shares:
            if host == root or root in host.parents:
                return str(PurePosixPath(mount) / host.relative_to(root).as_posix())
        return None

    def symfs(self, directory: Path) -> Path:
        """`directory` made a tree of links with the guest's layout (the root file
        system's top entries, then each share at its mount point): a --symfs for
        perf.data recorded in the machine."""
        directory.mkdir(parents=True, exist_ok=True)
        shared = {PurePosixPath(mount).parts[1] for mount, _ in self.shares}
        for entry in sorted(self.root.iterdir()):
            if entry.name not in shared:
                _link(directory / entry.name, entry)
        for mount, host in self.shares:
            _link(directory / mount.lstrip("/"), host)
        return directory


def _link(at: Path, target: Path) -> None:
    at.parent.mkdir(parents=True, exist_ok=True)
    if at.is_symlink() or at.exists():
        if at.is_symlink() and at.resolve() == target.resolve():
            return
        at.unlink()
    at.symlink_to(target)
