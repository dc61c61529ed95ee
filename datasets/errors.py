"""Specific exceptions for bad scan input.

Every reader and validator raises a subclass of :class:`ScanError` whose message names the problem and
the offending value, so that ``serve/`` can map it to an exact 4xx answer and a script can print it.
"""


class ScanError(ValueError):
    """Base class: the input is not a scan quayscan can triage."""

    #: short machine-readable code, used by the HTTP API in error bodies
    code = "bad_scan"


class UnsupportedFormatError(ScanError):
    """The bytes are not a PNG, TIFF or DICOS file (or not an image at all)."""

    code = "unsupported_format"


class CorruptFileError(ScanError):
    """The file claims a known format but cannot be decoded (truncated, damaged)."""

    code = "corrupt_file"


class BitDepthError(ScanError):
    """The image is not 16-bit (e.g. an 8-bit PNG or a float TIFF)."""

    code = "bit_depth"


class ChannelError(ScanError):
    """The image has colour channels (RGB, RGBA) instead of one grayscale channel."""

    code = "channels"


class DimensionError(ScanError):
    """The image is empty, too small or too large."""

    code = "dimensions"


class EnergyMismatchError(ScanError):
    """High- and low-energy images differ in size."""

    code = "energy_mismatch"


class NotARadiographError(ScanError):
    """A valid file that is not a container radiograph (a CT volume, a threat report, ...)."""

    code = "not_a_radiograph"
