"""Helpers shared by the test modules (fixtures live in ``tests/conftest.py``).

- :mod:`helpers.shared_data`: where the real recordings are (``shared_path``) and the subjects
  the tests build.
- :mod:`helpers.edf`: the one writer of valid EDF/BDF(+) files (pyedflib), the byte-level
  writer of malformed ones, and the EDF+D file with a real gap.
- :mod:`helpers.dataset_files`: files in a dataset's own format and layout (Sleep-EDF,
  BCIC-IV-2a GDF, PhysioNet P300, Mumtaz, SEED Neuroscan CNT, TUH), filled with real EEG.
- :mod:`helpers.store`: a generated recording written straight into a store.
- :mod:`helpers.processes`: servers and launchers run as separate process groups.

Test modules import from here, never from each other or from ``conftest``
(``tests/test_imports.py`` checks it).
"""
