"""EEGNet beside every fine-tuning result: the compact network a researcher would train instead.

The model is braindecode's ``EEGNetv4`` (EEGNet-8,2: 8 temporal filters, depth multiplier 2,
16 separable filters; Lawhern et al. 2018), never a copy of it: install it with
``pip install -c constraints.txt -e ".[eegnet]"``. Benchmarks of EEG foundation models rank this
~2,000-parameter network second on average against twelve of them, so a foundation model that
does not beat it on a task has not earned its cost there.

It sees what the NeurIPT model sees: the same windows (microvolts, the task's montage), the same
subject split and the same seeds, and it is trained with the same balanced loss
(:func:`neuript.finetune.balanced_loss`) and chosen by the same rule (the epoch with the best
validation balanced accuracy). Its temporal kernel is half a second (``kernel_length =
sfreq / 2``, the EEGNet paper's 64 samples at 128 Hz); everything else is braindecode's default.
Optimiser: Adam at 1e-3 (the EEGNet paper's), batch 32.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

NAME = "EEGNet-8,2 (braindecode)"
EXTRA_HINT = 'pip install -c constraints.txt -e ".[eegnet]"'


@dataclass(frozen=True)
class EEGNetRecipe:
    """How EEGNet is trained (the defaults are the ones every results table uses)."""

    epochs: int = 60
    patience: int = 15
    lr: float = 1e-3
    batch_size: int = 32
    label_smoothing: float = 0.1
    prior_scale: float = 0.3


def available() -> bool:
    """Whether braindecode (the ``eegnet`` extra) is installed."""
    try:
        import braindecode  # noqa: F401
    except ImportError:
        return False
    return True


def build(n_channels: int, n_classes: int, n_times: int, sfreq: float):
    """braindecode's EEGNetv4 for these windows (one output for a binary task)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # braindecode 0.8 warns about its own deprecated argument names
        from braindecode.models import EEGNetv4

        return EEGNetv4(
            n_chans=n_channels,
            n_outputs=1 if n_classes == 2 else n_classes,
            n_times=n_times,
            sfreq=sfreq,
            kernel_length=max(2, int(round(sfreq / 2))),
        )


def train_and_predict(
    x: np.ndarray,
    labels: np.ndarray,
    parts: dict[str, np.ndarray],
    n_classes: int,
    sfreq: float,
    seed: int,
    metrics=("balanced_accuracy",),
    recipe: EEGNetRecipe = EEGNetRecipe(),
    device: str = "cpu",
) -> dict:
    """Train EEGNet on ``parts["train"]``, keep the best validation epoch, predict every part.

    Parameters
    ----------
    x : ndarray, float32, shape (n_windows, n_channels, n_times)
        Microvolts, montage applied.
    labels : ndarray of int, shape (n_windows,)
    parts : dict
        ``train``, ``val`` and ``test`` window indices (``val`` or ``test`` may be empty).
    n_classes : int
    sfreq : float
    seed : int
        Sets the initial weights, the batch order and dropout.
    metrics : sequence of str
        The task's metrics, scored on the validation windows every epoch (the epoch is chosen
        by :func:`neuript.metrics.selection_key`).

    Returns
    -------
    dict
        ``logits`` (part -> ndarray), ``history`` (per epoch), ``best_epoch``, ``seconds``.
    """
    import torch

    from neuript.losses import balanced_loss, log_prior
    from neuript.metrics import score, selection_key

    started = time.perf_counter()
    torch.manual_seed(seed)
    model = build(x.shape[1], n_classes, x.shape[2], sfreq).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    prior = log_prior(labels[parts["train"]], n_classes)
    signals = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    targets = torch.from_numpy(labels.astype(np.int64))

    def predict(idx: np.ndarray) -> np.ndarray:
        model.eval()
        with torch.inference_mode():
            out = [model(signals[idx[k : k + 256]].to(device)).float().cpu() for k in range(0, len(idx), 256)]
        return torch.cat(out).reshape(len(idx), -1).numpy() if out else np.zeros((0, 1 if n_classes == 2 else n_classes), np.float32)

    train, val = parts["train"], parts["val"]
    best, best_state, stale, history = None, None, 0, []
    for epoch in range(recipe.epochs):
        rng = np.random.default_rng([seed, epoch])
        model.train()
        order = rng.permutation(train)
        losses = []
        for k in range(0, len(order), recipe.batch_size):
            chunk = order[k : k + recipe.batch_size]
            if len(chunk) < 2:  # batch normalisation needs two windows
                continue
            logits = model(signals[chunk].to(device))
            loss = balanced_loss(logits, targets[chunk].to(device), prior.to(device), recipe.prior_scale, recipe.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        entry = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)) if losses else float("nan")}
        if len(val):
            entry["val"] = score(metrics, labels[val], predict(val))
            key = selection_key(entry["val"])
        else:
            key = (epoch,)
        history.append(entry)
        if best is None or key > best:
            best, best_state, stale = key, {k: v.detach().clone() for k, v in model.state_dict().items()}, 0
            entry["best"] = True
        else:
            stale += 1
            if len(val) and stale >= recipe.patience:
                break
    model.load_state_dict(best_state)
    logits = {name: predict(idx) for name, idx in parts.items()}
    best_epoch = next(h["epoch"] for h in reversed(history) if h.get("best"))
    return {"logits": logits, "history": history, "best_epoch": best_epoch, "seconds": time.perf_counter() - started}


__all__ = ["NAME", "EEGNetRecipe", "available", "build", "train_and_predict"]
