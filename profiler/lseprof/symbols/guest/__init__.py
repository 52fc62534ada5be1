"""Emulated guest code: naming the ``guest-0x<address>`` frames of qemu ``-perfmap`` runs.

A guest address is placed in its object through the guest's recorded mappings
(PIE executables, the dynamic loader, every shared object; checked by build-id,
named from the object's symbols, its debug file, or helper fingerprints), or
directly in a static non-PIE executable given with ``--binary``.

Modules: the samples-table pass (``resolve``) and guest address -> object ->
symbol (``objects``).
"""

from lseprof.symbols.guest.objects import use_debug_symbols
from lseprof.symbols.guest.resolve import has_guest, resolve_guest, set_values

__all__ = ["has_guest", "resolve_guest", "set_values", "use_debug_symbols"]
