"""Downstream metrics, checkpoint selection, the Bal-BCE loss and the OneCycle schedule."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuript.losses import balanced_loss, log_prior
from neuript.metrics import per_subject_scores, predictions, score, selection_key, summarise
from neuript.optim import ParamGroup, configure_optimizer, one_cycle


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
    # ranked by logit: +, -, +, -, -, -: precision 1 at recall 1/2, then 2/3 at recall 1
    assert out["auc_pr"] == pytest.approx(100 * (0.5 * 1 + 0.5 * 2 / 3))
    # observed agreement 4/6, chance agreement (4/6)(4/6) + (2/6)(2/6) = 5/9
    assert out["cohen_kappa"] == pytest.approx(100 * (2 / 3 - 5 / 9) / (1 - 5 / 9))
    # F1 of class 0: 3/4, of class 1: 1/2; weighted by their supports 4 and 2
    assert out["f1_weighted"] == pytest.approx(100 * (4 * 0.75 + 2 * 0.5) / 6)
    assert list(out) == ["balanced_accuracy", "auc_pr", "auroc", "cohen_kappa", "f1_weighted"]
    with pytest.raises(ValueError, match="Invalid value for the 'metric' parameter"):
        score(["accuracy"], labels, logits)
    with pytest.raises(ValueError, match="only defined for binary"):
        score(["auroc"], np.array([0, 1, 2]), np.eye(3))
    with pytest.warns(UserWarning, match="one class"):
        assert np.isnan(score(["auroc"], np.zeros(3, int), np.zeros(3))["auroc"])


def test_multiclass_kappa_and_weighted_f1_match_hand_computed_values():
    labels = np.array([0, 0, 1, 1, 2, 2])
    predicted = np.array([0, 1, 1, 1, 2, 0])
    out = score(["balanced_accuracy", "cohen_kappa", "f1_weighted"], labels, 2.0 * np.eye(3)[predicted])
    assert out["balanced_accuracy"] == pytest.approx(100 * (1 / 2 + 1 + 1 / 2) / 3)
    # observed agreement 4/6; predicted counts 2, 3, 1 against 2, 2, 2 true: chance (4 + 6 + 2) / 36
    assert out["cohen_kappa"] == pytest.approx(100 * (4 / 6 - 1 / 3) / (1 - 1 / 3))
    # per class (precision, recall): (1/2, 1/2), (2/3, 1), (1, 1/2); equal supports
    f1 = [2 * p * r / (p + r) for p, r in [(1 / 2, 1 / 2), (2 / 3, 1.0), (1.0, 1 / 2)]]
    assert out["f1_weighted"] == pytest.approx(100 * np.mean(f1))


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
    prior = log_prior(labels.numpy(), n_classes)
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


def test_bal_bce_shift_and_smoothing_match_hand_computed_values():
    # 3 negatives, 1 positive: log prior odds = log(1/3). Logit 0.5 for a positive window,
    # K = 0.3, smoothing 0.1: target 0.95, shifted logit 0.5 + 0.3 log(1/3).
    prior = log_prior(np.array([0, 0, 0, 1]), 2)
    z = 0.5 + 0.3 * np.log(1 / 3)
    p = 1 / (1 + np.exp(-z))
    expected = -(0.95 * np.log(p) + 0.05 * np.log(1 - p))
    loss = balanced_loss(torch.tensor([[0.5]]), torch.tensor([1]), prior, prior_scale=0.3, label_smoothing=0.1)
    assert float(loss) == pytest.approx(expected, rel=1e-6)
    # K = 0 and no smoothing: plain binary cross-entropy
    plain = balanced_loss(torch.tensor([[0.5]]), torch.tensor([1]), prior, prior_scale=0.0)
    assert float(plain) == pytest.approx(-np.log(1 / (1 + np.exp(-0.5))), rel=1e-6)
    # multi-class: cross-entropy of logits + K log prior, smoothed
    prior3 = log_prior(np.array([0, 0, 1, 2]), 3)
    logits = torch.tensor([[0.2, -0.1, 0.4]])
    shifted = logits.numpy()[0] + 0.3 * np.log([0.5, 0.25, 0.25])
    logp = shifted - np.log(np.exp(shifted).sum())
    target = np.array([0.1 / 3, 0.9 + 0.1 / 3, 0.1 / 3])
    loss3 = balanced_loss(logits, torch.tensor([1]), prior3, prior_scale=0.3, label_smoothing=0.1)
    assert float(loss3) == pytest.approx(-(target * logp).sum(), rel=1e-6)


def test_label_smoothing_keeps_logits_finite_on_separable_data():
    # Without smoothing, separable data drive the logits to infinity; with smoothing e the
    # optimum of a positive window is log((1 - e/2) / (e/2)).
    prior = log_prior(np.array([0, 1]), 2)
    z = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([z], max_iter=200)

    def closure():
        optimizer.zero_grad()
        loss = balanced_loss(z.view(1, 1), torch.tensor([1]), prior, prior_scale=0.0, label_smoothing=0.2)
        loss.backward()
        return loss

    optimizer.step(closure)
    assert float(z.detach()) == pytest.approx(np.log(0.9 / 0.1), abs=1e-3)


def test_selection_prefers_balanced_accuracy_over_ranking_metrics():
    # A constant predictor (BA 50) that ranks well must lose to one that separates the classes.
    constant = {"balanced_accuracy": 50.0, "auc_pr": 95.0, "auroc": 97.0}
    separating = {"balanced_accuracy": 70.0, "auc_pr": 60.0, "auroc": 72.0}
    assert np.mean(list(constant.values())) > np.mean(list(separating.values()))  # the old rule's choice
    assert selection_key(separating) > selection_key(constant)
    # ties of balanced accuracy are broken by the other metrics
    assert selection_key({"balanced_accuracy": 70.0, "auroc": 80.0}) > selection_key({"balanced_accuracy": 70.0, "auroc": 75.0})


def test_per_subject_scores_score_each_subject_alone():
    labels = np.array([0, 1, 0, 1, 0, 1])
    logits = np.array([-1.0, 1.0, 1.0, -1.0, -1.0, -1.0])
    subjects = np.array(["2", "2", "10", "10", "3", "3"])
    out = per_subject_scores(["balanced_accuracy", "auroc"], labels, logits, subjects)
    assert list(out) == ["2", "3", "10"]  # numeric order
    assert out["2"]["balanced_accuracy"] == 100.0 and out["10"]["balanced_accuracy"] == 0.0
    assert out["3"]["balanced_accuracy"] == 50.0 and out["3"]["auroc"] == 50.0


def test_one_cycle_matches_pytorch():
    total, peak = 57, 2e-3
    model = torch.nn.Linear(2, 1)
    reference = torch.optim.SGD(model.parameters(), lr=peak)
    schedule = torch.optim.lr_scheduler.OneCycleLR(reference, max_lr=peak, total_steps=total, pct_start=0.15, div_factor=5, final_div_factor=100)
    expected = []
    for _ in range(total):
        expected.append(reference.param_groups[0]["lr"])
        reference.step()
        schedule.step()
    ours = [peak * one_cycle(step, total, 0.15, 5, 100) for step in range(total)]
    assert ours == pytest.approx(expected, rel=1e-9)


def test_a_frozen_group_starts_its_own_cycle_when_it_joins():
    encoder, head = torch.nn.Linear(2, 2), torch.nn.Linear(2, 1)
    optimizer, scheduler = configure_optimizer(
        [ParamGroup(list(encoder.parameters()), 1e-4, first_step=10), ParamGroup(list(head.parameters()), 1e-3)],
        30,
        weight_decay=0.0,
        warmup=0.1,
        div_factor=5,
        final_div_factor=100,
    )
    rates = []
    for _ in range(30):
        rates.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    assert all(r[0] == 0.0 for r in rates[:10])  # frozen: no step at all
    assert rates[10][0] == pytest.approx(1e-4 / 5)  # joins at the start of its own warm-up
    assert max(r[0] for r in rates) == pytest.approx(1e-4) and max(r[1] for r in rates) == pytest.approx(1e-3)
    assert rates[0][1] == pytest.approx(1e-3 / 5) and rates[-1][1] == pytest.approx(1e-3 / 500, rel=0.05)
