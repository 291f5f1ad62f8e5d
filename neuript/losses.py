"""The fine-tuning loss: balanced binary cross-entropy (Bal-BCE) with label smoothing.

NeurIPT fine-tunes with LiVT's Bal-BCE (Xu et al. 2023): binary cross-entropy on logits shifted
by the log prior odds of the classes in the training windows (logit adjustment, Menon et al.
2021), with label smoothing. ``prior_scale`` is the strength ``K`` of the shift (the paper's grid:
0 to 0.3): ``K = 1`` makes the unshifted logit minimise the balanced error exactly, ``K = 0`` is
plain cross-entropy. Multi-class tasks use the same shift and smoothing on a softmax
cross-entropy. Predictions always use the unshifted logits (threshold 0, or argmax).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def log_prior(labels: np.ndarray, n_classes: int) -> torch.Tensor:
    """Log class frequencies of ``labels`` (a class with no window counts as one)."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes).astype(np.float64)
    return torch.tensor(np.log(np.maximum(counts, 1.0) / counts.sum()), dtype=torch.float32)


def balanced_loss(logits: torch.Tensor, labels: torch.Tensor, prior: torch.Tensor, prior_scale: float = 1.0, label_smoothing: float = 0.0) -> torch.Tensor:
    """Bal-BCE (one logit) or the balanced cross-entropy (one logit per class).

    Parameters
    ----------
    logits : Tensor, shape (n, 1) or (n, n_classes)
    labels : Tensor of int, shape (n,)
    prior : Tensor, shape (n_classes,)
        :func:`log_prior` of the training windows.
    prior_scale : float
        ``K``: how much of the log prior the training logits are shifted by.
    label_smoothing : float
        Targets move this far towards uniform (binary: ``y (1 - e) + e / 2``).
    """
    prior = prior.to(logits.device, torch.float32)
    logits = logits.float()
    if logits.shape[-1] == 1:
        shift = prior_scale * (prior[1] - prior[0])
        target = labels.float() * (1.0 - label_smoothing) + 0.5 * label_smoothing
        return F.binary_cross_entropy_with_logits(logits.squeeze(-1) + shift, target)
    return F.cross_entropy(logits + prior_scale * prior, labels, label_smoothing=label_smoothing)


__all__ = ["balanced_loss", "log_prior"]
