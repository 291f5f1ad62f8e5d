"""TUEP (TUH EEG Epilepsy Corpus): the diagnosis group folder becomes ``task``.

Layout: ``{group}/**/{subject}_sNNN_tNNN.edf`` with the group folders ``00_epilepsy`` and
``01_no_epilepsy`` above the patient, session and montage folders. The layout pattern cannot
pin ``{group}`` down (the pattern may start at any depth, so the field would match the montage
folder), so the group is the path part that reads ``[NN_]epilepsy`` or ``[NN_]no_epilepsy``;
``task`` is ``epilepsy`` or ``no_epilepsy`` and the folder name is kept in
``Source.extra["group"]``. A file under neither folder keeps ``task`` empty.
"""

from __future__ import annotations

import re

from eegcorpus.datasets._tuh import TUHAdapter
from eegcorpus.datasets.base import Source

_GROUP = re.compile(r"^(?:\d+_)?(?P<group>(?:no_)?epilepsy)$", re.IGNORECASE)


class TUEPAdapter(TUHAdapter):
    def describe(self, rel, fields) -> Source | None:
        source = super().describe(rel, fields)
        for part in reversed(rel.parent.parts):
            match = _GROUP.match(part)
            if match:
                source.task = match["group"].lower()
                source.extra["group"] = part
                break
        return source


ADAPTER = TUEPAdapter
