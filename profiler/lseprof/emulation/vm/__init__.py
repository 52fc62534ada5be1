"""A full-system aarch64 Linux under qemu-system-aarch64: ``lseprof vm``.

Where user-mode qemu runs one aarch64 program, this boots Debian's arm64 kernel with a
Debian arm64 user space (perf matching the kernel, CPython 3.11, lseprof's
dependencies) and runs one command in it as root, with the PMU (``cycles`` samples,
overflow interrupts), kernel frames and scheduler tracepoints that an emulated
program lacks. Emulated time is not hardware time: TCG derives ``cycles`` from its
virtual clock, so a profile here is a time profile with imprecise instruction
attribution. Capture layer: imports core modules only. Nothing of it is used on an
aarch64 host (there the machine is the host itself).

The API (the CLI's ``lseprof vm make`` / ``lseprof vm run`` are thin wrappers)::

    from lseprof.emulation.vm import Share, ensure_image, measure_boot, run_in_vm

    info = ensure_image()                    # make once (root, ~1-2 min), quick after
    result = run_in_vm(
        ["perf", "record", "-e", "cycles", "-g", "-o", "perf.data", "--", "/project/x"],
        shares=[Share.extra(Path("inputs"), "inputs", writable=False)],  # /mnt/inputs
        cpu="max", smp=2, memory=4096, timeout=600, out_dir=Path("vm-out"),
    )
    result.exit_code, result.boot_seconds   # the command's own status; host seconds

* **Shares** (virtio-9p): the checkout, read-only at ``/project`` (with ``project``;
  ``lseprof`` on the guest's PATH runs ``python3 -m lseprof`` from it); ``out_dir``,
  writable at ``/out`` and the command's working directory (None: no /out, cwd /);
  each ``Share.extra(host, tag, writable)`` at ``/mnt/TAG``. The data and native build
  directories are shared too where they are links out of the checkout, and the guest's
  ``LSEPROF_DATA_DIR`` / ``LSEPROF_NATIVE_BIN_DIR`` point at them.
* **The guest**: root, ``kptr_restrict`` 0, ``perf_event_paranoid`` -1,
  ``perf_cpu_time_max_percent`` 0, tracefs at /sys/kernel/tracing, tmpfs on /tmp,
  stdin /dev/null; kernel booted with ``nokaslr`` (kernel addresses are the same on
  every boot of one image).
* **Streams**: the command's stdout and stderr are written to ``stdout``/``stderr``
  (binary streams; the process's own by default) while it runs.
* **Errors** (:class:`lseprof.errors.LseprofError`, one line, exit code): usage or an
  absent, damaged or outdated image 2 (naming ``lseprof vm make``); the command not
  finished by ``timeout`` (whole run, boot included) 124; a kernel panic or a guest
  that stopped without an exit status 125 (the console log is kept and named);
  interrupted 130 (Ctrl-C or SIGTERM is forwarded to the command as SIGINT, and what
  it wrote to ``out_dir`` stays; a second one, or ``grace`` seconds, kill the guest).
* **Images**: :func:`image_dir` (``data/vm-arm64``, ``$LSEPROF_VM_IMAGE`` wins);
  :func:`image_problems` ([] when intact; quick, or ``full`` re-hashing every byte);
  :func:`ensure_image` / :func:`make_image` (pins in ``pins.py``; an image made with
  other pins is made again). The image's ``root/`` is the guest's file system, for
  naming the guest's binaries on the host.
* **Coherence** (``run_in_vm(..., coherence=CoherenceSettings())``): qemu loads the
  coherence plugin (:func:`coherence_plugin_args` is its ``-plugin`` option, built
  by ``make coherence`` into :func:`coherence_dir`, pinned to qemu
  :data:`QEMU_PIN`), the guest runs the command through ``coh-exec`` so that its
  process tree is followed, and ``out_dir`` gets :data:`COHERENCE_FILE` (the
  plugin's; a partial snapshot every few seconds, the whole one at exit) and
  :data:`COHERENCE_META` (command, machine, outcome, times, the work the command
  reported); ``VmResult.coherence`` names the first. The programs built with the
  plugin are at :func:`guest_program` in such a run.
* **The guest's files from the host**: :class:`GuestView` maps a run's guest paths to
  host paths (shares, then the image's root) and builds the ``--symfs`` directory
  that names what the machine recorded.
"""

from lseprof.emulation.vm.coherence import (
    COHERENCE_FILE,
    COHERENCE_META,
    QEMU_PIN,
    CoherenceSettings,
    StdoutTail,
    coherence_dir,
    coherence_plugin_args,
    coherence_share,
    guest_program,
    move_coherence,
    reported_work,
    require_coherence,
)
from lseprof.emulation.vm.guest import Share
from lseprof.emulation.vm.host import find_qemu, installed_version
from lseprof.emulation.vm.image import (
    MAKE_STEPS,
    ImageInfo,
    ensure_image,
    image_dir,
    image_info,
    image_problems,
    make_image,
    record_boot_seconds,
    remake_hint,
    require_image,
)
from lseprof.emulation.vm.machine import (
    CPUS,
    EXIT_GUEST_FAILED,
    EXIT_INTERRUPTED,
    EXIT_TIMEOUT,
    VmResult,
    measure_boot,
    qemu_command,
    run_in_vm,
)
from lseprof.emulation.vm.view import GuestView

__all__ = [
    "COHERENCE_FILE",
    "COHERENCE_META",
    "CPUS",
    "EXIT_GUEST_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_TIMEOUT",
    "MAKE_STEPS",
    "QEMU_PIN",
    "CoherenceSettings",
    "GuestView",
    "ImageInfo",
    "Share",
    "StdoutTail",
    "VmResult",
    "coherence_dir",
    "coherence_plugin_args",
    "coherence_share",
    "ensure_image",
    "find_qemu",
    "guest_program",
    "image_dir",
    "image_info",
    "image_problems",
    "installed_version",
    "make_image",
    "measure_boot",
    "move_coherence",
    "qemu_command",
    "record_boot_seconds",
    "remake_hint",
    "reported_work",
    "require_coherence",
    "require_image",
    "run_in_vm",
]
