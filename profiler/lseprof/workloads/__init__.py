"""Workloads lseprof runs for ``lseprof run``: how to build, start and read each.

Lives here: the built-in GPT-2 BPE encoder (``bpe``), the upstream Hugging Face
``tokenizers`` encoder (``hf_tokenizers``; its driver script, which runs under a
foreign interpreter, is ``workloads/hf_encode.py`` at the top of the checkout), and
their data files (``data``: the GPT-2 vocabulary and the corpus). May import every
layer below the jobs; the jobs import it.
"""
