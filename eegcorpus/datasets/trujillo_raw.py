"""Trujillo (2020) "Raw EEG Data": the category-learning recordings of the same lab.

The card leaves the record, format and layout unverified. Public code opens files of this study
named ``EEG_Cat_Study4_II_II_S1.bdf`` and ``EEG_Cat_Study5_II_S1.bdf``: Biosemi BDF at 256 Hz,
64 scalp channels in 10-10 names, four EOG channels (LVEOG, RVEOG, LHEOG, RHEOG), the mastoids
M1/M2 and a Status channel. Files, channels and events are handled exactly as for
:mod:`~eegcorpus.datasets.trujillo_resting`, except:

* the subject id carries the study (``study4-1``), because the record may hold several studies,
  each numbering its participants from 1;
* the task is the condition from the file name (``II_II``, ``II``), or ``rest`` for a
  ``Resting`` file.
"""

from __future__ import annotations

from eegcorpus.datasets.trujillo_resting import TrujilloAdapter


class TrujilloRawAdapter(TrujilloAdapter):
    qualify_subject_with_study = True


ADAPTER = TrujilloRawAdapter
