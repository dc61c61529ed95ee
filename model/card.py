"""The model card: everything serving needs, stored in the ONNX file's metadata (no torch to read it).

Keys in ``metadata_props`` (values are JSON): ``model_version``, ``class_names``, ``preprocess``,
``thresholds``, ``net_config``, ``data_recipe``, ``evaluation``, ``created``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quayscan.model.policy import Thresholds
from quayscan.model.preprocess import PreprocessConfig

KEYS = ("model_version", "class_names", "preprocess", "thresholds", "net_config", "data_recipe", "evaluation", "created")


class ModelCardError(ValueError):
    """A model file lacks the metadata quayscan needs."""


@dataclass
class ModelCard:
    model_version: str
    class_names: list[str]
    preprocess: PreprocessConfig
    thresholds: Thresholds
    net_config: dict[str, Any] = field(default_factory=dict)
    data_recipe: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    created: str = ""

    def to_metadata(self) -> dict[str, str]:
        return {
            "model_version": json.dumps(self.model_version),
            "class_names": json.dumps(self.class_names),
            "preprocess": json.dumps(self.preprocess.to_dict()),
            "thresholds": json.dumps(self.thresholds.to_dict()),
            "net_config": json.dumps(self.net_config),
            "data_recipe": json.dumps(self.data_recipe),
            "evaluation": json.dumps(self.evaluation),
            "created": json.dumps(self.created),
        }

    @classmethod
    def from_metadata(cls, meta: dict[str, str], source: str = "model") -> ModelCard:
        missing = [k for k in ("model_version", "class_names", "preprocess", "thresholds") if k not in meta]
        if missing:
            raise ModelCardError(f"{source} has no quayscan metadata {missing}; export it with `quayscan export`")
        try:
            d = {k: json.loads(meta[k]) for k in KEYS if k in meta}
        except json.JSONDecodeError as exc:
            raise ModelCardError(f"{source} has malformed metadata: {exc}") from None
        return cls(
            model_version=d["model_version"],
            class_names=list(d["class_names"]),
            preprocess=PreprocessConfig.from_dict(d["preprocess"]),
            thresholds=Thresholds.from_dict(d["thresholds"]),
            net_config=d.get("net_config", {}),
            data_recipe=d.get("data_recipe", {}),
            evaluation=d.get("evaluation", {}),
            created=d.get("created", ""),
        )

    def to_dict(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self.to_metadata().items()}


def read_card(path: str | Path) -> ModelCard:
    """The card of an ONNX model file, read with onnxruntime (torch-free)."""
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
        raise ModelCardError(f"{path} is not a loadable ONNX model: {exc}") from None
    return ModelCard.from_metadata(sess.get_modelmeta().custom_metadata_map, str(path))


def write_card(path: str | Path, card: ModelCard) -> None:
    """Replace the card of an ONNX file in place (needs the ``onnx`` package, a training extra)."""
    import onnx

    path = Path(path)
    model = onnx.load(str(path))
    del model.metadata_props[:]
    for k, v in card.to_metadata().items():
        model.metadata_props.add(key=k, value=v)
    tmp = path.with_name(path.name + ".tmp")
    onnx.save(model, str(tmp))
    tmp.replace(path)
