"""``quayscan train``: train the triage network (see ``quayscan.training.train`` for recipes).

    quayscan train --synth 3000:100:linac-6-3 --out runs/default --epochs 4
    torchrun --nproc_per_node=2 -m quayscan.cli train --synth 400:1:linac-6-3 --out runs/ddp --epochs 1
"""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train the triage network", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", action="append", default=[], help="dataset folder (repeatable)")
    p.add_argument("--synth", action="append", default=[],
                   help="draw scans from the generator: COUNT:SEED:PROFILE[:ANOMALY_RATE] (repeatable)")
    p.add_argument("--twins", action="store_true",
                   help="with every --synth scan that shows an anomaly, train on its honest twin too: the same load, "
                        "vehicle and detector noise with nothing hidden (default: off)")
    p.add_argument("--val-data", action="append", default=[], help="validation dataset folder (repeatable)")
    p.add_argument("--val-synth", action="append", default=[], help="validation scans from the generator")
    p.add_argument("--cal-data", action="append", default=[],
                   help="calibration dataset folder (repeatable): the final thresholds are chosen on it and the "
                        "validation set together (default: the validation set alone)")
    p.add_argument("--cal-synth", action="append", default=[], help="calibration scans from the generator")
    p.add_argument("--val-fraction", type=float, default=0.15,
                   help="share held out for validation when no --val-* is given (default: 0.15)")
    p.add_argument("--out", required=True, help="run folder: checkpoints, config.json, history.jsonl")
    p.add_argument("--epochs", type=int, default=4, help="epochs (default: 4)")
    p.add_argument("--batch-size", type=int, default=16, help="batch size per process (default: 16)")
    p.add_argument("--lr", type=float, default=3e-3, help="peak learning rate, one-cycle (default: 3e-3)")
    p.add_argument("--width", type=int, default=736, help="training frame width in px at 20 mm (default: 736)")
    p.add_argument("--window", type=int, default=0,
                   help="train on random windows of this many px of each scan, never cutting an anomaly box "
                        "(cheaper steps; validation and serving see whole scans; 0 = whole frames; default: 0)")
    p.add_argument("--window-epochs", type=int, default=None,
                   help="with --window, train on windows for this many epochs and on whole frames after them "
                        "(default: every epoch)")
    p.add_argument("--ema", type=float, default=0.0,
                   help="keep an exponential moving average of the weights with this decay per step (e.g. 0.998) "
                        "and validate, checkpoint and export the average (0 = off; default: 0)")
    p.add_argument("--heat-stride", type=int, default=8, choices=(8, 16),
                   help="heatmap resolution: stride-8 or stride-16 evidence head (default: 8)")
    p.add_argument("--paste", type=float, default=0.3,
                   help="probability of pasting a small dense object into a training scan (default: 0.3)")
    p.add_argument("--heat-pos-weight", type=float, default=20.0,
                   help="weight of anomaly cells against clean cells in the heatmap loss (default: 20)")
    p.add_argument("--heat-cells", type=float, default=0.0,
                   help="cap a scan's anomaly cells at this many cells' worth of weight, so a large box counts "
                        "as one finding (0 = no cap; default: 0)")
    p.add_argument("--heat-weight", type=float, default=1.0,
                   help="weight of the heatmap loss against the image and commodity losses (default: 1)")
    p.add_argument("--scene-boxes", choices=("target", "ignore"), default="target",
                   help="heatmap inside boxes of undeclared goods and false walls: learnt as anomalous (target) "
                        "or left to the image label (ignore) (default: target)")
    p.add_argument("--hard-negatives", type=int, default=0,
                   help="also learn that each scan's K hottest cells outside the boxes are cold (0 = off; default: 0)")
    p.add_argument("--hard-weight", type=float, default=5.0,
                   help="weight of the hard-negative term (default: 5)")
    p.add_argument("--init", help="initialise weights from this checkpoint (fine-tuning)")
    p.add_argument("--target-recall", type=float, default=0.99, help="inspect recall to calibrate for (default: 0.99)")
    p.add_argument("--workers", type=int, default=2, help="processes that read or generate scans (default: 2)")
    p.add_argument("--seed", type=int, default=0, help="seed of shuffling, augmentation and init (default: 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (default: shown)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from quayscan.training.train import main

    if not args.data and not args.synth:
        raise ValueError("give training data with --data DIR or --synth COUNT:SEED:PROFILE")
    return main(args)
