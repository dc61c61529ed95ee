"""``quayscan quantize``: a static int8 copy of a model, calibrated on a dataset folder.

    quayscan quantize --model model/default/quayscan-default.onnx --data data/val --out runs/int8.onnx
"""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quantize", help="static int8 quantisation of an ONNX model", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="fp32 ONNX model")
    p.add_argument("--data", required=True, help="dataset folder to calibrate activation ranges on")
    p.add_argument("--out", required=True, help="the int8 .onnx file to write")
    p.add_argument("--count", type=int, default=64, help="calibration scans (default: 64)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from quayscan.training.quantize import quantize

    print(f"wrote {quantize(args.model, args.data, args.out, args.count)}")
    return 0
