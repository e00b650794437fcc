"""Timing that survives noisy machines: warm-up, blocks, medians, one library at a time.

Interleaving two libraries call by call lets one library's spinning threads steal a core from
the other, so each function is timed on its own, after a short sleep and a warm-up, in blocks
whose medians are compared.

>>> t = time_blocks(lambda: sum(range(100)), blocks=3, min_block_s=0.001)
>>> t.median > 0
True
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """Per-call seconds of each block; ``median`` is the median of the blocks."""

    per_call: tuple[float, ...]
    calls_per_block: int

    @property
    def median(self) -> float:
        return statistics.median(self.per_call)

    @property
    def ms(self) -> float:
        return self.median * 1e3


def time_blocks(
    fn: Callable[[], object],
    *,
    blocks: int = 7,
    min_block_s: float = 0.05,
    warmup_s: float = 0.03,
    settle_s: float = 0.05,
) -> Timing:
    """Time ``fn()`` in ``blocks`` blocks of equal call counts, each at least ``min_block_s``."""
    time.sleep(settle_s)
    end = time.perf_counter() + warmup_s
    calls = 0
    while True:
        fn()
        calls += 1
        if time.perf_counter() >= end:
            break
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    n = max(1, int(min_block_s / one))
    per_call = []
    for _ in range(blocks):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        per_call.append((time.perf_counter() - t0) / n)
    return Timing(tuple(per_call), n)
