"""Emulation: running aarch64 code on a host that is not aarch64.

Lives here: qemu user mode (``user``: the qemu command line, ``-perfmap``, checks of
what an aarch64 command is), the Debian arm64 user space that dynamically linked
programs run from (``sysroot``), and a whole aarch64 Linux machine under
qemu-system-aarch64 (``vm``, a subsystem with one face). Part of the capture layer:
may import the core modules, ``lseprof.store`` and ``lseprof.capture``; nothing that
reads, analyses or reports. On an aarch64 host none of it is used.
"""
