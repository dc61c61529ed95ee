"""The triage network (torch): a MobileNetV3-small trunk with three heads.

    cfg = NetConfig(num_classes=12)
    net = TriageNet(cfg)
    inspect_logit, commodity_logits, heatmap = net(x)   # x: (B, 3, 256, W)

- ``heatmap`` (B, h, w): a coarse map of anomaly evidence, the sigmoid of a 1x1 convolution on the trunk's
  stride-16 features; trained against the anomaly boxes, and computed inside the graph so serving needs
  no torch.
- ``inspect_logit`` (B,): a smooth maximum (log-sum-exp) over the heatmap's logits: the scan is as
  suspicious as its most suspicious region.
- ``commodity_logits`` (B, C): from globally pooled stride-32 features.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torchvision.models import mobilenet_v3_small


@dataclass
class NetConfig:
    num_classes: int = 12
    in_channels: int = 3
    width_mult: float = 1.0
    dropout: float = 0.2
    #: sharpness of the log-sum-exp pooling (large = max, small = mean)
    pool_sharpness: float = 4.0

    def to_dict(self) -> dict:
        return asdict(self)


class TriageNet(nn.Module):
    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.cfg = cfg
        trunk = mobilenet_v3_small(weights=None, width_mult=cfg.width_mult).features
        for m in trunk.modules():
            if isinstance(m, nn.BatchNorm2d):
                # torchvision's 0.01 suits ImageNet-length runs; a short CPU run needs running stats that
                # catch up within a few hundred steps, or evaluation sees the initial statistics
                m.momentum = 0.1
        if cfg.in_channels != 3:
            first = trunk[0][0]
            trunk[0][0] = nn.Conv2d(cfg.in_channels, first.out_channels, 3, 2, 1, bias=False)
        # blocks 0..8 reach stride 16; the rest reach stride 32
        self.stem = trunk[:9]
        self.tail = trunk[9:]
        mid = self.stem[-1].out_channels
        top = self.tail[-1].out_channels
        self.evidence = nn.Sequential(
            nn.Conv2d(mid + top, 96, 1), nn.Hardswish(), nn.Conv2d(96, 1, 1),
        )
        self.commodity = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(top, cfg.num_classes))

    def forward(self, x: torch.Tensor, heat_logits: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(inspect_logit, commodity_logits, heatmap); with ``heat_logits`` the heatmap before its sigmoid."""
        f16 = self.stem(x)  # (B, 48, H/16, W/16)
        f32 = self.tail(f16)  # (B, 576, H/32, W/32)
        up = nn.functional.interpolate(f32, size=f16.shape[-2:], mode="nearest")  # (B, 576, H/16, W/16)
        logits = self.evidence(torch.cat([f16, up], dim=1))[:, 0]  # (B, H/16, W/16)
        k = self.cfg.pool_sharpness
        flat = k * logits.flatten(1)  # (B, h*w)
        top = flat.amax(dim=1, keepdim=True)  # (B, 1)
        # log of the mean of exp, written with tensor ops only so the exported graph keeps any width
        inspect_logit = (torch.log(torch.exp(flat - top).mean(dim=1)) + top[:, 0]) / k  # (B,)
        commodity_logits = self.commodity(f32.mean(dim=(2, 3)))  # (B, C)
        return inspect_logit, commodity_logits, logits if heat_logits else torch.sigmoid(logits)
