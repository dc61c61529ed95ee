"""Scan readers: every accepted format, and every bad input refused with a specific, named error."""

from __future__ import annotations

import importlib.util
import struct
import warnings
import zlib
from io import BytesIO

import cv2
import numpy as np
import pydicom
import pytest
import tifffile
from pydicom.encaps import generate_frames

from quayscan.datasets.jpeg_lossless import decode_jpeg_lossless
from quayscan.datasets.errors import (
    BitDepthError,
    ChannelError,
    CorruptFileError,
    DimensionError,
    EnergyMismatchError,
    NotARadiographError,
    ScanError,
    UnsupportedFormatError,
)
from quayscan.datasets.readers import read_image_bytes, read_scan, read_scan_bytes
from quayscan.datasets.scan import DEFAULT_PITCH_MM


def png(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image)
    assert ok
    return buf.tobytes()


def tiff(*pages: np.ndarray, **kw) -> bytes:
    buf = BytesIO()
    with tifffile.TiffWriter(buf, byteorder=kw.pop("byteorder", "<")) as writer:
        for page in pages:
            writer.write(page, **kw)
    return buf.getvalue()


def forged_png(width: int, height: int, depth: int = 16, colour: int = 0) -> bytes:
    """A 16-bit PNG whose IHDR claims another size or type (the pixels never get decoded)."""
    data = bytearray(png(np.zeros((64, 64), np.uint16)))
    body = b"IHDR" + struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    data[12:29] = body
    data[29:33] = struct.pack(">I", zlib.crc32(body))
    return bytes(data)


def dcmread(path):
    with warnings.catch_warnings():  # the samples' UIDs have leading zeros
        warnings.simplefilter("ignore", UserWarning)
        return pydicom.dcmread(path)


def dcm_bytes(ds, **kw) -> bytes:
    buf = BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ds.save_as(buf, **kw)
    return buf.getvalue()


# ---- accepted inputs -------------------------------------------------------------------------------


def test_png_single_energy(tiny_pair):
    high, _ = tiny_pair
    image, info = read_image_bytes(png(high))
    assert info == {"format": "png"}
    assert image.dtype == np.uint16 and np.array_equal(image, high)
    scan = read_scan_bytes(png(high))
    assert not scan.dual_energy and scan.shape == (80, 120) and scan.pitch_mm == DEFAULT_PITCH_MM


def test_png_pair_bytes(tiny_pair):
    high, low = tiny_pair
    scan = read_scan_bytes(png(high), png(low), pitch_mm=(4.0, 6.0), air_value=61000, meta={"scanner": "s1"})
    assert scan.dual_energy
    assert np.array_equal(scan.high, high) and np.array_equal(scan.low, low)
    assert scan.pitch_mm == (4.0, 6.0) and scan.air_value == 61000
    assert scan.meta["scanner"] == "s1" and scan.meta["file"]["low"] == {"format": "png"}


def test_png_twin_low_is_found_beside_high(tmp_path, tiny_pair):
    high, low = tiny_pair
    (tmp_path / "MSCU1234565_high.png").write_bytes(png(high))
    assert not read_scan(tmp_path / "MSCU1234565_high.png").dual_energy  # no twin yet
    (tmp_path / "MSCU1234565_low.png").write_bytes(png(low))
    scan = read_scan(str(tmp_path / "MSCU1234565_high.png"))
    assert scan.dual_energy and np.array_equal(scan.low, low)
    (tmp_path / "other.png").write_bytes(png(high))
    assert np.array_equal(read_scan(tmp_path / "MSCU1234565_high.png", tmp_path / "other.png").low, high)


@pytest.mark.parametrize("kw", [{}, {"byteorder": ">"}, {"compression": "zlib"}], ids=["le", "be", "zlib"])
def test_tiff_single_page_is_high_only(tiny_pair, kw):
    high, _ = tiny_pair
    image, info = read_image_bytes(tiff(high, **kw))
    assert info == {"format": "tiff", "pages": 1} and np.array_equal(image, high)
    assert not read_scan_bytes(tiff(high, **kw)).dual_energy


def test_tiff_two_pages_are_high_then_low(tiny_pair):
    high, low = tiny_pair
    scan = read_scan_bytes(tiff(high, low))
    assert scan.dual_energy and np.array_equal(scan.high, high) and np.array_equal(scan.low, low)
    with pytest.raises(DimensionError, match="2 pages.*read_scan_bytes"):
        read_image_bytes(tiff(high, low))
    with pytest.raises(EnergyMismatchError, match="already holds two pages"):
        read_scan_bytes(tiff(high, low), png(low))


# ---- DICOS -----------------------------------------------------------------------------------------

DICOS_CASES = {
    "SimpleProcessingDX.dcs": None,
    "SimpleColorPaletteDX.dcs": None,
    "SimplePresentationDX.dcs": r"DX for presentation.*not raw transmitted intensity.*BIO_SAMPLE",
    "SimpleCT0000.dcs": r"CT volume.*BAGGAGE",
    "SimpleBaggageTDR.dcs": r"Threat Detection Report.*BAGGAGE",
    "SimpleBaggageNoThreatTDR.dcs": r"Threat Detection Report.*BAGGAGE",
    "MultiplePTOsTDR.dcs": r"Threat Detection Report.*BAGGAGE",
}


@pytest.mark.parametrize("filename", sorted(DICOS_CASES))
def test_dicos_samples(dicos_dir, filename):
    refusal = DICOS_CASES[filename]
    if refusal is not None:
        with pytest.raises(NotARadiographError, match=refusal):
            read_scan(dicos_dir / filename)
        return
    scan = read_scan(dicos_dir / filename)
    assert not scan.dual_energy and scan.shape == (128, 256) and scan.high.dtype == np.uint16
    assert scan.high.max() > scan.high.min()
    info = scan.meta["file"]["high"]
    assert info["format"] == "dicos" and info["ooi_type"] == "CARGO" and info["iod"] == "DX for processing"


def test_dicos_jpeg_lossless_decoder_matches_uncompressed(dicos_dir):
    # the presentation sample stores, JPEG Lossless compressed, the same pixels as the processing one
    raw = dcmread(dicos_dir / "SimpleProcessingDX.dcs").pixel_array
    jpeg = dcmread(dicos_dir / "SimplePresentationDX.dcs")
    decoded = decode_jpeg_lossless(next(generate_frames(jpeg.PixelData, number_of_frames=1)))
    assert decoded.dtype == np.uint16 and np.array_equal(decoded, raw)


def test_dicos_pixel_spacing_sets_pitch_unless_given(dicos_dir):
    ds = dcmread(dicos_dir / "SimpleProcessingDX.dcs")
    ds.PixelSpacing = [4.0, 6.0]  # (row, column) spacing in DICOM, i.e. (y, x)
    data = dcm_bytes(ds)
    assert read_scan_bytes(data).pitch_mm == (6.0, 4.0)
    assert read_scan_bytes(data, pitch_mm=(5.0, 5.0)).pitch_mm == (5.0, 5.0)


def test_dicos_negative_intensity_sign_is_flipped(dicos_dir):
    ds = dcmread(dicos_dir / "SimpleProcessingDX.dcs")
    raw = ds.pixel_array
    ds.PixelIntensityRelationshipSign = -1
    image, info = read_image_bytes(dcm_bytes(ds))
    assert info["inverted"] and np.array_equal(image, 65535 - raw)


@pytest.mark.parametrize(
    ("tag", "value", "error", "match"),
    [
        ("OOIType", "BAGGAGE", NotARadiographError, "OOI type BAGGAGE, not of cargo"),
        ("PixelIntensityRelationship", "LOG", UnsupportedFormatError, "relationship is LOG"),
        ("SOPClassUID", "1.2.840.10008.5.1.4.1.1.1.1", NotARadiographError, "Digital X-Ray.*only DICOS DX"),
    ],
)
def test_dicos_processing_dx_refused_when_not_cargo_transmission(dicos_dir, tag, value, error, match):
    ds = dcmread(dicos_dir / "SimpleProcessingDX.dcs")
    setattr(ds, tag, value)
    with pytest.raises(error, match=match):
        read_image_bytes(dcm_bytes(ds))


def test_dicos_without_preamble_or_file_meta_is_read(dicos_dir):
    ds = dcmread(dicos_dir / "SimpleProcessingDX.dcs")
    ds.preamble = None
    no_preamble = dcm_bytes(ds)
    bare = pydicom.Dataset()
    bare.update(ds)  # the dataset alone, as some writers stream it
    no_meta = dcm_bytes(bare, implicit_vr=False, little_endian=True)
    for data in (no_preamble, no_meta):
        assert data[128:132] != b"DICM"
        assert np.array_equal(read_image_bytes(data)[0], ds.pixel_array)


@pytest.mark.parametrize("filename", ["SimpleProcessingDX.dcs", "SimpleColorPaletteDX.dcs"])
def test_dicos_truncated_is_corrupt(dicos_dir, filename):
    data = (dicos_dir / filename).read_bytes()
    with pytest.raises(CorruptFileError, match="DICOS|DX"):
        read_image_bytes(data[: len(data) - 1000])


# ---- refused inputs --------------------------------------------------------------------------------


def test_truncated_png(tiny_pair):
    data = png(tiny_pair[0])
    with pytest.raises(CorruptFileError, match="PNG is truncated"):
        read_image_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFileError, match="PNG is truncated"):
        read_image_bytes(data[:-5])  # only the end of IEND is missing


def test_damaged_png_data(tiny_pair):
    data = bytearray(png(tiny_pair[0]))
    idat = data.index(b"IDAT")
    data[idat + 10 : idat + 40] = bytes(30)  # chunk layout intact, compressed stream garbage
    with pytest.raises(CorruptFileError, match="could not be decoded"):
        read_image_bytes(bytes(data))


def test_truncated_tiff(tiny_pair):
    data = tiff(tiny_pair[0])
    with pytest.raises(CorruptFileError, match="TIFF is truncated"):
        read_image_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFileError, match="TIFF"):
        read_image_bytes(data[:8])  # header only, first page points past the end


def test_two_page_tiff_cut_before_low_page_is_not_single_energy(tiny_pair):
    data = tiff(*tiny_pair)
    with tifffile.TiffFile(BytesIO(data)) as tif:
        low_page = tif.pages[1].offset
    with pytest.raises(CorruptFileError, match="page 2"):
        read_scan_bytes(data[:low_page])


def test_8bit_png_is_bit_depth_error():
    with pytest.raises(BitDepthError, match="high PNG is 8-bit"):
        read_image_bytes(png(np.full((80, 120), 200, np.uint8)))


def test_8bit_low_png_names_low(tiny_pair):
    with pytest.raises(BitDepthError, match="low PNG is 8-bit"):
        read_scan_bytes(png(tiny_pair[0]), png(np.full((80, 120), 200, np.uint8)))


@pytest.mark.parametrize("channels", [3, 4])
def test_colour_16bit_png_is_channel_error(channels):
    with pytest.raises(ChannelError, match="RGB"):
        read_image_bytes(png(np.zeros((80, 120, channels), np.uint16)))


@pytest.mark.parametrize(
    ("page", "error", "match"),
    [
        (np.zeros((80, 120), np.float32), BitDepthError, "float32"),
        (np.zeros((80, 120), np.uint8), BitDepthError, "uint8"),
        (np.zeros((80, 120), np.int16), BitDepthError, "int16"),
        (np.zeros((80, 120, 3), np.uint16), ChannelError, "3 samples per pixel"),
    ],
    ids=["float", "uint8", "int16", "rgb"],
)
def test_wrong_tiff_pixels(page, error, match):
    with pytest.raises(error, match=match):
        read_image_bytes(tiff(page))


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (png(np.zeros((32, 32), np.uint16)), "32 x 32 px; the smallest"),
        (png(np.zeros((64, 8193), np.uint16)), "8193 x 64 px; the largest"),
        (forged_png(100_000, 100_000), "100000 x 100000 px; the largest"),  # refused before decoding
        (forged_png(0, 80), r"empty \(0 x 80 px\)"),
        (tiff(np.zeros((40, 120), np.uint16)), "120 x 40 px; the smallest"),
    ],
    ids=["small-png", "large-png", "huge-header", "zero-width", "small-tiff"],
)
def test_image_size_out_of_range(data, match):
    with pytest.raises(DimensionError, match=match):
        read_image_bytes(data)


def test_mismatched_energies(tiny_pair):
    high, _ = tiny_pair
    with pytest.raises(EnergyMismatchError, match="120 x 80 px but low image is 100 x 80 px"):
        read_scan_bytes(png(high), png(high[:, :100].copy()))
    with pytest.raises(EnergyMismatchError):
        read_scan_bytes(tiff(high, high[:70].copy()))


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"hello", "not a PNG, TIFF or DICOS"),
        (b"container MSCU1234565, 40 ft, scanned at berth 4\n" * 4, "not a PNG, TIFF or DICOS"),
        (cv2.imencode(".jpg", np.zeros((80, 120), np.uint8))[1].tobytes(), "is JPEG"),
        (b"", r"empty \(0 bytes\)"),
    ],
    ids=["hello", "text", "jpeg", "empty"],
)
def test_not_an_image(data, match):
    with pytest.raises(UnsupportedFormatError, match=match):
        read_image_bytes(data)
    with pytest.raises(UnsupportedFormatError, match=match):
        read_scan_bytes(data)


def test_three_page_tiff(tiny_pair):
    high, low = tiny_pair
    with pytest.raises(DimensionError, match="3 pages"):
        read_scan_bytes(tiff(high, low, high))


def test_tiff_compression_without_codec(tiny_pair):
    if importlib.util.find_spec("imagecodecs") is not None:
        pytest.skip("imagecodecs is installed, so LZW can be decoded")
    data = bytearray(tiff(tiny_pair[0]))
    with tifffile.TiffFile(BytesIO(bytes(data))) as tif:
        offset = tif.pages[0].tags["Compression"].valueoffset
    data[offset : offset + 2] = struct.pack("<H", 5)  # claim LZW, which needs imagecodecs
    with pytest.raises(UnsupportedFormatError, match="compression LZW"):
        read_image_bytes(bytes(data))


@pytest.mark.parametrize("kind", ["png", "tiff", "pair-tiff", "dicos", "dicos-jpeg"])
def test_no_bare_exception_leaks_on_truncation(kind, tiny_pair, dicos_dir):
    high, low = tiny_pair
    data = {
        "png": lambda: png(high),
        "tiff": lambda: tiff(high, compression="zlib"),
        "pair-tiff": lambda: tiff(high, low),
        "dicos": lambda: (dicos_dir / "SimpleProcessingDX.dcs").read_bytes(),
        "dicos-jpeg": lambda: (dicos_dir / "SimpleColorPaletteDX.dcs").read_bytes(),
    }[kind]()
    for cut in sorted({1, 4, 8, 12, 20, 33, 60, 100, 131, 132, 200, 400, 1000} | set(range(0, len(data), 997))):
        if cut < len(data):
            with pytest.raises(ScanError):
                read_scan_bytes(data[:cut])
