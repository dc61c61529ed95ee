"""Benchmark the bare triage pipeline on full-size 40 ft dual-energy scans.

    python bench/model.py                       # the shipped model
    python bench/model.py --model runs/x/model.onnx --int8 runs/x/model-int8.onnx

Measures, in one run: PNG pair decode, preprocessing, one onnxruntime run (1 and 2 threads), and the whole
decode + preprocess + run path; prints medians and p90 in ms and each stage's share of the whole.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from quayscan.datasets.folder import write_images
from quayscan.datasets.generator import generate_scan
from quayscan.datasets.profiles import load_profile
from quayscan.datasets.readers import read_scan
from quayscan.model.preprocess import pad_batch, preprocess
from quayscan.model.runner import Runner


def timed(fn, n: int) -> np.ndarray:
    fn()  # warm-up
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return np.array(out)


def fmt(name: str, ms: np.ndarray, whole: float | None = None) -> str:
    share = f"  {np.median(ms) / whole:6.1%} of the whole" if whole else ""
    return f"  {name:<34} median {np.median(ms):7.2f} ms   p90 {np.percentile(ms, 90):7.2f} ms{share}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="ONNX model (default: the shipped model)")
    parser.add_argument("--int8", help="a quantised variant to compare (optional)")
    parser.add_argument("--n", type=int, default=40, help="repetitions per measurement (default: 40)")
    args = parser.parse_args()
    profile = load_profile("linac-6-3")
    with tempfile.TemporaryDirectory() as d:
        i = 0
        while True:  # the first 40 ft scan of a fixed seed
            g = generate_scan(31337, i, profile)
            i += 1
            if g.labels["container"] == "40ft":
                break
        write_images(Path(d), {"files": {"high": "h.png", "low": "l.png"}}, g.images)
        high, low = Path(d) / "h.png", Path(d) / "l.png"
        scan = read_scan(high, low, pitch_mm=profile.pitch_mm, air_value=profile.air_value)
        h, w = scan.shape
        print(f"one 40 ft dual-energy scan, {w} x {h} px x 2, 16-bit PNG ({high.stat().st_size / 1e6:.1f} MB each)")
        models = [("fp32", args.model)] + ([("int8", args.int8)] if args.int8 else [])
        for label, path in models:
            runner2 = Runner(path, threads=2)
            runner1 = Runner(path, threads=1)
            x = pad_batch([preprocess(scan, runner2.card.preprocess)])
            whole = timed(lambda: runner2.predict([read_scan(high, low, pitch_mm=profile.pitch_mm,
                                                                  air_value=profile.air_value)]), args.n)
            print(f"{label} model {runner2.version} ({Path(runner2.path).stat().st_size / 1e6:.1f} MB), input {x.shape}:")
            med = float(np.median(whole))
            print(fmt("decode PNG pair", timed(lambda: read_scan(high, low, pitch_mm=profile.pitch_mm,
                                                                air_value=profile.air_value), args.n), med))
            print(fmt("preprocess", timed(lambda: preprocess(scan, runner2.card.preprocess), args.n), med))
            print(fmt("onnxruntime run, 2 threads", timed(lambda: runner2.run(x), args.n), med))
            print(fmt("onnxruntime run, 1 thread", timed(lambda: runner1.run(x), args.n)))
            print(fmt("decode + preprocess + run (2 thr)", whole))
            print(f"  bare pipeline throughput on 2 cores: ~{1000 / med:.1f} scans/s (one at a time)")


if __name__ == "__main__":
    main()
