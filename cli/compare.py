"""``quayscan compare``: two models on the same scans, with the differences, their uncertainty, and the
scans where they disagree (as pictures); says whether b would pass the promotion gate against a.

    quayscan compare --a model/default/quayscan-default.onnx --b runs/ft/model.onnx --data data/gate --out runs/cmp

With ``--shadow VERSION``: the live cases the shadow model scored, from the service's database, its
decisions against the deciding model's (agreement matrix, scores, which one matched the officers):

    quayscan compare --db sqlite:///var/quayscan.db --shadow ft-2 --out runs/shadow [--since 2026-11-20]
"""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="compare two models on a dataset folder", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--a", help="the current model (ONNX)")
    p.add_argument("--b", help="the candidate model (ONNX)")
    p.add_argument("--data", help="dataset folder with labels.jsonl")
    p.add_argument("--out", required=True, help="report folder: report.json, report.html, disagreements/")
    p.add_argument("--shadow", metavar="VERSION", help="compare the live decisions with this shadow model's "
                   "stored ones instead (needs no --a/--b/--data)")
    p.add_argument("--db", dest="db_url", help="with --shadow: the service's database URL (default: "
                   "$QUAYSCAN_DB_URL or sqlite:///var/quayscan.db)")
    p.add_argument("--since", help="with --shadow: only cases created on or after this ISO date/time (UTC)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=run)


def _when(text: str | None):
    from datetime import datetime, timezone

    if text is None:
        return None
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--since must be an ISO date or date-time, got {text!r}") from None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def run_shadow(args: argparse.Namespace) -> int:
    from quayscan.cli.users import open_db
    from quayscan.serve.storage.registry import get_model, shadow_pairs
    from quayscan.training.compare import compare_live

    with open_db(args.db_url) as session:
        get_model(session, args.shadow)
        pairs = shadow_pairs(session, args.shadow, since=_when(args.since))
    rows = [{"case": {"case_id": c.id, "decision": c.decision, "reasons": list(c.reasons or []), "score": c.score,
                      "model_version": c.model_version, "status": c.status, "outcome": c.outcome},
             "shadow": {"decision": s.decision, "score": s.score, "reasons": s.reasons}} for c, s in pairs]
    r = compare_live(rows, args.shadow, args.out)
    print(json.dumps({k: r[k] for k in ("shadow_version", "deciding_versions", "n_cases", "agreement", "matrix",
                                        "release_rate", "officer")}, indent=2))
    print(f"report: {args.out}/report.html")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.shadow:
        return run_shadow(args)
    missing = [f"--{k}" for k in ("a", "b", "data") if getattr(args, k) is None]
    if missing:
        raise ValueError(f"{', '.join(missing)} required (or --shadow VERSION to compare live cases)")
    from quayscan.training.compare import compare

    r = compare(args.a, args.b, args.data, args.out, progress=not args.no_progress)
    print(json.dumps({"a": r["a"]["model_version"], "b": r["b"]["model_version"], "difference": r["difference"],
                      "n_disagreements": r["n_disagreements"], "gate": r["gate"]}, indent=2))
    print(f"report: {args.out}/report.html")
    return 0
