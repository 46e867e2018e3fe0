"""Wall time and peak memory of a command's whole process tree, sampled from outside it."""
from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass


@dataclass
class Measured:
    """What one measured command did."""

    seconds: float
    peak_rss_total_mib: float
    peak_rss_single_process_mib: float
    load_average: float
    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool


def run_measured(cmd: list[str], timeout: float, interval: float = 0.05) -> Measured:
    """Run ``cmd``; sample the RSS of it and all its children every ``interval`` seconds; kill it at ``timeout``."""
    import psutil

    start = time.perf_counter()
    load_before = os.getloadavg()[0]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak_total = peak_single = 0
    ps = psutil.Process(proc.pid)
    timed_out = False
    while proc.poll() is None:
        try:
            rss = [p.memory_info().rss for p in [ps, *ps.children(recursive=True)]]
            peak_total, peak_single = max(peak_total, sum(rss)), max(peak_single, max(rss))
        except psutil.Error:
            pass  # a child ended between listing and reading it
        if time.perf_counter() - start > timeout:
            for p in [*ps.children(recursive=True), ps]:
                p.kill()
            timed_out = True
            break
        time.sleep(interval)
    stdout, stderr = proc.communicate()
    return Measured(time.perf_counter() - start, peak_total / 2**20, peak_single / 2**20,
                    round((load_before + os.getloadavg()[0]) / 2, 1), proc.returncode, stdout, stderr, timed_out)
