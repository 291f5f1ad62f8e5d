"""Downstream metrics, computed by scikit-learn (never by hand).

Binary tasks: ``balanced_accuracy``, ``auc_pr`` (average precision of the positive class),
``auroc``; multi-class tasks: ``balanced_accuracy``, ``cohen_kappa``, ``f1_weighted``; PhysioNet
P300: ``balanced_accuracy``, ``cohen_kappa``, ``auroc``. Which ones a task reports comes from
its catalog card. Scores are returned in percent, like the cards' ``neuript_reported``.

Predictions: a binary model gives one logit (positive class = code 1), predicted positive when
the logit is above 0; a multi-class model gives one logit per class, predicted by argmax.
"""

from __future__ import annotations

import warnings

import numpy as np

from eegcorpus._validate import check_option

METRICS = ("balanced_accuracy", "auroc", "auc_pr", "cohen_kappa", "f1_weighted")
_NEED_SCORES = ("auroc", "auc_pr")


def predictions(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Predicted classes and class probabilities from logits.

    Parameters
    ----------
    logits : ndarray, shape (n,) or (n, 1) for a binary task, (n, n_classes) otherwise

    Returns
    -------
    predicted : ndarray of int, shape (n,)
    probabilities : ndarray, shape (n,) (positive class) for binary, (n, n_classes) otherwise
    """
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim == 1 or logits.shape[1] == 1:
        z = logits.reshape(-1)
        return (z > 0).astype(np.int64), 1.0 / (1.0 + np.exp(-z))
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return logits.argmax(axis=1), shifted / shifted.sum(axis=1, keepdims=True)


def score(names, labels: np.ndarray, logits: np.ndarray) -> dict[str, float]:
    """The named metrics of ``logits`` against ``labels``, in percent.

    Parameters
    ----------
    names : iterable of str
        Metric names (see :data:`METRICS`).
    labels : ndarray of int, shape (n,)
    logits : ndarray
        See :func:`predictions`.

    Returns
    -------
    dict
        name -> percent. A ranking metric is NaN (with a warning) when the labels hold one class.
    """
    from sklearn import metrics as skm

    labels = np.asarray(labels, dtype=np.int64)
    predicted, probabilities = predictions(logits)
    binary = probabilities.ndim == 1
    out = {}
    for name in names:
        check_option("metric", name, METRICS)
        if name in _NEED_SCORES:
            if not binary:
                raise ValueError(f"Metric {name!r} is only defined for binary tasks here (the cards use it for binary tasks only).")
            if len(np.unique(labels)) < 2:
                warnings.warn(f"{name} is undefined when the labels hold one class; reported as NaN.", stacklevel=2)
                out[name] = float("nan")
                continue
        if name == "balanced_accuracy":
            value = skm.balanced_accuracy_score(labels, predicted)
        elif name == "auroc":
            value = skm.roc_auc_score(labels, probabilities)
        elif name == "auc_pr":
            value = skm.average_precision_score(labels, probabilities)
        elif name == "cohen_kappa":
            value = skm.cohen_kappa_score(labels, predicted)
        else:
            value = skm.f1_score(labels, predicted, average="weighted")
        out[name] = 100.0 * float(value)
    return out


def summarise(per_run: list[dict]) -> dict[str, dict]:
    """Mean and sample standard deviation (ddof 1; 0 for a single run) of each metric over runs."""
    names = list(per_run[0]) if per_run else []
    out = {}
    for name in names:
        values = np.array([run[name] for run in per_run], dtype=np.float64)
        out[name] = {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0}
    return out


def selection_key(metrics: dict) -> tuple:
    """How epochs are compared when choosing the checkpoint: balanced accuracy first, then the
    mean of the other metrics (ties of balanced accuracy are common on a few subjects).

    Balanced accuracy alone decides when it differs: a mean with the ranking metrics can prefer
    a model that gives every window the same class but ranks them well.
    """
    first = metrics.get("balanced_accuracy", float("nan"))
    rest = [v for k, v in metrics.items() if k != "balanced_accuracy" and np.isfinite(v)]
    return (first if np.isfinite(first) else -np.inf, float(np.mean(rest)) if rest else -np.inf)


def per_subject_scores(names, labels: np.ndarray, logits: np.ndarray, subjects: np.ndarray) -> dict[str, dict[str, float]]:
    """:func:`score` of each subject's windows on their own (subject -> name -> percent).

    A ranking metric of a subject whose windows hold one class is NaN (no warning: with one
    class per subject that is expected).
    """
    subjects = np.asarray(subjects).astype(str)
    out = {}
    from neuript.splits import sort_subjects

    for subject in sort_subjects(set(subjects.tolist())):
        mine = subjects == subject
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            out[subject] = score(names, labels[mine], logits[mine])
    return out


__all__ = ["METRICS", "per_subject_scores", "predictions", "score", "selection_key", "summarise"]
