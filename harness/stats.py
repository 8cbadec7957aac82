"""Latency percentiles, the one way the load test and the benchmark compute them."""

import math


def percentile(sorted_values: list[float], percent: float) -> float:
    """The nearest-rank percentile of an ascending list."""
    rank = max(1, math.ceil(percent / 100 * len(sorted_values)))
    return sorted_values[rank - 1]
