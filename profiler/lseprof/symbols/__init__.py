"""Symbols: ELF images, instruction decoding and naming the addresses in a samples table.

Lives here: ELF loading (pyelftools), aarch64 and x86 decoding (capstone), outline-
atomic helper names and fingerprints, the static ``inspect`` of a binary, and the
symbolizer that names ``[unknown]`` and ``guest-0x...`` frames. May import the core
modules, ``lseprof.capture`` and ``lseprof.readers``; never analysis or above.
"""
