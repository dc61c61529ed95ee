"""``quayscan export``: checkpoint -> ONNX with its model card, verified against torch.

    quayscan export --checkpoint runs/default/best.pt --out model/default/quayscan-default.onnx
"""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a checkpoint to ONNX", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="a checkpoint written by quayscan train (best.pt)")
    p.add_argument("--out", required=True, help="the .onnx file to write")
    p.add_argument("--version", help="model version (default: derived from the run folder and epoch)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from quayscan.training.export_checkpoint import export_checkpoint

    path = export_checkpoint(args.checkpoint, args.out, version=args.version)
    print(f"exported {path}")
    return 0
