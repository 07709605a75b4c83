"""A fixed-rate loop that measures itself: period, jitter, compute time, deadline misses.

Deadlines are absolute (tick i is due at start + i * period), so a slow tick never shifts every
later one, unlike "do the work, then sleep one period" loops that drift. An overrun counts as a
deadline miss and the loop resumes at the next future deadline instead of bursting to catch up.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import time
from typing import Callable

import numpy as np


class TimingStats:
    """Per-tick timing in preallocated ring buffers (constant memory however long the run)."""

    def __init__(self, period_s: float, capacity: int = 100_000) -> None:
        self.period_s = period_s
        self.capacity = capacity
        self.periods = np.zeros(capacity)
        self.computes = np.zeros(capacity)
        self.lateness = np.zeros(capacity)
        self.count = 0
        self.deadline_misses = 0
        self.skipped_ticks = 0
        self.first_start: float | None = None
        self.last_start: float | None = None

    def record(self, start: float, compute: float, lateness: float, missed: bool) -> None:
        i = self.count % self.capacity
        self.periods[i] = start - self.last_start if self.last_start is not None else self.period_s
        self.computes[i] = compute
        self.lateness[i] = lateness
        if self.first_start is None:
            self.first_start = start
        self.last_start = start
        self.count += 1
        self.deadline_misses += int(missed)

    def summary(self, window: int | None = None) -> dict[str, float]:
        """Percentiles over all recorded ticks (up to ``capacity``), or over the newest ``window``."""
        n = min(self.count, self.capacity)
        if n == 0:
            return {"count": 0}
        if window is not None and window < n:
            end = self.count % self.capacity
            idx = (np.arange(end - window, end)) % self.capacity
            per, comp, late = self.periods[idx] * 1e3, self.computes[idx] * 1e3, self.lateness[idx] * 1e3
        else:
            per, comp, late = self.periods[:n] * 1e3, self.computes[:n] * 1e3, self.lateness[:n] * 1e3
        n = per.size
        jit = np.abs(per[1:] - self.period_s * 1e3) if n > 1 else np.zeros(1)
        span = (self.last_start - self.first_start) if self.count > 1 else 0.0
        return {
            "count": self.count,
            "target_rate_hz": round(1.0 / self.period_s, 3),
            "rate_hz": round((self.count - 1) / span, 3) if span > 0 else float("nan"),
            "period_mean_ms": round(float(per.mean()), 4),
            "period_p50_ms": round(float(np.percentile(per, 50)), 4),
            "period_p99_ms": round(float(np.percentile(per, 99)), 4),
            "period_max_ms": round(float(per.max()), 4),
            "jitter_std_ms": round(float(per[1:].std()) if n > 1 else 0.0, 4),
            "jitter_p99_ms": round(float(np.percentile(jit, 99)), 4),
            "compute_p50_ms": round(float(np.percentile(comp, 50)), 4),
            "compute_p90_ms": round(float(np.percentile(comp, 90)), 4),
            "compute_p99_ms": round(float(np.percentile(comp, 99)), 4),
            "compute_max_ms": round(float(comp.max()), 4),
            "wake_lateness_p99_ms": round(float(np.percentile(late, 99)), 4),
            "deadline_misses": self.deadline_misses,
            "skipped_ticks": self.skipped_ticks,
            "miss_rate": round(self.deadline_misses / self.count, 6),
        }


class FixedRateLoop:
    """Calls ``tick_fn(i)`` every ``1 / rate_hz`` seconds on absolute deadlines.

    Sleeping is coarse (``time.sleep`` wakes late by up to a scheduler quantum), so the loop sleeps
    until ``spin_s`` before the deadline and busy-waits the rest: a fraction of a millisecond of
    CPU per tick buys wake-ups within microseconds. ``realtime=False`` runs ticks back to back
    (lock-step simulation) and still measures compute time.
    """

    def __init__(self, rate_hz: float, realtime: bool = True, clock: Callable[[], float] = time.perf_counter,
                 sleep: Callable[[float], None] = time.sleep, spin_s: float = 0.0002) -> None:
        if rate_hz <= 0:
            raise ValueError(f"rate_hz must be positive, got {rate_hz}")
        self.period = 1.0 / rate_hz
        self.realtime = realtime
        self.clock, self.sleep, self.spin_s = clock, sleep, spin_s

    def _wait_until(self, deadline: float) -> None:
        remaining = deadline - self.clock()
        if remaining > self.spin_s:
            self.sleep(remaining - self.spin_s)
        while self.clock() < deadline:
            pass

    def run(self, tick_fn: Callable[[int], bool], max_ticks: int | None = None, stats: TimingStats | None = None) -> TimingStats:
        """Run until ``tick_fn`` returns False or ``max_ticks``; ``stats`` may be passed in to be read live."""
        stats = stats if stats is not None else TimingStats(self.period)
        start = self.clock()
        i = 0
        k = 0  # deadline index
        while max_ticks is None or i < max_ticks:
            deadline = start + k * self.period
            if self.realtime:
                self._wait_until(deadline)
            t0 = self.clock()
            keep_going = tick_fn(i)
            t1 = self.clock()
            next_deadline = start + (k + 1) * self.period
            missed = self.realtime and t1 > next_deadline
            stats.record(t0, t1 - t0, max(0.0, t0 - deadline) if self.realtime else 0.0, missed)
            i += 1
            k += 1
            if missed:  # skip the deadlines already past instead of bursting through them
                skip = int((t1 - start) / self.period) + 1 - k
                stats.skipped_ticks += max(0, skip)
                k += max(0, skip)
            if keep_going is False:
                break
        return stats


def try_realtime(priority: int = 50, lock_memory: bool = True) -> list[str]:
    """Ask for SCHED_FIFO at ``priority`` and locked memory; return what worked and what did not (never raises)."""
    messages = []
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        messages.append(f"SCHED_FIFO priority {priority}: enabled")
    except (PermissionError, OSError, AttributeError) as e:
        messages.append(f"SCHED_FIFO priority {priority}: not available ({e}); run with CAP_SYS_NICE or an rtprio limit (ulimit -r) for real-time scheduling")
    if lock_memory:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            MCL_CURRENT, MCL_FUTURE = 1, 2
            if libc.mlockall(MCL_CURRENT | MCL_FUTURE) != 0:
                err = ctypes.get_errno()
                messages.append(f"mlockall: refused ({os.strerror(err)}); raise the memlock limit (ulimit -l) to lock memory")
            else:
                messages.append("mlockall: memory locked")
        except (OSError, AttributeError) as e:
            messages.append(f"mlockall: not available ({e})")
    return messages
