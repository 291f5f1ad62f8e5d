"""MATLAB ``.mat`` reader: v4/v5/v7 through scipy, v7.3 (HDF5) through h5py.

MAT files hold arrays, not recordings: which variable is the signal, which axis is channels,
the sampling rate and the unit all come from the caller (a dataset adapter) or from named
variables in the file. Shapes and axes are always given in MATLAB's orientation (``size(x)``
in MATLAB), whichever container the file uses; h5py sees v7.3 arrays with their axes
reversed, and this module reverses them back.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eegcorpus.errors import ReaderError
from eegcorpus.readers._chtypes import guess_channel_type
from eegcorpus.recording import Recording, empty_annotations, sha256_file, unit_scale_to_uv

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# MATLAB class names (whosmat, and the MATLAB_class attribute of v7.3 datasets) that are
# numeric signals; 'logical', 'char', 'cell', 'struct' and the like never are.
_NUMERIC_CLASSES = {
    "double": "float64",
    "single": "float32",
    "int8": "int8",
    "uint8": "uint8",
    "int16": "int16",
    "uint16": "uint16",
    "int32": "int32",
    "uint32": "uint32",
    "int64": "int64",
    "uint64": "uint64",
}


def mat_version(path: str | Path) -> str:
    """Say which MAT container a file uses: ``"7.3"`` (HDF5) or ``"5"`` (v4/v5/v7 for scipy).

    v7.3 files are HDF5 files with a 512-byte user block whose first 128 bytes are MATLAB's
    text header (``"MATLAB 7.3 MAT-file, ..."``); the HDF5 signature then sits at offset 512.
    An HDF5 file without that header (written by h5py) is read the same way.

    Raises
    ------
    ReaderError
        When the file is missing or empty, or claims v7.3 but holds no HDF5 data.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(128)
            fh.seek(512)
            at_512 = fh.read(8)
    except OSError as err:
        raise ReaderError(path, f"cannot open file ({err.strerror or err})") from err
    if len(head) == 0:
        raise ReaderError(path, "file is empty (0 bytes)")
    if head.startswith(_HDF5_SIGNATURE) or at_512 == _HDF5_SIGNATURE:
        return "7.3"
    if head.startswith(b"MATLAB 7.3"):
        raise ReaderError(path, "header says MATLAB 7.3 but no HDF5 signature follows (truncated?)")
    return "5"


def list_mat_arrays(path: str | Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """List the top-level numeric arrays of a MAT file without loading them.

    Parameters
    ----------
    path : path-like
        The ``.mat`` file (any version).

    Returns
    -------
    arrays : dict
        ``{name: (shape, dtype)}`` in file order, shapes in MATLAB orientation. Structs,
        cells, strings and logical arrays are left out; use dotted keys (``"nfo.fs"``) with
        :func:`read_mat` to reach struct fields.

    Raises
    ------
    ReaderError
        When the file is empty, damaged or not a MAT file.
    """
    path = Path(path)
    version = mat_version(path)
    if version == "7.3":
        return _h5_list(path)
    import scipy.io

    try:
        entries = scipy.io.whosmat(path)
    except Exception as err:  # scipy raises ValueError, TypeError, OSError, zlib.error...
        raise ReaderError(path, f"cannot read MAT file: {type(err).__name__}: {err}") from err
    return {name: (tuple(int(n) for n in shape), np.dtype(_NUMERIC_CLASSES[cls])) for name, shape, cls in entries if cls in _NUMERIC_CLASSES}


def read_mat(
    path: str | Path,
    data_key: str | None = None,
    sfreq: float | None = None,
    ch_names: list[str] | None = None,
    unit: str | float = "uV",
    channel_axis: str | int = "auto",
    sfreq_key: str | None = None,
    ch_names_key: str | None = None,
) -> Recording:
    """Read one 2-D signal array of a MAT file into a Recording.

    Parameters
    ----------
    path : path-like
        The ``.mat`` file; v4/v5/v7 are read with :func:`scipy.io.loadmat`, v7.3 with h5py.
    data_key : str | None
        Variable holding the signal, or a dotted path into a struct (``"data.X"``). When
        None, the file must hold exactly one 2-D numeric matrix (both dimensions > 1).
    sfreq : float | None
        Sampling rate in Hz. Needed unless ``sfreq_key`` is given.
    ch_names : list of str | None
        Channel names, in row order of the channel axis. Default ``Ch1``, ``Ch2``, ...
    unit : "uV" | "mV" | "V" | "nV" | float
        Unit of the stored numbers, or the multiplier that turns them into microvolts (0.1
        for BCI Competition IV-1 ``cnt`` counts).
    channel_axis : "auto" | 0 | 1
        Axis of the channels in MATLAB orientation. ``"auto"`` takes the smaller dimension.
    sfreq_key : str | None
        Variable or dotted struct path holding the sampling rate as a scalar (``"nfo.fs"``).
    ch_names_key : str | None
        Variable or dotted path holding the channel names as a cell array of strings or a
        char matrix (``"nfo.clab"``).

    Returns
    -------
    recording : Recording
        ``format="mat"``, no annotations. Channel types are guessed from names
        (:func:`~eegcorpus.readers._chtypes.guess_channel_type`); stim channels keep their
        raw values with unit ``"n/a"``, every other channel is scaled to microvolts.
        ``extra`` holds ``mat_version``, ``data_key``, ``channel_axis`` (resolved) and
        ``unit_scale``.

    Raises
    ------
    ReaderError
        When the file is empty or damaged; when ``data_key`` is None and there is no, or more
        than one, candidate matrix (the message lists the candidates); when a named variable
        or field is missing or has the wrong kind; when the array is not 2-D, is square with
        ``channel_axis="auto"``, or the channel names do not match the channel count; and when
        a sample is NaN or infinite.
    ValueError
        When ``unit`` or ``channel_axis`` is not a valid choice, or neither ``sfreq`` nor
        ``sfreq_key`` is given.
    """
    path = Path(path)
    scale = _unit_scale(unit)
    if channel_axis not in ("auto", 0, 1):
        raise ValueError(f"channel_axis must be 'auto', 0 or 1, got {channel_axis!r}.")
    if sfreq is None and sfreq_key is None:
        raise ValueError("read_mat needs sfreq=... or sfreq_key=... (MAT files have no standard rate field).")
    version = mat_version(path)
    loader = _H5Loader(path) if version == "7.3" else _ScipyLoader(path)
    try:
        if data_key is None:
            data_key = _choose_data_key(path, loader.list_arrays())
        array = loader.array(data_key)
        if sfreq_key is not None:
            file_sfreq = loader.scalar(sfreq_key)
            if sfreq is not None and not np.isclose(file_sfreq, sfreq, rtol=1e-6):
                raise ReaderError(path, f"sfreq={sfreq} disagrees with {sfreq_key}={file_sfreq}")
            sfreq = file_sfreq
        if ch_names_key is not None:
            file_names = loader.strings(ch_names_key)
            if ch_names is not None and list(ch_names) != file_names:
                raise ReaderError(path, f"ch_names disagree with {ch_names_key} ({file_names[:4]}...)")
            ch_names = file_names
    finally:
        loader.close()

    if not (np.isfinite(sfreq) and sfreq > 0):
        raise ReaderError(path, f"sampling rate must be positive, got {sfreq!r}")
    if array.ndim != 2:
        raise ReaderError(
            path,
            f"variable {data_key!r} has shape {array.shape}; expected 2-D [channels x samples]",
        )
    if channel_axis == "auto":
        if array.shape[0] == array.shape[1]:
            raise ReaderError(path, f"variable {data_key!r} is square {array.shape}; pass channel_axis=0 or 1")
        channel_axis = int(np.argmin(array.shape))
    data = array if channel_axis == 0 else array.T
    n_channels = data.shape[0]
    if ch_names is None:
        ch_names = [f"Ch{i + 1}" for i in range(n_channels)]
    ch_names = [str(n).strip() for n in ch_names]
    if len(ch_names) != n_channels:
        raise ReaderError(
            path,
            f"{len(ch_names)} channel names for {n_channels} channels in {data_key!r} {array.shape}",
        )
    extra = {
        "mat_version": version,
        "data_key": data_key,
        "channel_axis": channel_axis,
        "unit_scale": scale,
    }
    return recording_from_array(path, data, float(sfreq), ch_names, scale, "mat", extra)


def recording_from_array(path, data, sfreq, ch_names, scale, fmt, extra, annotations=None) -> Recording:
    """Scale, type, check and wrap a numeric ``[channel, time]`` array (MAT and CSV readers).

    Channel types come from :func:`guess_channel_type`; stim channels keep their raw values
    (unit ``"n/a"``), every other row is multiplied by ``scale`` into microvolts.

    Raises
    ------
    ReaderError
        When a sample is NaN or infinite (the message names up to five channels).
    """
    ch_types = [guess_channel_type(n) for n in ch_names]
    out = np.empty(data.shape, dtype=np.float32)
    units = []
    for i, kind in enumerate(ch_types):
        row = np.asarray(data[i], dtype=np.float64)
        if kind == "stim":
            out[i] = row  # trigger codes are not voltages
            units.append("n/a")
        else:
            out[i] = row * scale if scale != 1.0 else row
            units.append("uV")
    finite = np.isfinite(out).all(axis=1)
    if not finite.all():
        bad = [ch_names[i] for i in np.flatnonzero(~finite)]
        raise ReaderError(path, f"non-finite samples (NaN or Inf) in channel(s) {', '.join(bad[:5])}")
    return Recording(
        data=out,
        sfreq=sfreq,
        ch_names=list(ch_names),
        ch_types=ch_types,
        units=units,
        annotations=empty_annotations() if annotations is None else annotations,
        source=str(path),
        sha256=sha256_file(path),
        format=fmt,
        extra=extra,
    )


def _unit_scale(unit) -> float:
    if isinstance(unit, (int, float, np.integer, np.floating)) and not isinstance(unit, bool):
        if not (np.isfinite(unit) and unit != 0):
            raise ValueError(f"unit multiplier must be finite and non-zero, got {unit!r}.")
        return float(unit)
    scale = unit_scale_to_uv(str(unit))
    if scale is None:
        raise ValueError(f"unit must be 'uV', 'mV', 'V', 'nV' or a multiplier to microvolts, got {unit!r}.")
    return scale


def _choose_data_key(path: Path, arrays: dict) -> str:
    candidates = {k: v for k, v in arrays.items() if len(v[0]) == 2 and min(v[0]) > 1}
    if len(candidates) == 1:
        return next(iter(candidates))
    if not candidates:
        listed = ", ".join(f"{k} {v[0]}" for k, v in arrays.items()) or "none"
        raise ReaderError(path, f"no 2-D numeric matrix to read (numeric variables: {listed}); pass data_key")
    listed = ", ".join(f"{k} {v[0]}" for k, v in candidates.items())
    raise ReaderError(path, f"{len(candidates)} candidate signal arrays, pass data_key: {listed}")


def _to_strings(value) -> list[str]:
    """Strings from a cell array of char arrays, a char matrix, or a single string."""
    if isinstance(value, str):
        return [value.strip()]
    arr = np.asarray(value)
    if arr.dtype.kind == "U":
        return [str(s).strip() for s in arr.ravel()]
    if arr.dtype == object:
        out = []
        for item in arr.ravel(order="F"):  # MATLAB cells are column-major
            out.extend(_to_strings(item))
        return out
    raise TypeError(f"expected strings, got an array of {arr.dtype}")


class _ScipyLoader:
    """Loads variables and struct fields from v4/v5/v7 files with scipy, unsqueezed."""

    def __init__(self, path: Path):
        self.path = path
        self._cache: dict = {}

    def close(self):
        self._cache.clear()

    def list_arrays(self):
        return list_mat_arrays(self.path)

    def _get(self, key: str):
        import scipy.io
        from scipy.io.matlab import mat_struct

        top, *fields = key.split(".")
        if top not in self._cache:
            try:
                loaded = scipy.io.loadmat(self.path, variable_names=[top], struct_as_record=False, squeeze_me=False)
            except Exception as err:  # scipy raises ValueError, TypeError, OSError, zlib.error...
                reason = f"cannot read MAT file: {type(err).__name__}: {err}"
                raise ReaderError(self.path, reason) from err
            if top not in loaded:
                names = ", ".join(name for name, _, _ in scipy.io.whosmat(self.path))
                raise ReaderError(self.path, f"no variable {top!r} (variables: {names})")
            self._cache[top] = loaded[top]
        value = self._cache[top]
        for depth, field in enumerate(fields):
            if isinstance(value, np.ndarray) and value.dtype == object and value.size == 1:
                value = value.flat[0]
            if not isinstance(value, mat_struct) or field not in value._fieldnames:
                where = ".".join([top, *fields[:depth]])
                raise ReaderError(self.path, f"{where!r} has no field {field!r} (looking up {key!r})")
            value = getattr(value, field)
        return value

    def array(self, key: str) -> np.ndarray:
        value = self._get(key)
        if isinstance(value, np.ndarray) and value.dtype == object and value.size == 1:
            value = value.flat[0]
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "iuf":
            kind = getattr(value, "dtype", type(value).__name__)
            raise ReaderError(self.path, f"{key!r} is not a numeric array (it is {kind})")
        return value

    def scalar(self, key: str) -> float:
        value = self.array(key)
        if value.size != 1:
            raise ReaderError(self.path, f"{key!r} should be a scalar, has shape {value.shape}")
        return float(value.ravel()[0])

    def strings(self, key: str) -> list[str]:
        try:
            return _to_strings(self._get(key))
        except TypeError as err:
            raise ReaderError(self.path, f"{key!r} does not hold channel names: {err}") from err


class _H5Loader:
    """Loads variables and struct fields from v7.3 (HDF5) files, back in MATLAB orientation."""

    def __init__(self, path: Path):
        import h5py

        self.path = path
        try:
            self.file = h5py.File(path, "r")
        except Exception as err:  # OSError for damaged files
            raise ReaderError(path, f"cannot open MAT v7.3 (HDF5) file: {err}") from err

    def close(self):
        self.file.close()

    def list_arrays(self):
        return _h5_list(self.path, self.file)

    def _node(self, key: str):
        import h5py

        node = self.file
        parts = key.split(".")
        for depth, part in enumerate(parts):
            if isinstance(node, h5py.Dataset) and node.dtype == h5py.ref_dtype and node.size == 1:
                node = self.file[node[()].ravel()[0]]  # 1x1 struct stored as a reference
            if not isinstance(node, h5py.Group) or part not in node:
                where = ".".join(parts[:depth]) or "the file"
                raise ReaderError(self.path, f"{where!r} has no {part!r} (looking up {key!r})")
            node = node[part]
        return node

    def array(self, key: str) -> np.ndarray:
        import h5py

        node = self._node(key)
        if isinstance(node, h5py.Dataset) and node.dtype == h5py.ref_dtype and node.size == 1:
            node = self.file[node[()].ravel()[0]]
        if not isinstance(node, h5py.Dataset):
            raise ReaderError(self.path, f"{key!r} is a struct or group, not an array")
        cls = _h5_class(node)
        if node.dtype.kind not in "iuf" or (cls is not None and cls not in _NUMERIC_CLASSES):
            raise ReaderError(self.path, f"{key!r} is not a numeric array (MATLAB class {cls or node.dtype})")
        if node.attrs.get("MATLAB_empty"):
            return np.zeros((0, 0), dtype=node.dtype)
        # HDF5 stores MATLAB's column-major array with its axes reversed.
        return np.asarray(node[()]).T

    def scalar(self, key: str) -> float:
        value = self.array(key)
        if value.size != 1:
            raise ReaderError(self.path, f"{key!r} should be a scalar, has shape {value.shape}")
        return float(value.ravel()[0])

    def strings(self, key: str) -> list[str]:
        import h5py

        node = self._node(key)
        if not isinstance(node, h5py.Dataset):
            raise ReaderError(self.path, f"{key!r} is a struct, not channel names")
        if node.dtype == h5py.ref_dtype:  # cell array: one reference per string
            refs = np.asarray(node[()]).T.ravel(order="F")
            return [self._char(self.file[ref])[0] for ref in refs]
        if _h5_class(node) == "char":
            return self._char(node)
        raise ReaderError(self.path, f"{key!r} does not hold channel names (class {_h5_class(node)})")

    @staticmethod
    def _char(node) -> list[str]:
        """Rows of a MATLAB char array (UTF-16 code units) as strings."""
        codes = np.atleast_2d(np.asarray(node[()]).T)
        return ["".join(chr(c) for c in row).strip() for row in codes]


def _h5_class(node) -> str | None:
    cls = node.attrs.get("MATLAB_class")
    if cls is None:
        return None
    return cls.decode() if isinstance(cls, bytes) else str(cls)


def _h5_list(path: Path, file=None) -> dict:
    import h5py

    own = file is None
    if own:
        try:
            file = h5py.File(path, "r")
        except Exception as err:
            raise ReaderError(path, f"cannot open MAT v7.3 (HDF5) file: {err}") from err
    try:
        out = {}
        for name, node in file.items():
            if name.startswith("#") or not isinstance(node, h5py.Dataset):
                continue  # '#refs#' and '#subsystem#' are MATLAB internals; groups are structs
            cls = _h5_class(node)
            if node.dtype.kind not in "iuf" or (cls is not None and cls not in _NUMERIC_CLASSES):
                continue
            out[name] = (tuple(int(n) for n in node.shape[::-1]), node.dtype)
        return out
    finally:
        if own:
            file.close()
