#!/usr/bin/env python
"""Make the README's contact sheet (docs/contact_sheet.png): one scan of each anomaly type and a few
clean loads, rendered by the generator with the default profile.

    .venv/bin/python scripts/readme_images.py
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from quayscan.datasets.generator import render_scan, sample_spec
from quayscan.datasets.preview import contact_sheet
from quayscan.datasets.profiles import load_profile

OUT = Path(__file__).resolve().parents[1] / "docs" / "contact_sheet.png"
WANT = ["dense_concealment", "organic_concealment", "hidden_compartment", "undeclared_goods", "manifest_mismatch",
        "clean:steel_coils", "clean:vehicles", "clean:beverages"]


def main() -> None:
    profile = load_profile("linac-6-3")
    found: dict[str, object] = {}
    i = 0
    while len(found) < len(WANT):
        spec = sample_spec(np.random.default_rng([2026, i]), f"r{i}", anomaly_rate=0.5)
        i += 1
        key = spec.anomaly_types[0] if len(spec.anomaly_types) == 1 else (
            f"clean:{spec.truth_commodity}" if not spec.anomaly_types else None)
        if key in WANT and key not in found and (spec.layout != "2x20ft" or key == "undeclared_goods"):
            found[key] = spec
    items = []
    for key in WANT:
        scan = render_scan(found[key], profile)
        items.append((scan.images[0], scan.images[1], scan.labels))
    sheet = contact_sheet(items, width=900)
    cv2.imwrite(str(OUT), sheet, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
