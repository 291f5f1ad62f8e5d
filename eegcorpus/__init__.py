"""eegcorpus: public EEG corpora into clean, coordinate-annotated zarr stores."""

from eegcorpus.readers import read_recording
from eegcorpus.recording import Recording

__version__ = "0.1.0"

__all__ = ["Recording", "__version__", "read_recording"]
