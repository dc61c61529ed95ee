"""``quayscan calibrate``: choose a model's thresholds again on labelled scans, into a copy of the model.

    quayscan calibrate --model runs/default/model.onnx --data data/cal-a --data data/cal-b --out model.onnx
    quayscan calibrate --data data/port-scanner-export --out var/models/port.onnx     # the shipped model

The inspect threshold is the highest at which the decision policy inspects --target-recall of the scans
that must be inspected; the commodity threshold flags 1% of clean, honestly declared loads. The card of the copy
records the data, the figures reached on it and the lower bound on recall that so many scans vouch for.
"""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate", help="recalibrate a model's thresholds on labelled scans", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="ONNX model (default: the shipped model)")
    p.add_argument("--data", action="append", required=True, help="dataset folder with labels.jsonl (repeatable)")
    p.add_argument("--out", required=True, help="the calibrated copy to write (may be --model itself)")
    p.add_argument("--target-recall", type=float, default=0.99, help="inspect recall to reach (default: 0.99)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (default: shown)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from quayscan.training.recalibrate import recalibrate

    record = recalibrate(args.model, args.data, args.out, args.target_recall, progress=not args.no_progress)
    print(json.dumps(record, indent=2))
    print(f"calibrated model: {args.out}")
    return 0
