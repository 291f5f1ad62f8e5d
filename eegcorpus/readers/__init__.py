"""Format readers. One module per format; all return :class:`eegcorpus.recording.Recording`.

``read_recording(path)`` picks the reader from the file's leading bytes where the format has a
signature (EDF, BDF, GDF, MATLAB v7.3/HDF5) and from the extension otherwise.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from eegcorpus.errors import ReaderError, UnsupportedFormatError
from eegcorpus.recording import Recording

#: format name -> (module, function). Modules are imported on first use so that reading an
#: EDF never pays for importing MNE.
_READERS: dict[str, tuple[str, str]] = {
    "edf": ("eegcorpus.readers.edf", "read_edf"),
    "bdf": ("eegcorpus.readers.edf", "read_edf"),
    "gdf": ("eegcorpus.readers.gdf", "read_gdf"),
    "cnt": ("eegcorpus.readers.cnt", "read_cnt"),
    "eeglab": ("eegcorpus.readers.eeglab", "read_eeglab"),
    "mat": ("eegcorpus.readers.mat", "read_mat"),
    "csv": ("eegcorpus.readers.csv", "read_csv"),
    "brainvision": ("eegcorpus.readers.brainvision", "read_brainvision"),
}

_EXTENSIONS: dict[str, str] = {
    ".edf": "edf",
    ".rec": "edf",  # old EDF files from some clinical systems
    ".bdf": "bdf",
    ".gdf": "gdf",
    ".cnt": "cnt",
    ".set": "eeglab",
    ".mat": "mat",
    ".csv": "csv",
    ".vhdr": "brainvision",
}

SUPPORTED_FORMATS: tuple[str, ...] = tuple(_READERS)


def detect_format(path: str | Path) -> str:
    """Name the format of ``path`` from its signature bytes, falling back to its extension.

    Raises
    ------
    UnsupportedFormatError
        When neither the content nor the extension is one this package reads.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as err:
        raise ReaderError(path, f"cannot open file ({err.strerror or err})") from err
    if len(head) == 0:
        raise ReaderError(path, "file is empty (0 bytes)")
    if head == b"0       ":
        return "edf"
    if head == b"\xffBIOSEMI":
        return "bdf"
    if head[:3] == b"GDF":
        return "gdf"
    suffix = path.suffix.lower()
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    known = ", ".join(sorted(_EXTENSIONS))
    raise UnsupportedFormatError(path, f"unsupported format (extension {suffix or 'none'!r}; readable: {known})")


def get_reader(fmt: str):
    """Return the reader function for a format name from :data:`SUPPORTED_FORMATS`."""
    from eegcorpus._validate import check_option

    check_option("fmt", fmt, SUPPORTED_FORMATS)
    module, func = _READERS[fmt]
    return getattr(importlib.import_module(module), func)


def read_recording(path: str | Path, fmt: str | None = None, **kwargs) -> Recording:
    """Read any supported file into a :class:`Recording` (microvolts, ``[channel, time]``).

    Parameters
    ----------
    path : path-like
        The file (for EEGLAB the ``.set``, for BrainVision the ``.vhdr``).
    fmt : str | None
        Force a reader from :data:`SUPPORTED_FORMATS`; detected when None.
    **kwargs
        Passed to the format's reader.
    """
    fmt = fmt or detect_format(path)
    return get_reader(fmt)(path, **kwargs)


__all__ = ["SUPPORTED_FORMATS", "detect_format", "get_reader", "read_recording"]
