"""Benchmark the HTTP service against the bare pipeline, both measured in the same run.

    python bench/serve.py                           # 8 scans, 10 s per level, 1/4/16 clients
    python bench/serve.py --seconds 20 --json runs/bench-serve.json

Measures, on full-size 40 ft dual-energy 16-bit PNG pairs (``--png compressed``: zlib as cv2 writes by
default, about 2.4 MB per energy; ``--png uncompressed``: as ``quayscan generate`` writes them, 2.9 MB per
energy, about 5x cheaper to decode):

- the bare pipeline, decode + preprocess + one onnxruntime run: single-stream latency (one runner, all
  cores) and 2-core throughput (one thread per core, each with its own 1-thread runner, or the two threads
  sharing one runner; the better one counts);
- ``quayscan serve`` on loopback (a fresh database and blob folder in a temporary directory): 1, 4 and 16
  concurrent clients posting the same scans to ``POST /v1/scans``; throughput, p50/p99 latency, errors,
  and the server's peak resident memory (VmHWM).

The clients share the cores with the server, so they are kept light: request bodies built once, one
keep-alive ``http.client`` connection per client thread. Their CPU time is printed beside the server's.
Prints a table and the ratios against the bare pipeline, each with its target; ``--json`` writes them.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from quayscan.datasets.generator import generate_scan
from quayscan.datasets.iso6346 import random_id
from quayscan.datasets.png16 import encode_png16
from quayscan.datasets.profiles import load_profile
from quayscan.datasets.readers import read_scan_bytes
from quayscan.model.runner import Runner, usable_cpus

TARGETS = {"throughput_ratio": 0.8, "latency_ratio": 1.3, "p99_16_ms": 400.0, "rss_mb": 600.0}


def encode(img: np.ndarray, png: str) -> bytes:
    if png == "uncompressed":
        return encode_png16(img)
    ok, buf = cv2.imencode(".png", img)  # default compression, as a scanner's software would
    assert ok
    return buf.tobytes()


def make_scans(n: int, profile_name: str, seed: int, png: str = "compressed") -> list[dict]:
    """The first ``n`` 40 ft scans of ``seed``, as PNG bytes plus what the scanner would say about them."""
    profile, rng = load_profile(profile_name), np.random.default_rng(seed)
    scans, i = [], 0
    while len(scans) < n:
        g = generate_scan(seed, i, profile)
        i += 1
        if g.labels["container"] != "40ft":
            continue
        pngs = [encode(img, png) for img in g.images]
        meta = {"container_id": random_id(rng), "declared": [{"hs_code": "620342", "description": "garments"}],
                "scanner_id": "bench", "scanned_at": "2026-11-22T08:00:00Z",
                "pixel_pitch_mm": g.labels["pixel_pitch_mm"], "air_value": g.labels["air_value"]}
        scans.append({"high": pngs[0], "low": pngs[1], "meta": meta, "shape": g.images[0].shape})
    return scans


def pipeline(runner: Runner, s: dict) -> None:
    scan = read_scan_bytes(s["high"], s["low"], pitch_mm=tuple(s["meta"]["pixel_pitch_mm"]),
                           air_value=s["meta"]["air_value"])
    runner.predict([scan])  # preprocess + one onnxruntime run


def bare_latency(scans: list[dict], seconds: float) -> np.ndarray:
    runner = Runner(threads=usable_cpus())
    pipeline(runner, scans[0])  # warm-up
    ms, t_end, i = [], time.perf_counter() + seconds, 0
    while time.perf_counter() < t_end:
        t = time.perf_counter()
        pipeline(runner, scans[i % len(scans)])
        ms.append((time.perf_counter() - t) * 1000)
        i += 1
    return np.array(ms)


def bare_throughput(scans: list[dict], seconds: float, streams: int, shared: bool) -> float:
    """Scans/s with ``streams`` threads each running the pipeline back to back."""
    if shared:  # as the service runs: one session, as many intra-op threads as CPUs
        runners = [Runner(threads=usable_cpus())] * streams
    else:
        runners = [Runner(threads=1) for _ in range(streams)]
    for r in runners:
        pipeline(r, scans[0])
    counts = [0] * streams
    start = threading.Barrier(streams + 1)
    t_end = [0.0]

    def loop(k: int) -> None:
        start.wait()
        i = k
        while time.perf_counter() < t_end[0]:
            pipeline(runners[k], scans[i % len(scans)])
            counts[k] += 1
            i += 1

    threads = [threading.Thread(target=loop, args=(k,)) for k in range(streams)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    t_end[0] = t0 + seconds
    start.wait()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - t0)


def multipart(s: dict, boundary: str) -> bytes:
    parts = []
    for name, data, ctype, fname in (("high", s["high"], "image/png", "high.png"),
                                     ("low", s["low"], "image/png", "low.png"),
                                     ("meta", json.dumps(s["meta"]).encode(), "application/json", None)):
        disp = f'form-data; name="{name}"' + (f'; filename="{fname}"' if fname else "")
        parts.append(f"--{boundary}\r\nContent-Disposition: {disp}\r\nContent-Type: {ctype}\r\n\r\n".encode()
                     + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid: int, field: str) -> float:
    """A ``VmHWM``/``VmRSS`` line of /proc/PID/status, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def start_server(work: Path, port: int) -> tuple[subprocess.Popen, str]:
    """``quayscan serve`` on a fresh database in ``work``; returns the process and a scanner key."""
    db = f"sqlite:///{work / 'q.db'}"
    cli = [sys.executable, "-m", "quayscan.cli"]
    out = subprocess.run(cli + ["keys", "create", "--role", "scanner", "--name", "bench", "--db", db],
                         cwd=work, check=True, capture_output=True, text=True).stdout
    key = out.strip().splitlines()[-1]
    with open(work / "serve.log", "w") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(cli + ["serve", "--host", "127.0.0.1", "--port", str(port), "--db", db,
                                       "--blobs", str(work / "blobs"), "--log-level", "warning"],
                                cwd=work, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"quayscan serve exited with {proc.returncode}:\n{(work / 'serve.log').read_text()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return proc, key
        except OSError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError("quayscan serve did not become ready within 90 s")


def load(port: int, key: str, bodies: list[bytes], ctype: str, clients: int, seconds: float, max_requests: int) -> dict:
    """``clients`` threads post back to back until ``seconds`` pass or ``max_requests`` are sent."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": ctype}
    lat: list[float] = []
    errors: list[str] = []
    sent = [0]
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    t_end = [0.0]

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        start.wait()
        i = k
        while time.perf_counter() < t_end[0]:
            with lock:
                if sent[0] >= max_requests:
                    break
                sent[0] += 1
            t = time.perf_counter()
            try:
                conn.request("POST", "/v1/scans", body=bodies[i % len(bodies)], headers=headers)
                resp = conn.getresponse()
                text = resp.read()
                ok, error = resp.status == 201, f"HTTP {resp.status}: {text[:200]!r}"
            except (OSError, http.client.HTTPException) as exc:
                ok, error = False, f"{type(exc).__name__}: {exc}"
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            ms = (time.perf_counter() - t) * 1000
            with lock:
                if ok:
                    lat.append(ms)
                else:
                    errors.append(error)
            i += clients
        conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    t_end[0] = t0 + seconds
    start.wait()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    a = np.array(lat) if lat else np.array([np.nan])
    return {"clients": clients, "requests": len(lat), "errors": len(errors),
            "first_error": errors[0] if errors else None, "seconds": wall,
            "throughput": len(lat) / wall, "p50_ms": float(np.percentile(a, 50)),
            "p99_ms": float(np.percentile(a, 99)),
            "client_cpu_s": (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)}


def serve_levels(scans: list[dict], levels: list[int], seconds: float, max_requests: int) -> tuple[list[dict], float]:
    boundary = "quayscan-bench-7c1d"
    bodies = [multipart(s, boundary) for s in scans]
    ctype = f"multipart/form-data; boundary={boundary}"
    with tempfile.TemporaryDirectory(prefix="quayscan-bench-") as d:
        port = free_port()
        proc, key = start_server(Path(d), port)
        try:
            load(port, key, bodies, ctype, 1, 60.0, len(bodies))  # warm-up: every scan once
            results = []
            for clients in levels:
                cpu0 = proc_cpu_s(proc.pid)
                r = load(port, key, bodies, ctype, clients, seconds, max_requests)
                r["server_cpu_s"] = proc_cpu_s(proc.pid) - cpu0
                r["server_rss_mb"] = proc_status(proc.pid, "VmRSS")
                results.append(r)
            peak = proc_status(proc.pid, "VmHWM")
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
    return results, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scans", type=int, default=8, help="distinct 40 ft scans to post (default: 8)")
    parser.add_argument("--profile", default="linac-6-3", help="scanner profile (default: linac-6-3)")
    parser.add_argument("--seed", type=int, default=31337, help="data set seed of the scans (default: 31337)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measurement (default: 10)")
    parser.add_argument("--max-requests", type=int, default=400, help="cap on requests per level (default: 400)")
    parser.add_argument("--clients", default="1,4,16", help="concurrent clients per level (default: 1,4,16)")
    parser.add_argument("--png", choices=["compressed", "uncompressed"], default="compressed",
                        help="how the scans' PNG files are written (default: compressed)")
    parser.add_argument("--json", help="write the results here as JSON (default: print only)")
    args = parser.parse_args()
    levels = [int(c) for c in args.clients.split(",")]
    cpus = usable_cpus()

    scans = make_scans(args.scans, args.profile, args.seed, args.png)
    h, w = scans[0]["shape"]
    mb = np.mean([len(s["high"]) + len(s["low"]) for s in scans]) / 1e6
    print(f"{len(scans)} dual-energy 40 ft scans, about {w} x {h} px x 2, 16-bit PNG, {args.png} ({mb:.1f} MB per pair), "
          f"{cpus} usable CPUs, load average {os.getloadavg()[0]:.2f} at start")

    lat = bare_latency(scans, args.seconds)
    bare_p50 = float(np.median(lat))
    own = bare_throughput(scans, args.seconds, cpus, shared=False)
    shared = bare_throughput(scans, args.seconds, cpus, shared=True)
    bare_tp, how = max((own, f"{cpus} threads, one 1-thread runner each"),
                       (shared, f"{cpus} threads sharing one {cpus}-thread runner"))
    print(f"bare pipeline (decode + preprocess + onnxruntime run), {len(lat)} runs:")
    print(f"  single stream ({cpus}-thread runner): p50 {bare_p50:.1f} ms, p90 {np.percentile(lat, 90):.1f} ms")
    print(f"  {cpus}-core throughput: {own:.1f} scans/s ({cpus} threads, own 1-thread runners), "
          f"{shared:.1f} scans/s ({cpus} threads, one shared {cpus}-thread runner)")
    print(f"  bare {cpus}-core throughput used below: {bare_tp:.1f} scans/s ({how})")

    results, peak = serve_levels(scans, levels, args.seconds, args.max_requests)
    print(f"quayscan serve on loopback (1 process; clients in this process: pre-built bodies, keep-alive, "
          f"one thread each, sharing the {cpus} cores):")
    print(f"  {'clients':>7} {'requests':>8} {'errors':>6} {'scans/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'server cpu':>10} {'client cpu':>10} {'RSS MB':>7}")
    for r in results:
        print(f"  {r['clients']:>7} {r['requests']:>8} {r['errors']:>6} {r['throughput']:>8.1f} {r['p50_ms']:>8.1f} "
              f"{r['p99_ms']:>8.1f} {r['server_cpu_s'] / r['seconds']:>9.0%} {r['client_cpu_s'] / r['seconds']:>9.0%} "
              f"{r['server_rss_mb']:>7.0f}")
    print("  (cpu: share of one core over the level)")
    for r in results:
        if r["first_error"]:
            print(f"  first error at {r['clients']} clients: {r['first_error']}")

    by = {r["clients"]: r for r in results}
    best_many = max((r["throughput"] for r in results if r["clients"] >= 4), default=float("nan"))
    ratios = {
        "throughput_ratio": best_many / bare_tp,
        "latency_ratio": by[1]["p50_ms"] / bare_p50 if 1 in by else float("nan"),
        "p99_16_ms": by[16]["p99_ms"] if 16 in by else float("nan"),
        "rss_mb": peak,
    }
    met = {"throughput_ratio": ratios["throughput_ratio"] >= TARGETS["throughput_ratio"],
           "latency_ratio": ratios["latency_ratio"] <= TARGETS["latency_ratio"],
           "p99_16_ms": ratios["p99_16_ms"] <= TARGETS["p99_16_ms"],
           "rss_mb": ratios["rss_mb"] <= TARGETS["rss_mb"]}
    mark = {True: "met", False: "NOT met"}
    print("ratios:")
    print(f"  throughput at 4+ clients / bare {cpus}-core throughput: {ratios['throughput_ratio']:.2f} "
          f"(target >= {TARGETS['throughput_ratio']}) {mark[met['throughput_ratio']]}")
    print(f"  p50 at 1 client / bare p50: {ratios['latency_ratio']:.2f} "
          f"(target <= {TARGETS['latency_ratio']}) {mark[met['latency_ratio']]}")
    print(f"  p99 at 16 clients: {ratios['p99_16_ms']:.0f} ms (target <= {TARGETS['p99_16_ms']:.0f} ms) "
          f"{mark[met['p99_16_ms']]}")
    print(f"  server peak RSS (VmHWM): {peak:.0f} MB (target <= {TARGETS['rss_mb']:.0f} MB) {mark[met['rss_mb']]}")

    if args.json:
        out = {"config": vars(args), "cpus": cpus, "scan_px": [w, h], "png_pair_mb": mb,
               "bare": {"p50_ms": bare_p50, "p90_ms": float(np.percentile(lat, 90)), "runs": len(lat),
                        "throughput_own_runners": own, "throughput_shared_runner": shared,
                        "throughput": bare_tp, "throughput_setup": how},
               "serve": results, "server_peak_rss_mb": peak, "ratios": ratios, "targets": TARGETS, "met": met}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
