"""``eegcorpus report``: a self-contained HTML quality-control report of a store.

One page, with its styles, scripts, figures (inline SVG) and data inline, that opens without a
network connection: the store's summary (datasets, subjects, recordings, hours, profiles, builds
and versions), channel coverage on a head plot, amplitude distributions, power spectra per
dataset, a sortable and filterable table of the recordings with their QC flags
(:mod:`eegcorpus.report.qc`), the failures table, and the signal of a recording picked in the
table (a short excerpt per recording, for a bounded number of recordings). See ``docs/report.md``.

This module imports nothing heavy until :func:`write_report` runs, so a command line can name it
cheaply.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from eegcorpus.log import logger

#: Seconds of signal embedded per recording (from the middle of the recording).
SIGNAL_SECONDS = 10.0

#: Signal excerpts are embedded for at most this many recordings (flagged ones first), so that a
#: store of thousands of recordings still gives a page of bounded size.
MAX_RECORDINGS_WITH_SIGNAL = 20


@contextlib.contextmanager
def _logging_level(verbose: bool | str | int | None):
    """The ``eegcorpus`` logger at the level ``verbose`` asks for, while the block runs."""
    if verbose is None:
        yield
        return
    if isinstance(verbose, bool):
        level = logging.INFO if verbose else logging.WARNING
    elif isinstance(verbose, str) and isinstance(logging.getLevelName(verbose.upper()), int):
        level = logging.getLevelName(verbose.upper())
    elif isinstance(verbose, int):
        level = verbose
    else:
        raise ValueError(
            f"Invalid value for the 'verbose' parameter. Allowed values are None, True, False or a logging level name, but got {verbose!r} instead."
        )
    previous = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(previous)


def write_report(
    store,
    out_path: str | Path,
    *,
    signal_seconds: float = SIGNAL_SECONDS,
    max_recordings_with_signal: int = MAX_RECORDINGS_WITH_SIGNAL,
    verbose: bool | str | int | None = None,
) -> Path:
    """Write the QC report of a store as one self-contained HTML file.

    Every recording is read once, block by block (never whole in memory); the page holds one
    table row per recording and at most ``max_recordings_with_signal`` signal excerpts.

    Parameters
    ----------
    store : Store | path-like | str
        An open :class:`eegcorpus.store.Store`, or the store's folder or URL.
    out_path : path-like | str
        The HTML file to write (replaced if it exists; its folder is created).
    signal_seconds : float
        Seconds of signal embedded per recording, from the middle of the recording.
    max_recordings_with_signal : int
        At most this many recordings carry an excerpt: flagged recordings first, then the others
        in the order of the table. 0 embeds none.
    verbose : bool | str | int | None
        Level of the ``eegcorpus`` logger while the report is made: True for progress (INFO),
        False for warnings only, a level name such as ``"DEBUG"``, or None to leave it as it is.

    Returns
    -------
    path : pathlib.Path
        ``out_path``.

    Raises
    ------
    FileNotFoundError
        ``store`` is not an eegcorpus store.
    IsADirectoryError
        ``out_path`` is a folder.
    ValueError
        A parameter is out of range.

    Examples
    --------
    >>> from eegcorpus.report import write_report
    >>> write_report("stores/eegmmidb", "report.html")  # doctest: +SKIP
    PosixPath('report.html')
    """
    import eegcorpus
    from eegcorpus.report.content import collect_report
    from eegcorpus.report.figures import report_figures
    from eegcorpus.report.render import render_html
    from eegcorpus.store import Store, open_store

    if not (isinstance(signal_seconds, int | float) and signal_seconds > 0):
        raise ValueError(f"Invalid value for the 'signal_seconds' parameter: expected a positive number of seconds, but got {signal_seconds!r} instead.")
    if not (isinstance(max_recordings_with_signal, int) and not isinstance(max_recordings_with_signal, bool) and max_recordings_with_signal >= 0):
        raise ValueError(
            f"Invalid value for the 'max_recordings_with_signal' parameter: expected an integer >= 0, but got {max_recordings_with_signal!r} instead."
        )
    out_path = Path(out_path)
    if out_path.is_dir():
        raise IsADirectoryError(f"{out_path}: is a folder; give the report's file name (for example {out_path / 'report.html'})")
    with _logging_level(verbose):
        opened = store if isinstance(store, Store) else open_store(store)
        content = collect_report(opened, signal_seconds=float(signal_seconds), max_recordings_with_signal=max_recordings_with_signal)
        html = render_html(content, report_figures(content), eegcorpus.__version__)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        partial = out_path.with_name(f".{out_path.name}.partial")
        partial.write_text(html, encoding="utf-8")
        partial.replace(out_path)
        logger.info("report: wrote %s (%.1f MB, %d recordings, %d with signal)", out_path, len(html.encode()) / 1e6, len(content.rows), len(content.excerpts))
    return out_path


__all__ = ["MAX_RECORDINGS_WITH_SIGNAL", "SIGNAL_SECONDS", "write_report"]
