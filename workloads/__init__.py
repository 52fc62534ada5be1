"""Workload definitions: the built-in BPE batch encoder and arbitrary user commands."""
