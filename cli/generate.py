"""``quayscan generate``: write a synthetic dual-energy scan dataset folder.

    quayscan generate --out data/demo --count 16 --seed 1 --preview
    quayscan generate --out data/train --count 4000 --seed 100 --profile linac-9-6 --workers 2
    quayscan generate --out data/site --count 200 --seed 7 --profile-file my_scanner.json
"""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate a synthetic scan dataset", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="dataset folder to write")
    p.add_argument("--count", type=int, required=True, help="number of scans")
    p.add_argument("--seed", type=int, required=True, help="data set seed; scan i depends only on (seed, i)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--profile", default="linac-6-3", help="built-in scanner profile (default: linac-6-3)")
    group.add_argument("--profile-file", help="scanner profile JSON file instead of a built-in one")
    p.add_argument("--anomaly-rate", type=float, default=0.3, help="share of scans with an anomaly (default: 0.3)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default: 1)")
    p.add_argument("--preview", action="store_true", help="also write preview.png, a contact sheet (default: off)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset in --out (default: refuse)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (default: shown)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from quayscan.datasets.make_dataset import PREVIEW, generate_dataset
    from quayscan.datasets.profiles import load_profile, load_profile_file

    profile = load_profile_file(args.profile_file) if args.profile_file else load_profile(args.profile)
    records = generate_dataset(
        args.out, args.count, args.seed, profile, anomaly_rate=args.anomaly_rate, workers=args.workers,
        preview=args.preview, overwrite=args.overwrite, progress=not args.no_progress,
    )
    inspect = sum(r["label"] == "inspect" for r in records)
    print(f"wrote {len(records)} scans ({inspect} inspect, {len(records) - inspect} release) to {args.out}")
    if args.preview:
        print(f"contact sheet: {args.out}/{PREVIEW}")
    return 0
