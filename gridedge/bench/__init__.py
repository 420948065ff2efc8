"""Benchmark results against a reference machine and against the paper's figures.

``make bench`` runs the pytest-benchmark files in ``benchmarks/`` and saves their JSON, with a
description of the machine (pytest-benchmark's ``machine_info``, completed by
:mod:`gridedge.bench.plugin`). :mod:`gridedge.bench.compare` reads such a file and prints, per
benchmark group, this machine against a baseline kept in ``benchmarks/baselines/`` and against
the Raspberry Pi and laptop timings of Orlando et al. 2022. ``python -m gridedge.bench RESULTS``
is ``gridedge bench compare RESULTS``.

Modules
-------
results
    Reading pytest-benchmark JSON; keeping a trimmed copy as a baseline.
machine
    Describing the machine of a run, and telling when it ran under emulation.
compare
    The comparison table (and an optional plot).
plugin
    The pytest plugin that records the board and any emulation in ``machine_info``.
"""
