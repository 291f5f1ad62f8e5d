"""CSV reader for one-sample-per-row exports (Kaggle Grasp-and-Lift, Inria BCI Challenge).

Two layouts are recognised from the header row:

* Grasp-and-Lift: ``id,Fp1,Fp2,...`` where ``id`` holds strings like ``subj1_series1_0``;
  the file has no time base, so ``sfreq`` must be given (500 Hz for that dataset).
* Inria: ``Time,<56 EEG>,EOG,FeedBackEvent`` with ``Time`` in seconds, from which the rate
  is inferred; ``FeedBackEvent`` is a stim channel whose positive samples mark feedback onsets.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eegcorpus.errors import ReaderError
from eegcorpus.readers.mat import _unit_scale, recording_from_array
from eegcorpus.recording import Recording, make_annotations

# Irregular spacing beyond this fraction of the median step means dropped or repeated rows,
# which a continuous Recording cannot represent.
_MAX_STEP_JITTER = 0.5
# A rate estimated from timestamps is snapped to the nearest integer when this close
# (relative), so that 199.99999 Hz from rounded time stamps is stored as 200 Hz.
_SNAP_RTOL = 1e-5


def read_csv(
    path: str | Path,
    sfreq: float | None = None,
    time_column: str | None = None,
    drop_columns=(),
    id_column: str | None = "auto",
    unit: str | float = "uV",
) -> Recording:
    """Read a one-row-per-sample CSV file into a Recording.

    Parameters
    ----------
    path : path-like
        The ``.csv`` file, with a header row naming the columns.
    sfreq : float | None
        Sampling rate in Hz. Required when the file has no time column; when it has one, the
        rate inferred from it must agree with ``sfreq`` to 0.1 %.
    time_column : str | None
        Column of time stamps in seconds. None looks for a column named ``Time`` (any case).
        The rate is ``(n - 1) / (t[-1] - t[0])`` (robust to time stamps rounded to a few
        decimals), snapped to the nearest integer when within 1e-5 of it; the median step is
        used to reject files whose rows are not evenly spaced.
    drop_columns : sequence of str
        Columns to leave out (for example per-sample label columns).
    id_column : str | None
        Column of row identifiers to drop. ``"auto"`` drops a non-numeric column named ``id``
        (any case), as in Grasp-and-Lift; None means there is none.
    unit : "uV" | "mV" | "V" | "nV" | float
        Unit of the signal columns, or the multiplier that turns them into microvolts.

    Returns
    -------
    recording : Recording
        ``format="csv"``, channels in column order. Types are guessed from names (``EOG`` is
        ``eog``, ``FeedBackEvent`` is ``stim``); stim channels keep raw values with unit
        ``"n/a"`` and every onset of a positive run in them becomes an annotation named after
        the channel (``"FeedBackEvent"``; ``"<name>/<value>"`` when the values are not just 0/1).
        ``extra`` holds ``time_column``, ``time_start`` (first time stamp), ``id_column``,
        ``first_id``/``last_id`` and ``unit_scale``.

    Raises
    ------
    ReaderError
        When the file is missing, empty or not parseable as CSV; when a named column is
        absent; when a data cell is not a number (the message names column and row); when
        there is no time column and no ``sfreq``; when time stamps are not increasing, not
        evenly spaced, or disagree with ``sfreq``; and when a sample is NaN, empty or infinite.
    ValueError
        When ``unit`` is not a valid choice.
    """
    import pandas as pd

    path = Path(path)
    scale = _unit_scale(unit)
    if not path.is_file():
        raise ReaderError(path, "file not found")
    if path.stat().st_size == 0:
        raise ReaderError(path, "file is empty (0 bytes)")
    try:
        table = pd.read_csv(path, low_memory=False)
    except Exception as err:  # pandas raises ParserError, EmptyDataError, UnicodeDecodeError...
        raise ReaderError(path, f"cannot parse CSV: {type(err).__name__}: {err}") from err
    if table.shape[0] == 0:
        raise ReaderError(path, "CSV has a header but no data rows")
    columns = [str(c) for c in table.columns]
    table.columns = columns
    extra: dict = {"unit_scale": scale}

    missing = [c for c in drop_columns if c not in columns]
    if missing:
        raise ReaderError(path, f"drop_columns not in the file: {', '.join(missing)}")
    table = table.drop(columns=list(drop_columns))

    if id_column == "auto":
        id_column = next(
            (c for c in table.columns if c.lower() == "id" and not pd.api.types.is_numeric_dtype(table[c])),
            None,
        )
    if id_column is not None:
        if id_column not in table.columns:
            raise ReaderError(path, f"id column {id_column!r} not in the file")
        ids = table.pop(id_column)
        extra.update(id_column=id_column, first_id=str(ids.iloc[0]), last_id=str(ids.iloc[-1]))
    else:
        extra["id_column"] = None

    if time_column is None:
        time_column = next((c for c in table.columns if c.lower() == "time"), None)
    elif time_column not in table.columns:
        raise ReaderError(path, f"time column {time_column!r} not in the file")

    values = _numeric(path, table)
    names = list(table.columns)
    if time_column is not None:
        t_idx = names.index(time_column)
        times = values[:, t_idx]
        values = np.delete(values, t_idx, axis=1)
        names.pop(t_idx)
        sfreq = _rate_from_times(path, times, sfreq)
        extra.update(time_column=time_column, time_start=float(times[0]))
    else:
        extra.update(time_column=None, time_start=None)
        if sfreq is None:
            raise ReaderError(path, "no time column (e.g. 'Time') and no sfreq given; pass sfreq")
        if not (np.isfinite(sfreq) and sfreq > 0):
            raise ValueError(f"sfreq must be positive, got {sfreq!r}.")
    if not names:
        raise ReaderError(path, "no signal columns left after removing id/time/dropped columns")

    data = values.T  # rows are samples in the file
    recording = recording_from_array(path, data, float(sfreq), names, scale, "csv", extra)
    recording.annotations = _stim_annotations(recording)
    return recording


def _numeric(path: Path, table) -> np.ndarray:
    """The table as float64, or a ReaderError naming the first non-numeric cell."""
    import pandas as pd

    for column in table.columns:
        if table[column].dtype.kind in "iufb":
            continue
        converted = pd.to_numeric(table[column], errors="coerce")
        bad = converted.isna() & table[column].notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            cell = table[column].iloc[row]
            # +2: one for the header line, one because people count lines from 1
            raise ReaderError(path, f"non-numeric value {cell!r} in column {column!r} at line {row + 2}")
        table[column] = converted
    return table.to_numpy(dtype=np.float64)


def _rate_from_times(path: Path, times: np.ndarray, sfreq: float | None) -> float:
    if times.size < 2:
        raise ReaderError(path, "a single row: cannot infer the sampling rate from the time column")
    if not np.isfinite(times).all():
        raise ReaderError(path, "empty or non-finite time stamps in the time column")
    steps = np.diff(times)
    median = float(np.median(steps))
    if not median > 0:
        raise ReaderError(path, "time stamps do not increase")
    worst = int(np.argmax(np.abs(steps - median)))
    if abs(steps[worst] - median) > _MAX_STEP_JITTER * median:
        raise ReaderError(
            path,
            f"rows are not evenly spaced in time: step {steps[worst]:g} s after line {worst + 2} vs median {median:g} s (gap, repeated or reordered rows)",
        )
    estimate = (times.size - 1) / float(times[-1] - times[0])
    nearest = round(estimate)
    if nearest > 0 and abs(estimate - nearest) <= _SNAP_RTOL * estimate:
        estimate = float(nearest)
    if sfreq is not None and not np.isclose(estimate, sfreq, rtol=1e-3):
        raise ReaderError(path, f"sfreq={sfreq} disagrees with the time column ({estimate:g} Hz)")
    return float(sfreq) if sfreq is not None else estimate


def _stim_annotations(recording: Recording):
    """Onsets of positive runs in stim channels, as annotations named after the channel."""
    onsets, descriptions = [], []
    for i, kind in enumerate(recording.ch_types):
        if kind != "stim":
            continue
        row = recording.data[i]
        active = row > 0
        starts = np.flatnonzero(active & ~np.concatenate(([False], active[:-1])))
        binary = np.isin(row[active], (1.0,)).all()
        name = recording.ch_names[i]
        for s in starts:
            onsets.append(s / recording.sfreq)
            descriptions.append(name if binary else f"{name}/{row[s]:g}")
    return make_annotations(onsets, np.zeros(len(onsets)), descriptions)
