"""``quayscan dataset export``: reviewed cases of the service as a dataset folder for training.

    quayscan dataset export --db sqlite:///var/quayscan.db --blobs var/blobs --out data/port
    quayscan dataset export --db postgresql+psycopg://q@db/quayscan --blobs /data/blobs --out data/port-nov \\
        --since 2026-11-01 --until 2026-11-30
    quayscan train --init runs/base/best.pt --data data/synth --data data/port --out runs/ft

Officers' clears and inspections without a finding become ``release``; inspections that found something
become ``inspect`` with the finding's category; cases never reviewed or still awaiting their inspection are
left out. See ``quayscan.training.export_cases``.
"""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dataset", help="dataset folders from the service's reviewed cases", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    e = actions.add_parser("export", help="export reviewed cases as a dataset folder", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    e.add_argument("--db", dest="db_url", required=True, help="the service's database URL")
    e.add_argument("--blobs", dest="blobs_dir", required=True, help="the service's blob folder")
    e.add_argument("--out", required=True, help="dataset folder to write")
    e.add_argument("--since", help="cases created at or after this date or ISO time, UTC (default: the first)")
    e.add_argument("--until", help="cases created before this ISO time; a date alone includes that day "
                   "(default: now)")
    e.add_argument("--overwrite", action="store_true", help="replace an existing folder in --out (default: refuse)")
    e.add_argument("--no-progress", action="store_true", help="no progress bar (default: shown)")
    e.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from quayscan.training.export_cases import export_cases, parse_when

    recipe = export_cases(
        args.db_url, args.blobs_dir, args.out, since=parse_when(args.since, "--since"),
        until=parse_when(args.until, "--until", end_of_day=True), overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    labels = ", ".join(f"{n} {k}" for k, n in recipe["labels"].items()) or "no cases"
    left = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in recipe["excluded"].items()) or "none"
    print(f"wrote {recipe['count']} cases ({labels}; {recipe['audit_samples']} from the audit sample) to {args.out}")
    print(f"left out: {left}")
    return 0
