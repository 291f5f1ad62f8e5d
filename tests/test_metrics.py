"""Downstream metrics and the balanced (logit-adjusted) loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuript.finetune import _log_prior, balanced_loss
from neuript.metrics import predictions, score, summarise


def test_binary_predictions_threshold_the_logit_at_zero():
    predicted, probability = predictions(np.array([[-2.0], [0.0], [0.1], [3.0]]))
    assert predicted.tolist() == [0, 0, 1, 1]
    assert probability == pytest.approx([0.1192, 0.5, 0.525, 0.9526], abs=1e-4)
    predicted, probability = predictions(np.array([[0.0, 1.0, -1.0], [2.0, 0.0, 0.0]]))
    assert predicted.tolist() == [1, 0] and probability.sum(axis=1) == pytest.approx([1.0, 1.0])


def test_scores_are_percentages_of_the_named_metrics():
    labels = np.array([0, 0, 0, 0, 1, 1])
    logits = np.array([-3.0, -2.0, -1.0, 0.5, 1.0, -0.5])  # one false positive, one false negative
    out = score(["balanced_accuracy", "auc_pr", "auroc", "cohen_kappa", "f1_weighted"], labels, logits)
    assert out["balanced_accuracy"] == pytest.approx(100 * (3 / 4 + 1 / 2) / 2)
    assert out["auroc"] == pytest.approx(100 * 7 / 8)  # 7 of the 8 positive-negative pairs ranked right
    assert list(out) == ["balanced_accuracy", "auc_pr", "auroc", "cohen_kappa", "f1_weighted"]
    with pytest.raises(ValueError, match="Invalid value for the 'metric' parameter"):
        score(["accuracy"], labels, logits)
    with pytest.raises(ValueError, match="only defined for binary"):
        score(["auroc"], np.array([0, 1, 2]), np.eye(3))
    with pytest.warns(UserWarning, match="one class"):
        assert np.isnan(score(["auroc"], np.zeros(3, int), np.zeros(3))["auroc"])


def test_summary_uses_the_sample_standard_deviation():
    out = summarise([{"auroc": 60.0}, {"auroc": 70.0}, {"auroc": 80.0}])
    assert out["auroc"] == {"mean": 70.0, "std": 10.0}
    assert summarise([{"auroc": 60.0}])["auroc"]["std"] == 0.0


@pytest.mark.parametrize("n_classes", [2, 3])
def test_logit_adjustment_makes_the_balanced_decision_optimal(n_classes):
    # Labels 6:2(:1). A model with one constant logit vector: plain cross-entropy learns the
    # class frequencies; the adjusted loss learns equal logits (the balanced-error decision).
    counts = [6, 2, 1][:n_classes]
    labels = torch.tensor(np.repeat(np.arange(n_classes), counts))
    prior = _log_prior(labels.numpy(), n_classes)
    width = 1 if n_classes == 2 else n_classes
    z = torch.zeros(width, requires_grad=True)
    optimizer = torch.optim.LBFGS([z], max_iter=200)

    def closure():
        optimizer.zero_grad()
        loss = balanced_loss(z.expand(len(labels), width), labels, prior)
        loss.backward()
        return loss

    optimizer.step(closure)
    if n_classes == 2:
        assert float(z.detach()) == pytest.approx(0.0, abs=1e-3)  # plain BCE would give log(2/6)
    else:
        assert (z - z.mean()).detach().numpy() == pytest.approx(np.zeros(3), abs=1e-3)
