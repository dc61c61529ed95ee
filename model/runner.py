"""The onnxruntime runner (no torch): preprocess, run, decide.

    runner = Runner()                               # the shipped default model
    result = runner.triage(scan, declared=[{"hs_code": "620342"}])
    result.decision.decision, result.decision.reasons, result.heatmap
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from quayscan.datasets.scan import Scan
from quayscan.model.card import ModelCard
from quayscan.model.policy import Decision, Thresholds, decide
from quayscan.model.preprocess import STRIDE
from quayscan.model.preprocess import pad_batch, preprocess
from quayscan.model.quality import check_quality

log = logging.getLogger(__name__)
DEFAULT_MODEL = Path(__file__).parent / "default" / "quayscan-default.onnx"
OUTPUTS = ("inspect_logit", "commodity_logits", "heatmap")


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


@dataclass
class Prediction:
    """Raw model outputs for one scan, as probabilities."""

    anomaly_prob: float
    commodity_probs: np.ndarray  # (C,)
    heatmap: np.ndarray  # (h, w) in the preprocessed frame
    input_width: int  # preprocessed width before padding


@dataclass
class TriageResult:
    decision: Decision
    prediction: Prediction | None
    quality: list[str]


class Runner:
    """One ONNX model in an onnxruntime session, with its card.

    Args:
        path: the ONNX file (default: the shipped model).
        threads: intra-op threads (default: the CPUs this process may use).
    """

    def __init__(self, path: str | Path | None = None, threads: int | None = None):
        import onnxruntime as ort

        self.path = Path(path) if path is not None else DEFAULT_MODEL
        if not self.path.is_file():
            raise FileNotFoundError(f"model file not found: {self.path}")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or usable_cpus()
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        self.card = ModelCard.from_metadata(self.session.get_modelmeta().custom_metadata_map, str(self.path))
        self.input_name = self.session.get_inputs()[0].name

    @property
    def version(self) -> str:
        return self.card.model_version

    @property
    def thresholds(self) -> Thresholds:
        return self.card.thresholds

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw outputs for a preprocessed batch (B, 3, H, W): logits, logits, heatmap probabilities."""
        out = self.session.run(list(OUTPUTS), {self.input_name: batch.astype(np.float32, copy=False)})
        return out[0], out[1], out[2]

    def predict(self, scans: list[Scan]) -> list[Prediction]:
        xs = [preprocess(s, self.card.preprocess) for s in scans]
        inspect_logit, commodity_logits, heat = self.run(pad_batch(xs))
        probs = softmax(commodity_logits)
        return [Prediction(float(sigmoid(inspect_logit[i])), probs[i], heat[i], xs[i].shape[2]) for i in range(len(xs))]

    def triage(self, scan: Scan, declared: list[dict[str, Any]] | None, *, declared_empty: bool = False) -> TriageResult:
        """Preprocess, run and decide one scan; any failure of the model gives ``inspect``."""
        quality = check_quality(scan)
        try:
            pred = self.predict([scan])[0]
        except Exception:  # fail closed, whatever broke
            log.exception("model failed on a scan; deciding inspect")
            pred = None
        decision = decide(
            pred.anomaly_prob if pred else None, pred.commodity_probs if pred else None, self.card.class_names,
            declared, self.card.thresholds, declared_empty=declared_empty, quality_problems=quality,
        )
        return TriageResult(decision, pred, quality)


def scan_columns(pred: Prediction) -> int:
    """How many of the heatmap's columns cover the scan; the rest cover the padding of the model input."""
    padded = pred.input_width + (-pred.input_width) % STRIDE
    return max(1, int(round(pred.heatmap.shape[1] * pred.input_width / padded)))


def heatmap_to_scan(pred: Prediction, scan: Scan, cfg) -> np.ndarray:
    """The heatmap on the scan's own pixel grid (float32 in [0, 1]), for overlays.

    The heatmap covers the padded model input; only its first ``input_width`` columns' worth is the scan,
    and its rows span ``cfg.height * cfg.pitch_mm`` millimetres from the top of the frame.
    """
    import cv2

    h, w = scan.shape
    cols = scan_columns(pred)
    rows = int(min(h, round(cfg.height * cfg.pitch_mm / scan.pitch_mm[1])))
    out = np.zeros((h, w), np.float32)
    out[:rows] = cv2.resize(pred.heatmap[:, :cols].astype(np.float32), (w, rows), interpolation=cv2.INTER_LINEAR)
    return out
