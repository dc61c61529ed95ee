"""``quayscan card``: show a model's card (the metadata in its ONNX file), as JSON or Markdown.

    quayscan card                                   # the shipped model, JSON
    quayscan card --model runs/default/model.onnx --markdown > MODEL_CARD.md
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("card", help="show a model's card", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="ONNX model (default: the shipped model)")
    p.add_argument("--markdown", action="store_true", help="Markdown instead of JSON (default: JSON)")
    p.set_defaults(run=run)


def _fmt(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def _calibration_data(card) -> str:
    cal = card.evaluation.get("calibration")
    if not cal:
        return "the validation set"
    return (f"{cal['n_scans']} scans, {cal['n_inspect']} of them to inspect: recall {cal['inspect_recall']:.3f} there, "
            f"at least {cal['recall_lower_95']:.3f} with 95% confidence")


def markdown(card) -> str:
    lines = [f"# Model card: {card.model_version}", "", f"Created {card.created or 'n/a'}.", "",
             "## Operating point", "",
             f"- inspect threshold on the anomaly probability: {card.thresholds.inspect:.4f}",
             f"- commodity threshold on the probability of the declared class: {card.thresholds.commodity:.4f}",
             f"- calibrated for inspect recall {card.thresholds.target_recall} on {_calibration_data(card)}", "",
             "## Evaluation", "",
             "| data | scans | AUC | inspect recall | release rate | commodity top-1 |", "|---|---|---|---|---|---|"]
    for name, m in card.evaluation.items():
        lines.append(f"| {name} | {m.get('n_scans', '')} | {_fmt(m.get('auc'))} | {_fmt(m.get('inspect_recall'))} "
                     f"| {_fmt(m.get('release_rate'))} | {_fmt(m.get('commodity_top1'))} |")
    for name, m in card.evaluation.items():
        if m.get("recall_by_type"):
            lines += ["", f"Recall by anomaly type ({name}): " + ", ".join(
                f"{k} {_fmt(v)}" for k, v in sorted(m["recall_by_type"].items()))]
    lines += ["", "## Inputs and outputs", "",
              f"- preprocessing: {json.dumps(card.preprocess.to_dict())}",
              f"- classes: {', '.join(card.class_names)}",
              f"- network: {json.dumps(card.net_config)}", "",
              "## Data recipe", "", "```json", json.dumps(card.data_recipe, indent=2), "```", ""]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from quayscan.model.card import read_card
    from quayscan.model.runner import DEFAULT_MODEL

    card = read_card(args.model or DEFAULT_MODEL)
    print(markdown(card) if args.markdown else json.dumps(card.to_dict(), indent=2))
    return 0
