"""What the band-power baseline keeps from views of a window: each band alone, 1-s or 2.5-s crops
against the whole 5-s window, and channels scaled to one RMS as the model's inputs are
(docs/finetune.md, "Crop length" and "Channel gain").

Every row is the baseline of ``neuript/baseline.py`` (log band power, logistic regression, ``C``
chosen by its own rule on the validation subjects), scored on MentalArithmetic's validation
subjects 29-32. A crop row computes the band power of each non-overlapping crop (Welch segments
as long as the crop when it is shorter than 2 s) and averages the log powers over the window's
crops, as the model averages its crops' logits. The scaled row applies
:func:`eegcorpus.loader.transforms.scale_channels` first (the recipe's ``channel_rms``): the
baseline on the signals the model sees, i.e. each channel's relative band power.

Usage::

    python scripts/band_power_views.py --store out/results/stores/mental_arithmetic
"""

from __future__ import annotations

import argparse

import numpy as np

METRICS = ["balanced_accuracy", "auroc"]


def crop_band_power(x: np.ndarray, sfreq: float, crop_s: float) -> np.ndarray:
    """Log band power ``[windows, channels, bands]`` averaged over each window's non-overlapping crops."""
    from neuript.baseline import band_power_features

    n, c, t = x.shape
    length = int(round(crop_s * sfreq))
    k = t // length
    crops = x[:, :, : k * length].reshape(n, c, k, length).transpose(0, 2, 1, 3).reshape(n * k, c, length)
    return band_power_features(crops, sfreq).reshape(n, k, c, -1).mean(axis=1)


def main(argv=None) -> None:
    from eegcorpus.loader.transforms import scale_channels
    from neuript.baseline import BANDS, C_GRID, fit_predict
    from neuript.finetune import RECIPES, FinetuneSettings, _folds
    from neuript.metrics import score
    from neuript.tasks import get_task, load_windows

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="the MentalArithmetic store")
    args = parser.parse_args(argv)

    task = get_task("mental_arithmetic")
    windows = load_windows(task, [args.store])
    labels = windows.label.astype(np.int64)
    settings = FinetuneSettings(task=task.name, stores=[args.store], out="unused", split="paper")
    part = _folds(settings, task, windows)[1][0]
    train, val = part == "train", part == "val"
    whole_s = windows.x.shape[-1] / windows.sfreq

    views = {f"whole {whole_s:g}-s window, all bands": crop_band_power(windows.x, windows.sfreq, whole_s)}
    for b, (band, low, high) in enumerate(BANDS):
        views[f"whole window, {band} ({low:g}-{high:g} Hz) only"] = views[f"whole {whole_s:g}-s window, all bands"][..., [b]]
    for crop_s in (2.5, 1.0):
        views[f"{crop_s:g}-s crops, log power averaged"] = crop_band_power(windows.x, windows.sfreq, crop_s)
    rms = RECIPES["full"]["channel_rms"]
    views[f"whole window, channels scaled to {rms:g} uV RMS"] = crop_band_power(scale_channels(windows.x, rms), windows.sfreq, whole_s)

    print(f"| view (C from {list(C_GRID)}) | balanced accuracy | AUROC | C |")
    print("|---|---|---|---|")
    for name, features in views.items():
        features = features.reshape(len(labels), -1)
        logits, c = fit_predict(features[train], labels[train], features[val], labels[val], features[val], task.metrics, binary=True)
        scores = score(METRICS, labels[val], np.asarray(logits)[:, None])
        print(f"| {name} | {scores['balanced_accuracy']:.1f} | {scores['auroc']:.1f} | {c:g} |")


if __name__ == "__main__":
    main()
