"""Static int8 quantisation of an exported model with onnxruntime, calibrated on real preprocessed scans.

    quayscan quantize --model model.onnx --data data/val --out model-int8.onnx

The quantised file keeps the model card (version suffixed ``-int8``); whether it is worth serving is
decided by ``bench/model.py`` (speed) and ``quayscan evaluate`` (the quality bar), not assumed.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quant_pre_process, quantize_static

from quayscan.datasets.folder import load_scan, read_labels
from quayscan.model.card import read_card, write_card
from quayscan.model.preprocess import pad_batch, preprocess


class ScanReader(CalibrationDataReader):
    """Feeds preprocessed scans of a dataset folder, one at a time, at their own widths."""

    def __init__(self, folder: str | Path, cfg, count: int):
        records = read_labels(folder)[:count]
        self.inputs = [pad_batch([preprocess(load_scan(folder, r), cfg)]) for r in records]
        self.it = iter(self.inputs)

    def get_next(self):
        x = next(self.it, None)
        return None if x is None else {"input": x}


def quantize(model: str | Path, folder: str | Path, out: str | Path, count: int = 64) -> Path:
    """Write an int8 (QDQ, per-channel weights) copy of ``model`` calibrated on ``count`` scans of ``folder``."""
    card = read_card(model)
    out = Path(out)
    with tempfile.TemporaryDirectory() as d:
        prepared = Path(d) / "prepared.onnx"
        quant_pre_process(str(model), str(prepared))
        quantize_static(str(prepared), str(out), ScanReader(folder, card.preprocess, count),
                        quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, per_channel=True)
    card.model_version = f"{card.model_version}-int8"
    write_card(out, card)
    return out
