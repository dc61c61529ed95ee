"""Checkpoint -> ONNX: rebuild the network from the checkpoint's own config, then export and verify."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import torch

from quayscan.datasets.generator import GENERATOR_VERSION, generate_scan
from quayscan.datasets.profiles import load_profile
from quayscan.datasets.scan import Scan
from quayscan.model.card import ModelCard
from quayscan.model.export import export_onnx
from quayscan.model.network import NetConfig, TriageNet
from quayscan.model.policy import Thresholds
from quayscan.model.preprocess import PreprocessConfig, pad_batch, preprocess


def load_checkpoint(path: str | Path) -> tuple[TriageNet, dict]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    state = torch.load(path, map_location="cpu", weights_only=False)
    if "model" not in state or "net_config" not in state:
        raise ValueError(f"{path} is not a quayscan checkpoint (no model / net_config)")
    net = TriageNet(NetConfig.from_dict(state["net_config"]))
    net.load_state_dict(state["model"])
    return net.eval(), state


def parity_batch(cfg: PreprocessConfig) -> np.ndarray:
    """Two real scans of different lengths (a 20 ft and a longer one), preprocessed as serving does."""
    profile = load_profile("linac-6-3")
    xs = []
    for i in range(2):
        s = generate_scan(424242, i, profile)
        xs.append(preprocess(Scan(s.images[0], s.images[1], profile.pitch_mm, profile.air_value), cfg))
    return pad_batch(xs)


def export_checkpoint(checkpoint: str | Path, out: str | Path, version: str | None = None) -> Path:
    net, state = load_checkpoint(checkpoint)
    cfg = PreprocessConfig.from_dict(state["preprocess"])
    if version is None:
        version = f"{Path(checkpoint).parent.name}-e{state['epoch'] + 1}"
    card = ModelCard(
        model_version=version,
        class_names=list(state["class_names"]),
        preprocess=cfg,
        thresholds=Thresholds.from_dict(state.get("thresholds", Thresholds().to_dict())),
        net_config=state["net_config"],
        data_recipe={"generator_version": GENERATOR_VERSION, **state.get("data_recipe", {})},
        evaluation={"validation": {k: v for k, v in state.get("val_metrics", {}).items() if k != "confusion"},
                    **({"calibration": state["calibration"]} if "calibration" in state else {})},
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    )
    return export_onnx(net, card, out, parity_batch(cfg))
