"""``quayscan compare``: two models on the same scans, with the differences, their uncertainty, and the
scans where they disagree (as pictures); says whether b would pass the promotion gate against a.

    quayscan compare --a model/default/quayscan-default.onnx --b runs/ft/model.onnx --data data/gate --out runs/cmp
"""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="compare two models on a dataset folder", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--a", required=True, help="the current model (ONNX)")
    p.add_argument("--b", required=True, help="the candidate model (ONNX)")
    p.add_argument("--data", required=True, help="dataset folder with labels.jsonl")
    p.add_argument("--out", required=True, help="report folder: report.json, report.html, disagreements/")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from quayscan.training.compare import compare

    r = compare(args.a, args.b, args.data, args.out, progress=not args.no_progress)
    print(json.dumps({"a": r["a"]["model_version"], "b": r["b"]["model_version"], "difference": r["difference"],
                      "n_disagreements": r["n_disagreements"], "gate": r["gate"]}, indent=2))
    print(f"report: {args.out}/report.html")
    return 0
