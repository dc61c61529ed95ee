"""``quayscan evaluate``: run a model and the decision policy on a dataset folder; write the report.

    quayscan evaluate --data data/test --out runs/report-test
    quayscan evaluate --model runs/default/model.onnx --data data/test --out runs/report-test
"""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="evaluate a model on a dataset folder", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="ONNX model (default: the shipped model)")
    p.add_argument("--data", required=True, help="dataset folder with labels.jsonl")
    p.add_argument("--out", required=True, help="report folder: report.json, report.html, plots")
    p.add_argument("--record", metavar="NAME", help="also store the headline figures in the model's card under "
                   "evaluation.NAME (default: don't touch the model)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (default: shown)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from quayscan.training.evaluate import evaluate

    m = evaluate(args.model, args.data, args.out, progress=not args.no_progress)
    head = {k: m[k] for k in ("n_scans", "auc", "threshold", "inspect_recall", "release_rate", "commodity_top1")}
    if args.record:
        from quayscan.model.card import read_card, write_card
        from quayscan.model.runner import DEFAULT_MODEL

        path = args.model or DEFAULT_MODEL
        card = read_card(path)
        card.evaluation[args.record] = {**head, "recall_by_type": m["recall_by_type"],
                                        "recall_by_size": m["recall_by_size"], "data": str(args.data)}
        write_card(path, card)
    print(json.dumps({**head, "recall_by_type": m["recall_by_type"]}, indent=2))
    print(f"report: {args.out}/report.html")
    return 0
