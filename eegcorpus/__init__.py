"""eegcorpus: public EEG corpora into clean, coordinate-annotated zarr stores."""

from eegcorpus.readers import read_recording
from eegcorpus.recording import Recording

__version__ = "0.1.0"


def open_store(path):
    """Open a store written by ``eegcorpus build`` (see :class:`eegcorpus.store.Store`).

    ``store.index`` is a DataFrame with one row per recording; ``store.recording(id)`` an
    ``xarray.DataArray`` ``[channel, time]`` in microvolts.
    """
    # Imported here so that ``import eegcorpus`` does not pull in the processing code.
    from eegcorpus.store import open_store as _open_store

    return _open_store(path)


__all__ = ["Recording", "__version__", "open_store", "read_recording"]
