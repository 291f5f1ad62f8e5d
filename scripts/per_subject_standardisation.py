"""Linear read-outs with features standardised per subject, against standardised over the training
windows: band power, pretrained and random neuript features (docs/results.md, "Per-subject
standardisation").

Every read-out is scikit-learn's L2 logistic regression with balanced class weights, ``C`` chosen
from a grid on validation balanced accuracy. neuript features are the IILP features linear
probing uses (averaged over each window's 1-s crops). Per-subject standardisation uses each
subject's own windows (no labels).

Usage::

    python scripts/per_subject_standardisation.py --store out/results/stores/mental_arithmetic \\
        --init out/results/runs/pretrain/checkpoint.pt
"""

from __future__ import annotations

import argparse
import logging

import numpy as np

logger = logging.getLogger("neuript")
METRICS = ["balanced_accuracy", "auroc"]
NEURIPT_C = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 1e-1)
BAND_POWER_C = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)


def standardise(features: np.ndarray, groups: np.ndarray, fit: np.ndarray) -> np.ndarray:
    """Each feature standardised with the mean and standard deviation of the rows ``fit`` (all
    rows' groups share them), or, where ``groups`` is given, of each group's own rows."""
    features = features.astype(np.float64)
    if groups is None:
        mean, std = features[fit].mean(0), features[fit].std(0)
        return (features - mean) / (std + 1e-9)
    out = np.empty_like(features)
    for g in np.unique(groups):
        rows = groups == g
        out[rows] = (features[rows] - features[rows].mean(0)) / (features[rows].std(0) + 1e-9)
    return out


def best_readout(features, labels, train, val, grid) -> dict:
    """Validation scores of the ``C`` with the best validation balanced accuracy."""
    from sklearn.linear_model import LogisticRegression

    from neuript.metrics import score

    best = None
    for c in grid:
        fitted = LogisticRegression(C=c, class_weight="balanced", max_iter=5000).fit(features[train], labels[train])
        scores = score(METRICS, labels[val], fitted.decision_function(features[val])[:, None]) | {"C": c}
        if best is None or scores["balanced_accuracy"] > best["balanced_accuracy"]:
            best = scores
    return best


def main(argv=None) -> None:
    from neuript.baseline import band_power_features
    from neuript.finetune import FinetuneSettings, _folds, _Inputs, build_model, window_features
    from neuript.tasks import get_task, load_windows

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="the MentalArithmetic store")
    parser.add_argument("--init", required=True, help="the pretraining checkpoint")
    parser.add_argument("--seeds", type=int, nargs="+", default=[520, 521, 522], help="random encoders")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    task = get_task("mental_arithmetic")
    windows = load_windows(task, [args.store])
    labels = windows.label.astype(np.int64)
    settings = FinetuneSettings(task=task.name, stores=[args.store], out="unused", mode="linear", split="paper")
    part = _folds(settings, task, windows)[1][0]
    train, val = part == "train", part == "val"
    inputs = _Inputs(windows, settings.a_law, settings.crop_s, settings.channel_rms)

    feature_sets = {"band power": (band_power_features(windows.x, windows.sfreq, windows.ch_mask).reshape(len(labels), -1), BAND_POWER_C)}
    for name, init, seed in [("pretrained", args.init, args.seeds[0])] + [(f"random {s}", None, s) for s in args.seeds]:
        model = build_model(FinetuneSettings(task=task.name, stores=[args.store], out="unused", mode="linear", init=init), task.n_classes, seed)
        feature_sets[name] = (window_features(model, inputs, np.arange(len(labels))), NEURIPT_C)
        logger.info("features: %s", name)

    print("| features | standardised over the training windows | per subject |")
    print("|---|---|---|")
    for name, (features, grid) in feature_sets.items():
        cells = []
        for groups in (None, windows.subject):
            best = best_readout(standardise(features, groups, train), labels, train, val, grid)
            cells.append(f"{best['balanced_accuracy']:.1f} BA / {best['auroc']:.1f} AUROC (C {best['C']:g})")
        print(f"| {name} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
