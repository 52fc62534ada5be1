"""Jobs: end-to-end work that runs programs: ``run`` sessions, the nightly matrix, doctor.

Each job combines a workload (``workloads``), capture, analysis and the store.
May import every layer below it and the ``lseprof.workloads`` package; never the CLI.
"""
