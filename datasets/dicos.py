"""DICOS (NEMA IIC 1) intake: accept a raw DX radiograph, refuse everything else with a reason.

What each DICOS object becomes (samples in ``shared/dicos/``):

- DX for processing (SOP class ...501.2.2): accepted as a raw single-energy scan. Pixel data is kept as
  stored (a palette, if any, only colours the display); a negative pixel intensity relationship sign is
  flipped so that high values mean more transmitted beam, as in the scan contract.
- DX for presentation (...501.2.1): **refused** with :class:`NotARadiographError`. Presentation pixels
  went through the scanner's display processing (windowing, LUTs, contrast enhancement); they are not
  linear transmitted intensity, so air normalisation and the dual-energy physics would be silently wrong.
  Refusing at intake (fail closed) tells the scanner to send the "for processing" object instead of
  triaging a mis-calibrated image.
- CT (...501.1): refused, a CT volume is not a container radiograph.
- Threat Detection Report (...501.3): refused, a TDR is another system's verdict, not a scan.
- Any other SOP class: refused, naming the class.

The object-of-inspection type (OOI type, tag (4010,1042)), when present, must be CARGO or VEHICLE (a truck
carrying boxes); BAGGAGE, BIO_SAMPLE and the rest are refused, and every refusal names the OOI type.

JPEG Lossless pixel data (transfer syntaxes 1.2.840.10008.1.2.4.57 and .70, used by two of the samples)
is decoded by pydicom when pylibjpeg or GDCM is installed, otherwise by the small process-14 decoder
in ``jpeg_lossless.py`` (predictors 1 and 2, one component, no restart markers), so serving needs no
extra package.
"""

from __future__ import annotations

import logging
import warnings
from io import BytesIO
from typing import Any

import numpy as np
import pydicom
from pydicom.encaps import generate_frames
from pydicom.errors import InvalidDicomError
from pydicom.pixels import get_decoder
from pydicom.uid import UID
from quayscan.datasets.errors import (
    BitDepthError,
    ChannelError,
    CorruptFileError,
    DimensionError,
    NotARadiographError,
    ScanError,
    UnsupportedFormatError,
)
from quayscan.datasets.jpeg_lossless import decode_jpeg_lossless
from quayscan.datasets.scan import check_size

logger = logging.getLogger(__name__)

DICOS_PREFIX = "1.2.840.10008.5.1.4.1.1.501."
DX_PROCESSING = DICOS_PREFIX + "2.2"
DX_PRESENTATION = DICOS_PREFIX + "2.1"
CT_IMAGE = DICOS_PREFIX + "1"
THREAT_REPORT = DICOS_PREFIX + "3"
#: object-of-inspection types a container scanner produces
CARGO_OOI_TYPES = ("CARGO", "VEHICLE")
JPEG_LOSSLESS = ("1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70")


def read_dicos_bytes(data: bytes, name: str = "high", *, force: bool = False) -> tuple[np.ndarray, dict[str, Any]]:
    """Read a DICOS DX for processing into one energy image.

    Args:
        data: the whole file.
        name: which energy it is, for messages.
        force: parse without the "DICM" preamble (a bare dataset).

    Returns:
        The uint16 image (rows, columns) and info: format, SOP class, OOI type and, when the file has a
        pixel spacing, ``pitch_mm`` as (x, y).

    Raises:
        NotARadiographError: a valid DICOS object that is not a raw cargo radiograph.
        UnsupportedFormatError, CorruptFileError, BitDepthError, ChannelError, DimensionError.
    """
    # Some real scanners (and the samples) write UIDs with leading zeros; pydicom warns, harmlessly.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Invalid value for VR UI", category=UserWarning)
        try:
            ds = pydicom.dcmread(BytesIO(data), force=force)
            return _read_dataset(ds, name)
        except ScanError:
            raise
        except InvalidDicomError as exc:
            raise UnsupportedFormatError(f"{name} file is not a DICOS/DICOM file: {exc}") from exc
        except Exception as exc:  # pydicom raises many types on damaged input; none may leak
            raise CorruptFileError(
                f"{name} DICOS file ({len(data)} bytes) is damaged or truncated: {type(exc).__name__}: {exc}"
            ) from exc


def _read_dataset(ds: pydicom.Dataset, name: str) -> tuple[np.ndarray, dict[str, Any]]:
    meta = getattr(ds, "file_meta", None) or {}
    sop = str(ds.get("SOPClassUID") or meta.get("MediaStorageSOPClassUID") or "")
    if not sop:
        raise UnsupportedFormatError(f"{name} DICOM file has no SOP Class UID, so its kind cannot be told")
    ooi = str(ds.get("OOIType") or "").strip().upper() or None
    ooi_text = f"OOI type {ooi}" if ooi else "no OOI type"
    kind = f"{UID(sop).name} ({sop})"

    if sop == CT_IMAGE:
        size = f"{ds.get('NumberOfFrames', '?')} slices of {ds.get('Columns', '?')} x {ds.get('Rows', '?')} px"
        raise NotARadiographError(
            f"{name} file is a CT volume ({kind}, {size}, {ooi_text}), not a container radiograph; "
            "send a DICOS DX for processing"
        )
    if sop == THREAT_REPORT:
        raise NotARadiographError(
            f"{name} file is a Threat Detection Report ({kind}, {ooi_text}): another system's verdict with "
            "no image, not a scan"
        )
    if sop == DX_PRESENTATION:
        not_cargo = f"; besides, {ooi_text} is not cargo" if ooi and ooi not in CARGO_OOI_TYPES else ""
        raise NotARadiographError(
            f"{name} file is a DX for presentation ({kind}, {ooi_text}): its pixels are processed for display "
            "(windowing, LUTs), not raw transmitted intensity, so it is refused; send the DX for processing "
            f"({DX_PROCESSING}){not_cargo}"
        )
    if sop != DX_PROCESSING:
        raise NotARadiographError(
            f"{name} file is {kind}, {ooi_text}; quayscan accepts only DICOS DX for processing ({DX_PROCESSING})"
        )
    if ooi is not None and ooi not in CARGO_OOI_TYPES:
        raise NotARadiographError(
            f"{name} file is a DX radiograph of {ooi_text}, not of cargo; quayscan triages OOI types "
            f"{' or '.join(CARGO_OOI_TYPES)}"
        )
    _check_pixel_module(ds, name)
    image = _pixels(ds, name)
    info: dict[str, Any] = {"format": "dicos", "sop_class": sop, "iod": "DX for processing", "ooi_type": ooi}
    sign = ds.get("PixelIntensityRelationshipSign")
    if sign is None:
        sign = -1 if ds.get("PhotometricInterpretation") == "MONOCHROME1" else 1
    if int(sign) < 0:
        # the contract is "0 means fully blocked": flip data stored the other way round
        image = ((1 << int(ds.BitsStored)) - 1 - image.astype(np.int64)).clip(0, 65535).astype(np.uint16)
        info["inverted"] = True
    spacing = ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing")
    if spacing is not None and len(spacing) == 2:
        info["pitch_mm"] = (float(spacing[1]), float(spacing[0]))  # DICOM gives (row, column) spacing
    return image, info


def _check_pixel_module(ds: pydicom.Dataset, name: str) -> None:
    """Refuse what cannot be a 16-bit single-energy image before decoding anything."""
    if "PixelData" not in ds:
        raise CorruptFileError(f"{name} DX file has no pixel data")
    samples = int(ds.get("SamplesPerPixel", 1))
    if samples != 1:
        raise ChannelError(f"{name} DX image has {samples} samples per pixel; a scan is one grayscale channel")
    frames = int(ds.get("NumberOfFrames") or 1)
    if frames != 1:
        raise DimensionError(f"{name} DX file holds {frames} frames; a scan is one frame per file")
    bits, signed = int(ds.get("BitsAllocated", 0)), int(ds.get("PixelRepresentation", 0))
    if bits != 16 or signed:
        kind = "signed" if signed else "unsigned"
        raise BitDepthError(f"{name} DX image is {bits}-bit {kind}; a scan must be 16-bit unsigned (uint16)")
    relation = str(ds.get("PixelIntensityRelationship") or "LIN").upper()
    if relation != "LIN":
        raise UnsupportedFormatError(
            f"{name} DX pixel intensity relationship is {relation}; quayscan needs LIN (linear transmission)"
        )
    check_size(name, int(ds.get("Columns", 0)), int(ds.get("Rows", 0)))


def _pixels(ds: pydicom.Dataset, name: str) -> np.ndarray:
    syntax = ds.file_meta.get("TransferSyntaxUID")
    if syntax is None:  # a bare dataset read with force: pydicom worked out its encoding while parsing
        implicit, little = ds.original_encoding
        syntax = UID(
            "1.2.840.10008.1.2" if implicit else "1.2.840.10008.1.2.1" if little else "1.2.840.10008.1.2.2"
        )
        ds.file_meta.TransferSyntaxUID = syntax
    if syntax in JPEG_LOSSLESS and not get_decoder(syntax).is_available:
        frame = next(generate_frames(ds.PixelData, number_of_frames=1))
        image = decode_jpeg_lossless(frame, name)
        if image.shape != (ds.Rows, ds.Columns):
            raise CorruptFileError(
                f"{name} DX JPEG frame is {image.shape[1]} x {image.shape[0]} px but the header says "
                f"{ds.Columns} x {ds.Rows}"
            )
        return image
    if not get_decoder(syntax).is_available:
        raise UnsupportedFormatError(
            f"{name} DX pixel data is compressed as {syntax.name} ({syntax}), which cannot be decoded here; "
            "send it uncompressed or JPEG Lossless"
        )
    return np.asarray(ds.pixel_array)
