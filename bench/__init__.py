"""Benchmarks, not tests: ``python -m bench.throughput`` (or latency, handshake, soak)."""

import os


def two_cpus() -> list[int] | None:
    """The CPUs this process may use, or None, having said so, when there are fewer than two
    (a benchmark gives each side a core of its own)."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        print("cannot benchmark: needs two CPUs (one per side)")
        return None
    return cpus
