"""Benchmark the generator: scans per second per core on full-resolution dual-energy 40 ft scans.

    python bench/generate.py                  # stage shares in one process, then 1 vs 2 workers
    python bench/generate.py --scans 40 --profile linac-9-6

Prints the share of time in each stage (scene and cargo, structure, transmission, detector, PNG encode),
scans/s on one core, the speed-up of ``--workers 2`` over 1 measured in the same run, and the peak
resident memory of a worker process.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np

from quayscan.datasets.png16 import encode_png16
from quayscan.datasets.generator import render_scan, sample_spec
from quayscan.datasets.profiles import load_profile


def stage_shares(profile_name: str, n: int) -> None:
    cv2.setNumThreads(1)
    profile = load_profile(profile_name)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    done = 0
    i = 0
    while done < n:
        spec = sample_spec(np.random.default_rng([9999, i]), f"b{i}", anomaly_rate=0.3)
        i += 1
        if spec.layout != "40ft":  # the benchmark is defined on 40 ft scans
            continue
        scan = render_scan(spec, profile, timings=timings)
        t = time.perf_counter()
        for im in scan.images:
            encode_png16(im)
        timings["png encode"] = timings.get("png encode", 0.0) + time.perf_counter() - t
        done += 1
    total = time.perf_counter() - t0
    h, w = scan.images[0].shape
    print(f"profile {profile_name}: {n} dual-energy 40 ft scans of about {w} x {h} px x {len(scan.images)}")
    print(f"one process, one core: {n / total:.2f} scans/s ({total / n * 1000:.0f} ms per scan)")
    staged = sum(timings.values())
    for k, v in sorted(timings.items(), key=lambda kv: -kv[1]):
        print(f"  {k:<14} {v / n * 1000:7.1f} ms  {v / staged:6.1%}")


def workers_speedup(profile_name: str, n: int) -> None:
    times = {}
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as d:
            cmd = [sys.executable, "-m", "quayscan.cli", "generate", "--out", d, "--count", str(n), "--seed", "5",
                   "--profile", profile_name, "--workers", str(workers), "--no-progress"]
            t = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            times[workers] = time.perf_counter() - t
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"quayscan generate, {n} scans (all layouts, process start included): "
          f"1 worker {times[1]:.1f} s ({n / times[1]:.2f} scans/s), 2 workers {times[2]:.1f} s "
          f"({n / times[2]:.2f} scans/s): speed-up x{times[1] / times[2]:.2f}")
    print(f"peak resident memory of one process: {child:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scans", type=int, default=30, help="40 ft scans for the stage timing (default: 30)")
    parser.add_argument("--profile", default="linac-6-3", help="scanner profile (default: linac-6-3)")
    parser.add_argument("--workers-scans", type=int, default=240, help="scans for the worker speed-up (default: 240)")
    args = parser.parse_args()
    stage_shares(args.profile, args.scans)
    workers_speedup(args.profile, args.workers_scans)


if __name__ == "__main__":
    main()
