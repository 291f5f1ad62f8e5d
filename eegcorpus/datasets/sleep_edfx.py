"""Sleep-EDF Expanded (PhysioNet sleep-edfx): PSG files paired with their hypnograms.

Files and ids
-------------
``sleep-cassette/SC4{ss}{N}E0-PSG.edf`` goes with ``SC4{ss}{N}E?-Hypnogram.edf`` and
``sleep-telemetry/ST7{ss}{N}J0-PSG.edf`` with ``ST7{ss}{N}J?-Hypnogram.edf``: the letter after
E/J differs between the two files, so they are paired on their first 6 characters, within
the same folder. The hypnogram's relative path goes into ``Source.companions["hypnogram"]``.

* recording id: ``sleep_edfx.<PSG stem>`` (``sleep_edfx.SC4001E0-PSG``);
* subject: the cassette study numbers its subjects 0-82 and the telemetry study 1-24 on its
  own, and they are different people, so cassette subjects keep the plain number (``"0"``,
  ``"82"``, as in MNE's ``sleep_physionet.age`` and EEGPT's split) and telemetry subjects get
  an ``ST`` prefix (``"ST1"``);
* session: the night (``"1"`` or ``"2"``); task ``sleep_staging``; no file-level label.

Events
------
One event per 30-s scoring epoch: ``onset`` (seconds from the PSG's first sample),
``duration`` 30, ``description`` the hypnogram text (``"Sleep stage 3"``) and ``label`` per the
card: W, N1, N2, N3 (R&K stages 3 and 4 merged), REM. ``Sleep stage ?`` and ``Movement time``
epochs are left out. Only epochs that lie wholly inside the PSG are kept.

The hypnogram is placed on the PSG's time axis by the two files' start times (as MNE does when
it sets a hypnogram's annotations on a raw), so a PSG whose header starts later than its
hypnogram still gets the right stages; in the released files both start together. Cropping the
long wake periods (braindecode's ``crop_wake_mins``) is a loading-time choice and is not done
here: every scored epoch is kept.

Channels
--------
The cassette PSGs hold EEG and EOG at 100 Hz and EMG envelope, respiration, temperature and
event marker at 1 Hz; the EDF reader keeps the 1 Hz channels apart (``Recording.aux``), the
channel layer types the rest, and the card's ``drop_channels`` removes the non-EEG channels, so
the two bipolar EEG derivations are what is stored.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from eegcorpus.datasets.base import DatasetAdapter, Source, safe_glob
from eegcorpus.errors import ReaderError
from eegcorpus.readers import read_recording

#: Length of a scoring epoch in seconds (Rechtschaffen and Kales).
EPOCH_S = 30.0

#: Hypnogram annotation -> card label; anything else ('Sleep stage ?', 'Movement time') is
#: left out.
STAGE_LABELS: dict[str, str] = {
    "Sleep stage W": "W",
    "Sleep stage 1": "N1",
    "Sleep stage 2": "N2",
    "Sleep stage 3": "N3",
    "Sleep stage 4": "N3",
    "Sleep stage R": "REM",
}

_NAME = re.compile(r"^(?P<study>SC4|ST7)(?P<subject>\d{2})(?P<night>\d)")
_DEFAULT_HYPNOGRAMS = "sleep-*/*-Hypnogram.edf"


class SleepEDFxAdapter(DatasetAdapter):
    def __init__(self, card):
        super().__init__(card)
        unknown = set(STAGE_LABELS.values()) - set(card.labels or {})
        if unknown:
            raise ValueError(f"sleep_edfx card labels lack {sorted(unknown)}")
        self.hypnogram_pattern = card.layout.annotations or _DEFAULT_HYPNOGRAMS

    def find(self, raw_root: Path) -> list[Source]:
        # Pairing key: (folder, first 6 characters of the name).
        hypnograms: dict[tuple[str, str], list[str]] = {}
        for rel in safe_glob(raw_root, self.hypnogram_pattern):
            hypnograms.setdefault((str(rel.parent), rel.name[:6]), []).append(str(rel))
        sources = []
        for rel in safe_glob(raw_root, self.pattern):
            source = self.describe(rel, self.fields(rel))
            if source is None:
                continue
            matches = hypnograms.get((str(rel.parent), rel.name[:6]), [])
            if len(matches) == 1:
                source.companions["hypnogram"] = matches[0]
            else:
                # Kept so the build reports the file instead of silently leaving it out.
                source.extra["hypnogram_matches"] = matches
            sources.append(source)
        return sources

    def describe(self, rel: PurePosixPath, fields: dict[str, str]) -> Source | None:
        match = _NAME.match(rel.name)
        if match is None:
            return None
        number = str(int(match["subject"]))
        return Source(
            path=str(rel),
            recording_id=f"{self.dataset_id}.{rel.name.rsplit('.', 1)[0]}",
            subject=number if match["study"] == "SC4" else f"ST{number}",
            session=match["night"],
            task="sleep_staging",
        )

    def read(self, raw_root: Path, source: Source):
        if "hypnogram" not in source.companions:
            found = source.extra.get("hypnogram_matches", [])
            reason = f"several hypnograms match: {', '.join(found)}" if found else "no hypnogram found"
            raise ReaderError(
                Path(raw_root) / source.path,
                f"{reason} (expected one '{Path(source.path).name[:6]}*-Hypnogram.edf' in the same folder)",
            )
        rec = read_recording(Path(raw_root) / source.path)
        # events() gets only the source and the recording, so the hypnogram travels with it.
        hyp = read_recording(Path(raw_root) / source.companions["hypnogram"])
        ann = hyp.annotations
        rec.extra["hypnogram"] = {
            "path": source.companions["hypnogram"],
            "sha256": hyp.sha256,
            "meas_date": hyp.meas_date,
            "onset": ann["onset"].tolist(),
            "duration": ann["duration"].tolist(),
            "description": ann["description"].tolist(),
        }
        return rec

    def events(self, source: Source, rec) -> pd.DataFrame:
        hyp = rec.extra.get("hypnogram")
        if hyp is None:
            raise ReaderError(rec.source or source.path, "recording was read without its hypnogram")
        shift = 0.0
        if rec.meas_date is not None and hyp["meas_date"] is not None:
            shift = (rec.meas_date - hyp["meas_date"]).total_seconds()
        onsets, descriptions, labels = [], [], []
        # A small tolerance keeps an epoch that ends on the last sample despite float noise.
        end = rec.duration_s + 1e-6
        for onset, duration, text in zip(hyp["onset"], hyp["duration"], hyp["description"]):
            label = STAGE_LABELS.get(str(text).strip())
            if label is None:
                continue
            n_epochs = int(round(float(duration) / EPOCH_S))
            starts = float(onset) - shift + EPOCH_S * np.arange(n_epochs)
            inside = starts[(starts >= -1e-6) & (starts + EPOCH_S <= end)]
            onsets.extend(np.maximum(inside, 0.0).tolist())
            descriptions.extend([str(text).strip()] * len(inside))
            labels.extend([label] * len(inside))
        frame = pd.DataFrame({"onset": onsets, "duration": [EPOCH_S] * len(onsets), "description": descriptions, "label": labels})
        return frame.sort_values("onset", kind="stable").reset_index(drop=True)


ADAPTER = SleepEDFxAdapter
