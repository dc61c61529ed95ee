"""``quayscan predict``: triage scan files with a model, as the service would.

    quayscan predict data/demo/scans/s1-000001_high.png            # finds the _low twin beside it
    quayscan predict --json --hs 620342 scan.tiff scan2.dcs
    quayscan predict --heatmaps out/ data/demo/scans/*_high.png
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="decide release or inspect for scan files", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", help="PNG (high; its _low twin is found), TIFF or DICOS files")
    p.add_argument("--model", help="ONNX model (default: the shipped model)")
    p.add_argument("--hs", action="append", default=[], help="declared HS code (repeatable; default: the "
                   "declaration in a dataset folder's labels.jsonl beside the file, if any)")
    p.add_argument("--empty", action="store_true", help="declared empty")
    p.add_argument("--pitch", type=float, nargs=2, metavar=("X", "Y"), help="pixel pitch in mm (default: from the file or 5 5)")
    p.add_argument("--air", type=float, help="air value (default: from the file or 60000)")
    p.add_argument("--json", action="store_true", help="one JSON object per scan")
    p.add_argument("--heatmaps", help="folder to write heatmap overlay PNGs into")
    p.set_defaults(run=run)


def _declaration_from_dataset(path: Path) -> dict | None:
    """The label record of a generated scan, when the file sits in a dataset folder."""
    labels = path.parent.parent / "labels.jsonl"
    if path.parent.name != "scans" or not labels.is_file():
        return None
    rel = f"scans/{path.name}"
    for line in labels.read_text().splitlines():
        rec = json.loads(line)
        if rec["files"]["high"] == rel:
            return rec
    return None


def run(args: argparse.Namespace) -> int:
    import cv2

    from quayscan.datasets.errors import ScanError
    from quayscan.datasets.readers import read_scan
    from quayscan.model.overlay import overlay
    from quayscan.model.runner import Runner, heatmap_to_scan

    runner = Runner(args.model)
    status = 0
    for name in args.files:
        path = Path(name)
        rec = _declaration_from_dataset(path)
        kw = {}
        if args.pitch:
            kw["pitch_mm"] = tuple(args.pitch)
        elif rec:
            kw["pitch_mm"] = tuple(rec["pixel_pitch_mm"])
        if args.air or rec:
            kw["air_value"] = args.air or rec["air_value"]
        try:
            scan = read_scan(path, **kw)
        except (ScanError, OSError) as exc:
            print(f"{name}: error: {exc}", file=sys.stderr)
            status = 2
            continue
        if args.hs or args.empty:
            declared, empty = [{"hs_code": h} for h in args.hs], args.empty
        elif rec:
            empty = rec["declared"].get("commodity") == "empty" and not rec["declared"].get("hs_code")
            declared = [] if empty else [rec["declared"]]
        else:
            declared, empty = [], False
        result = runner.triage(scan, declared, declared_empty=empty)
        d = result.decision
        out = {"file": name, **d.to_dict(), "threshold": runner.thresholds.inspect, "model_version": runner.version,
               "image_quality": result.quality}
        if args.heatmaps and result.prediction is not None:
            folder = Path(args.heatmaps)
            folder.mkdir(parents=True, exist_ok=True)
            heat = heatmap_to_scan(result.prediction, scan, runner.card.preprocess)
            target = folder / (path.stem + "_heatmap.png")
            cv2.imwrite(str(target), overlay(scan, heat))
            out["heatmap"] = str(target)
        if args.json:
            print(json.dumps(out))
        else:
            c = d.commodity
            score = "n/a" if d.score is None else f"{d.score:.3f}"
            print(f"{name}: {d.decision.upper()}  score {score} (threshold {runner.thresholds.inspect:.3f})  "
                  f"commodity {c.get('predicted')} {c.get('confidence', 0):.2f} (declared {c.get('declared')})  "
                  f"reasons: {', '.join(d.reasons) or '-'}")
    return status
