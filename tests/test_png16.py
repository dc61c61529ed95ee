"""The 16-bit PNG writer produces files every reader opens, bit for bit."""

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from quayscan.datasets.png16 import encode_png16


@pytest.mark.parametrize("compression", [0, 1, 6])
def test_round_trip(compression, rng):
    image = rng.integers(0, 65536, size=(67, 131), dtype=np.uint16)
    image[10:20] = 60000  # a flat band, where compression helps
    data = encode_png16(image, compression)
    assert np.array_equal(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED), image)
    assert np.array_equal(np.array(Image.open(io.BytesIO(data))).astype(np.uint16), image)


def test_refuses_non_16_bit():
    with pytest.raises(ValueError, match="uint16"):
        encode_png16(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="compression"):
        encode_png16(np.zeros((4, 4), np.uint16), 11)
