"""The classical baseline beside every fine-tuning result: log band power + logistic regression.

Features: per channel, the Welch power spectrum of the window (microvolts, montage applied,
no A-law), integrated over the delta (1-4 Hz), theta (4-8 Hz), alpha (8-13 Hz) and beta
(13-30 Hz) bands and log10-transformed; bands above the Nyquist frequency are left out (the
NeurIPT profile stores 64 Hz, band-passed to 30 Hz). Padding channels contribute zeros.

Classifier: scikit-learn's ``LogisticRegression`` on standardised features (scaler fitted on
the training windows), class weights balanced, the inverse regularisation ``C`` chosen from
:data:`C_GRID` by the task's validation score (the mean of its metrics on the validation
subjects), then refitted on the training windows only. It is deterministic, so its spread over
seeds is 0.
"""

from __future__ import annotations

import numpy as np

#: (name, low Hz, high Hz)
BANDS = (("delta", 1.0, 4.0), ("theta", 4.0, 8.0), ("alpha", 8.0, 13.0), ("beta", 13.0, 30.0))
C_GRID = (0.001, 0.01, 0.1, 1.0, 10.0)
NAME = "log band power + logistic regression"


def band_power_features(x: np.ndarray, sfreq: float, ch_mask: np.ndarray | None = None) -> np.ndarray:
    """Log10 band power of every channel and band.

    Parameters
    ----------
    x : ndarray, shape (n_windows, n_channels, n_times)
        Microvolts.
    sfreq : float
    ch_mask : ndarray of bool, shape (n_windows, n_channels) | None
        Padding channels (False) get 0.

    Returns
    -------
    ndarray, shape (n_windows, n_channels * n_bands)
    """
    from scipy.signal import welch

    x = np.asarray(x, dtype=np.float64)
    nperseg = min(x.shape[-1], int(round(2 * sfreq)))  # 2-s segments: 0.5 Hz resolution
    freqs, psd = welch(x, fs=sfreq, nperseg=nperseg, axis=-1)
    step = freqs[1] - freqs[0]
    features = []
    for _, low, high in BANDS:
        if low >= sfreq / 2:
            continue
        inside = (freqs >= low) & (freqs < min(high, sfreq / 2))
        power = psd[..., inside].sum(axis=-1) * step
        features.append(np.log10(power + 1e-12))
    out = np.stack(features, axis=-1)  # [N, C, bands]
    if ch_mask is not None:
        out = out * np.asarray(ch_mask, dtype=bool)[..., None]
    return out.reshape(len(x), -1)


def fit_predict(train_features, train_labels, val_features, val_labels, test_features, metric_names, binary: bool):
    """Fit the baseline (``C`` chosen on validation) and return test logits and the chosen ``C``.

    Returns
    -------
    logits : ndarray, shape (n_test,) for binary tasks (decision function), (n_test, n_classes) otherwise
    c : float
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from neuript.metrics import score

    scaler = StandardScaler().fit(train_features)
    train, val, test = (scaler.transform(f) for f in (train_features, val_features, test_features))

    def model(c):
        return LogisticRegression(C=c, class_weight="balanced", max_iter=2000).fit(train, train_labels)

    def logits(fitted, features):
        out = fitted.decision_function(features)
        if not binary and out.ndim == 1:  # only two classes were seen in training
            raise ValueError("The training windows hold fewer classes than the task.")
        return out

    best_c, best, best_model = C_GRID[len(C_GRID) // 2], -np.inf, None
    for c in C_GRID if len(val_labels) else ():
        fitted = model(c)
        value = np.nanmean(list(score(metric_names, val_labels, logits(fitted, val)).values()))
        if value > best:
            best_c, best, best_model = c, value, fitted
    return logits(model(best_c) if best_model is None else best_model, test), best_c


__all__ = ["BANDS", "C_GRID", "NAME", "band_power_features", "fit_predict"]
