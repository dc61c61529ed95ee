"""The triage network (torch): a MobileNetV3-small trunk with three heads.

    cfg = NetConfig(num_classes=12)
    net = TriageNet(cfg)
    inspect_logit, commodity_logits, heatmap = net(x)   # x: (B, 3, 192, W)

- ``heatmap`` (B, h, w): a coarse map of anomaly evidence at 1/``heat_stride`` of the input (8 or 16),
  the sigmoid of a small head on the trunk's features at that stride and below; trained against the
  anomaly boxes, and computed inside the graph so serving needs no torch. At stride 8 the head also sees
  the stride-8 block, where a 10 cm object (5 px at 20 mm) is still a few cells, not a fraction of one.
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
    #: resolution of the heatmap: 8 (stride-8 evidence head) or 16
    heat_stride: int = 8

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> NetConfig:
        """The config a checkpoint carries; checkpoints from before ``heat_stride`` existed are stride 16."""
        return cls(**{"heat_stride": 16, **d})


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
        if cfg.heat_stride not in (8, 16):
            raise ValueError(f"heat_stride must be 8 or 16, got {cfg.heat_stride!r}")
        # blocks 0..3 reach stride 8, 4..8 stride 16; the rest reach stride 32
        self.stem = trunk[:9]
        self.tail = trunk[9:]
        fine = trunk[3].out_channels
        mid = self.stem[-1].out_channels
        top = self.tail[-1].out_channels
        if cfg.heat_stride == 16:
            self.evidence = nn.Sequential(
                nn.Conv2d(mid + top, 96, 1), nn.Hardswish(), nn.Conv2d(96, 1, 1),
            )
        else:
            # the stride-32 context is squeezed before it is spread over 4x as many cells; a 3x3 output
            # convolution compares a cell with its neighbours (a compact object against its surroundings)
            self.context = nn.Sequential(nn.Conv2d(top, 64, 1), nn.Hardswish())
            self.evidence = nn.Sequential(
                nn.Conv2d(fine + mid + 64, 64, 1), nn.Hardswish(), nn.Conv2d(64, 1, 3, padding=1),
            )
            # start from "almost no cell is anomalous" (as focal-loss detectors do), not from 0.5 everywhere
            nn.init.constant_(self.evidence[-1].bias, -4.0)
        self.commodity = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(top, cfg.num_classes))

    def forward(self, x: torch.Tensor, heat_logits: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(inspect_logit, commodity_logits, heatmap); with ``heat_logits`` the heatmap before its sigmoid."""
        if self.cfg.heat_stride == 16:
            f16 = self.stem(x)  # (B, 48, H/16, W/16)
            f32 = self.tail(f16)  # (B, 576, H/32, W/32)
            up = nn.functional.interpolate(f32, size=f16.shape[-2:], mode="nearest")  # (B, 576, H/16, W/16)
            logits = self.evidence(torch.cat([f16, up], dim=1))[:, 0]  # (B, H/16, W/16)
        else:
            f8 = self.stem[:4](x)  # (B, 24, H/8, W/8)
            f16 = self.stem[4:](f8)  # (B, 48, H/16, W/16)
            f32 = self.tail(f16)  # (B, 576, H/32, W/32)
            size = f8.shape[-2:]
            up16 = nn.functional.interpolate(f16, size=size, mode="nearest")  # (B, 48, H/8, W/8)
            up32 = nn.functional.interpolate(self.context(f32), size=size, mode="nearest")  # (B, 64, H/8, W/8)
            logits = self.evidence(torch.cat([f8, up16, up32], dim=1))[:, 0]  # (B, H/8, W/8)
        k = self.cfg.pool_sharpness
        flat = k * logits.flatten(1)  # (B, h*w)
        top = flat.amax(dim=1, keepdim=True)  # (B, 1)
        # log of the mean of exp, written with tensor ops only so the exported graph keeps any width
        inspect_logit = (torch.log(torch.exp(flat - top).mean(dim=1)) + top[:, 0]) / k  # (B,)
        commodity_logits = self.commodity(f32.mean(dim=(2, 3)))  # (B, C)
        return inspect_logit, commodity_logits, logits if heat_logits else torch.sigmoid(logits)
