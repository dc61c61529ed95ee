"""Export a trained checkpoint to ONNX, verify it against torch, and write the model card into it.

    quayscan export --checkpoint runs/default/best.pt --out model.onnx
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch

from quayscan.model.card import ModelCard, write_card
from quayscan.model.network import TriageNet
from quayscan.model.runner import OUTPUTS, Runner

log = logging.getLogger(__name__)
OPSET = 17


class ParityError(RuntimeError):
    """onnxruntime and torch disagree on the same input beyond tolerance."""


def export_onnx(net: TriageNet, card: ModelCard, out: str | Path, sample: np.ndarray,
                rtol: float = 1e-3, atol: float = 1e-4) -> Path:
    """Export ``net`` with a dynamic batch and width, check it, compare with torch, embed the card.

    Args:
        net: the trained network (put in eval mode here).
        card: metadata to embed.
        out: the .onnx path.
        sample: a preprocessed batch (B, 3, H, W) used for tracing and the parity check.
        rtol, atol: tolerances of the parity check.

    Raises:
        ParityError: torch and onnxruntime differ beyond tolerance.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    net = net.eval()
    x = torch.from_numpy(sample.astype(np.float32))
    tmp = out.with_suffix(".tmp.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter announces its deprecation
        torch.onnx.export(
            net, (x,), str(tmp), input_names=["input"], output_names=list(OUTPUTS), opset_version=OPSET,
            dynamic_axes={"input": {0: "batch", 3: "width"}, "inspect_logit": {0: "batch"},
                          "commodity_logits": {0: "batch"}, "heatmap": {0: "batch", 2: "heat_width"}},
            dynamo=False,
        )
    onnx.checker.check_model(onnx.load(str(tmp)))
    write_card(tmp, card)
    check_parity(net, tmp, sample, rtol, atol)
    if sample.shape[3] > 4 * 32:  # and at a width the graph was not traced with
        check_parity(net, tmp, np.ascontiguousarray(sample[:, :, :, : sample.shape[3] - 64]), rtol, atol)
    tmp.replace(out)
    log.info("exported %s (%.1f MB)", out, out.stat().st_size / 1e6)
    return out


def check_parity(net: TriageNet, onnx_path: Path, sample: np.ndarray, rtol: float = 1e-3, atol: float = 1e-4) -> float:
    """Run torch and onnxruntime on the same batch; returns the largest absolute difference."""
    with torch.no_grad():
        ref = [t.numpy() for t in net.eval()(torch.from_numpy(sample.astype(np.float32)))]
    got = Runner(onnx_path, threads=1).run(sample)
    worst = 0.0
    for name, a, b in zip(OUTPUTS, ref, got):
        if a.shape != b.shape:
            raise ParityError(f"{name}: torch shape {a.shape} but onnxruntime {b.shape}")
        diff = float(np.max(np.abs(a - b)))
        worst = max(worst, diff)
        if not np.allclose(a, b, rtol=rtol, atol=atol):
            raise ParityError(f"{name}: onnxruntime differs from torch by up to {diff:.2e} (atol {atol}, rtol {rtol})")
    return worst
