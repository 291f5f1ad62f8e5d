"""eegcorpus: public EEG corpora into clean, coordinate-annotated zarr stores."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("eegcorpus")  # one source: pyproject.toml
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"


def open_store(path):
    """Open a store written by ``eegcorpus build`` (see :class:`eegcorpus.store.Store`).

    ``store.index`` is a DataFrame with one row per recording; ``store.recording(id)`` an
    ``xarray.DataArray`` ``[channel, time]`` in microvolts.
    """
    # Imported here so that ``import eegcorpus`` does not pull in the processing code.
    from eegcorpus.store import open_store as _open_store

    return _open_store(path)


def __getattr__(name: str):
    # The readers import numpy and pandas; a command that needs neither (``--help``,
    # ``--version``) should not pay for them, so these names load on first use.
    if name == "read_recording":
        from eegcorpus.readers import read_recording

        return read_recording
    if name == "Recording":
        from eegcorpus.recording import Recording

        return Recording
    raise AttributeError(f"module 'eegcorpus' has no attribute {name!r}")


__all__ = ["Recording", "__version__", "open_store", "read_recording"]
