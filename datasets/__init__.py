"""Scans, readers, the commodity library and the synthetic scan generator.

This package needs numpy, OpenCV, tifffile and pydicom only; serving and training both build on it.
"""

from quayscan.datasets.errors import ScanError
from quayscan.datasets.scan import Scan

__all__ = ["Scan", "ScanError"]
