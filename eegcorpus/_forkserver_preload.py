"""Imported once by the build's forkserver, so that worker processes start ready to work.

Importing this module loads what every build task needs (numpy, scipy, zarr, the readers, the
processing and store code) and parses the catalog cards; forked workers inherit all of it
instead of paying for it on their first task. It has no other effect.
"""

import zarr
import zarr.codecs
import zarr.storage  # noqa: F401

import eegcorpus.build
import eegcorpus.pipeline.process
import eegcorpus.readers.edf
import eegcorpus.store.writer  # noqa: F401
from eegcorpus.catalog import load_catalog

load_catalog()
