"""Generated recordings written straight into a store (no raw file, no build)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def generated_processed_recording(data: np.ndarray, sfreq: float, seed: int):
    """``data`` (channels x samples, uV) as a processed recording: channels E0, E1..., random
    positions drawn from ``seed``, no annotations."""
    from eegcorpus.pipeline.process import ProcessedRecording
    from eegcorpus.recording import empty_annotations

    n = data.shape[0]
    names = [f"E{i}" for i in range(n)]
    positions = np.random.default_rng(seed).uniform(-0.1, 0.1, (n, 3))
    return ProcessedRecording(
        data=data,
        sfreq=sfreq,
        ch_names=names,
        canonical=names,
        ch_types=["eeg"] * n,
        positions=positions,
        lobes=["central"] * n,
        annotations=empty_annotations(),
    )


def write_generated_recording(root: Path, rid: str, data: np.ndarray, sfreq: float, profile, seed: int = 0) -> float | None:
    """Write ``data`` as recording ``rid`` of the store at ``root`` (created if needed) with
    ``profile``'s storage; returns the int16 storage step in uV (None for float32)."""
    from eegcorpus.store import init_store, write_recording
    from eegcorpus.store.writer import choose_quantum

    quantum = choose_quantum(data, profile.quantum_uv) if profile.storage == "int16" else None
    attrs = {
        "recording_id": rid,
        "dataset": "generated",
        "subject": "1",
        "sfreq": sfreq,
        "units": "uV",
        "n_channels": data.shape[0],
        "n_samples": data.shape[1],
        "quantum_uv": quantum,
    }
    init_store(root)
    write_recording(root, rid, generated_processed_recording(data, sfreq, seed), attrs, profile)
    return quantum
