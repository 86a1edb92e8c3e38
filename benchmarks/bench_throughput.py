"""Throughput benchmark (issue 6): one command, same run for every ratio.

    python benchmarks/bench_throughput.py ../shared/data/videos [--repeats 4] [--out benchmarks/results]

is ``qclip-bench bench`` (library: :mod:`qclip_plugin.benchmark.throughput`): videos/s of the decode
floor, loading with each sampler, the model's forward pass and end-to-end scoring of the real clips
in ``../shared/data/videos`` at 1 and 2 workers; on a CUDA machine also PE-Core-L in fp32 and bf16
with peak memory. Every ratio is given in wall time and in CPU time (this process and its workers:
steadier when other programs share the cores). Writes ``throughput.json`` and ``throughput.md``
(the README's table).
"""

from __future__ import annotations

import sys

from qclip_plugin.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
