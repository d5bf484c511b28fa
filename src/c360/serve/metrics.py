"""Request counts and latency histograms per route, in the Prometheus text format."""

from __future__ import annotations

import threading
from collections import defaultdict

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self._buckets: dict[tuple[str, str], list[int]] = {}
        self._sums: dict[tuple[str, str], float] = defaultdict(float)
        self._counts: dict[tuple[str, str], int] = defaultdict(int)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route)
        with self._lock:
            self._requests[(method, route, status)] += 1
            buckets = self._buckets.setdefault(key, [0] * len(BUCKETS))
            for index, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    buckets[index] += 1
            self._sums[key] += seconds
            self._counts[key] += 1

    def render(self) -> str:
        lines = [
            "# HELP c360_http_requests_total HTTP requests by method, route and status.",
            "# TYPE c360_http_requests_total counter",
        ]
        with self._lock:
            for (method, route, status), count in sorted(self._requests.items()):
                lines.append(
                    f'c360_http_requests_total{{method="{method}",route="{_label(route)}",'
                    f'status="{status}"}} {count}'
                )
            lines += [
                "# HELP c360_http_request_duration_seconds HTTP request latency by method and route.",
                "# TYPE c360_http_request_duration_seconds histogram",
            ]
            for (method, route), buckets in sorted(self._buckets.items()):
                labels = f'method="{method}",route="{_label(route)}"'
                for bound, count in zip(BUCKETS, buckets, strict=True):
                    lines.append(
                        f'c360_http_request_duration_seconds_bucket{{{labels},le="{bound}"}} {count}'
                    )
                total = self._counts[(method, route)]
                lines.append(f'c360_http_request_duration_seconds_bucket{{{labels},le="+Inf"}} {total}')
                lines.append(
                    f"c360_http_request_duration_seconds_sum{{{labels}}} {self._sums[(method, route)]:.6f}"
                )
                lines.append(f"c360_http_request_duration_seconds_count{{{labels}}} {total}")
        return "\n".join(lines) + "\n"
