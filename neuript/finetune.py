"""Fine-tuning and linear probing on the downstream tasks, with the baseline beside them.

``finetune(settings)`` (``neuript finetune``):

1. cuts the task's windows from the stores into memory (:func:`neuript.tasks.load_windows`);
2. splits them by subject (:mod:`neuript.splits`: ``paper``, ``loso`` or a file);
3. with ``init``: refuses when a test recording was in the checkpoint's pretraining stores
   (:mod:`neuript.leakage`);
4. scores the baseline (:mod:`neuript.baseline`) on the same windows and split;
5. for every seed and fold, trains the IILP head (``linear``: on a frozen encoder; ``full``: with
   the encoder) with a balanced, logit-adjusted loss, keeps the weights of the best validation
   epoch (the mean of the task's metrics on the validation subjects), stops early after
   ``patience`` epochs without improvement, and scores the test subjects once with those
   weights;
6. writes ``RUN/result.json`` (metrics as mean and std over seeds, in percent), ``RUN/results.md``
   (the table), ``RUN/settings.json``, ``RUN/split.json`` and, per seed and fold, the weights, the
   epoch history and the test logits.

With ``loso`` or a file of several folds, each seed's test logits of all folds are pooled and
scored once, so every subject is scored by a model that did not train on it.

Loss: binary tasks have one logit and use binary cross-entropy, multi-class tasks cross-entropy,
both on logits shifted by the log class priors of the training windows (logit adjustment,
Menon et al. 2021) so that the unshifted logits minimise the balanced error; predictions use
the unshifted logits (threshold 0 for binary tasks).

``crop_s``: the model trains on one random crop of that length per window and epoch, and scores
a window by the mean of its logits over its non-overlapping crops (for a linear head, the same
as the head applied to the mean IILP features). Without it, the model sees whole windows.

``evaluate_run(run)`` (``neuript evaluate``) re-scores a saved run from its saved weights.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from eegcorpus._validate import check_option
from eegcorpus.recording import sha256_file
from eegcorpus.store import write_json_atomic
from neuript.metrics import score, summarise

RESULT = "result.json"
TABLE = "results.md"
SETTINGS = "settings.json"
SPLIT = "split.json"

#: Per-mode defaults: (epochs, patience, learning rate).
MODE_DEFAULTS = {"full": (10, 3, 5e-4), "linear": (200, 20, 5e-3)}


@dataclass
class FinetuneSettings:
    """Everything a fine-tuning run depends on (written to ``RUN/settings.json``).

    Parameters
    ----------
    task : str
        A task of :func:`neuript.tasks.task_names`.
    stores : list of str
        Stores of the task's dataset.
    out : str
        Run folder.
    init : str | None
        A pretraining checkpoint to start the encoder from (None: random initialisation).
    mode : "full" | "linear"
        Fine-tune everything, or train only the IILP head's linear layer on a frozen encoder.
    seeds : int
        Number of seeds (``seed``, ``seed + 1``, ...).
    split : str
        ``paper``, ``loso`` or a JSON split file.
    config, config_overrides
        Model configuration when there is no ``init`` (with ``init``, the checkpoint's); the
        overrides apply to either (with ``init``, only fields that hold no weights, such as
        ``dropout`` or ``attention_dropout``).
    epochs, patience, lr
        None: :data:`MODE_DEFAULTS`.
    crop_s : float | None
        Train on random crops of this length; score windows by their crops' mean logits.
    subjects : list of str | None
        Only these subjects' windows.
    montage : str | None
        Overrides the task's montage.
    allow_leakage : bool
        Fine-tune even when the leakage guard fires; the results carry a warning.
    """

    task: str
    stores: list[str]
    out: str
    init: str | None = None
    mode: str = "full"
    seeds: int = 3
    seed: int = 520
    split: str = "paper"
    config: str = "slim"
    config_overrides: dict = field(default_factory=dict)
    epochs: int | None = None
    patience: int | None = None
    batch_size: int = 32
    lr: float | None = None
    weight_decay: float = 0.01
    grad_clip: float = 5.0
    crop_s: float | None = None
    a_law: bool = True
    subjects: list[str] | None = None
    montage: str | None = None
    allow_leakage: bool = False

    def __post_init__(self):
        check_option("mode", self.mode, ("full", "linear"))
        if self.seeds < 1:
            raise ValueError(f"Invalid value for the 'seeds' parameter: at least 1, but got {self.seeds}.")
        epochs, patience, lr = MODE_DEFAULTS[self.mode]
        self.epochs = epochs if self.epochs is None else int(self.epochs)
        self.patience = patience if self.patience is None else int(self.patience)
        self.lr = lr if self.lr is None else float(self.lr)
        self.stores = [str(s) for s in self.stores]


# ------------------------------------------------------------------------------------ model


def _init_state(init: str) -> tuple[dict, dict]:
    """The weights and config of a pretraining checkpoint, read once while the file is unchanged
    (every seed and fold starts from it; callers only read them)."""
    stat = Path(init).stat()
    return _load_init(str(init), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=1)
def _load_init(init: str, size: int, mtime_ns: int) -> tuple[dict, dict]:
    state = torch.load(init, map_location="cpu", weights_only=True)
    if "config" not in state or "model" not in state:
        raise ValueError(f"{init} is not a neuript checkpoint (it has no 'model' and 'config').")
    return state["model"], json.loads(state["config"])


def build_model(settings: FinetuneSettings, n_classes: int, seed: int):
    """The classifier of one seed: random weights, the encoder from ``init`` when given."""
    from neuript.config import NeurIPTConfig, get_config
    from neuript.model import NeurIPT

    torch.manual_seed(seed)
    if not settings.init:
        return NeurIPT(get_config(settings.config, **settings.config_overrides), n_classes=n_classes, pretraining=False)
    weights, config = _init_state(settings.init)
    # Overrides can change what holds no weights (dropout, capacity); a changed shape fails below.
    model = NeurIPT(get_config(NeurIPTConfig.from_dict(config), **settings.config_overrides), n_classes=n_classes, pretraining=False)
    encoder = {k: v for k, v in weights.items() if not (k.startswith(("decoder.", "head.")) or "mask_token" in k)}
    missing, unexpected = model.load_state_dict(encoder, strict=False)
    missing = [k for k in missing if not k.startswith("head.")]
    if missing or unexpected:
        raise ValueError(f"{settings.init} does not fit the model: missing {missing[:5]}, unexpected {unexpected[:5]}.")
    return model


def _encoder_only(model) -> dict:
    return {k: v for k, v in model.state_dict().items() if not k.startswith("head.")}


# ------------------------------------------------------------------------------------ data


class _Inputs:
    """Model inputs of a task's windows: companded signals and channel tensors, cropped."""

    def __init__(self, windows, a_law: bool, crop_s: float | None):
        from eegcorpus.loader.transforms import a_law as a_law_fn

        self.x = a_law_fn(windows.x) if a_law else windows.x
        self.pos = torch.from_numpy(np.ascontiguousarray(windows.pos))
        self.lobe = torch.from_numpy(np.ascontiguousarray(windows.lobe))
        self.ch_mask = torch.from_numpy(np.ascontiguousarray(windows.ch_mask))
        n_times = windows.x.shape[-1]
        self.crop = n_times if not crop_s else int(round(crop_s * windows.sfreq))
        if not 0 < self.crop <= n_times:
            raise ValueError(f"Crops of {crop_s} s ({self.crop} samples) do not fit {n_times}-sample windows.")
        self.n_crops = n_times // self.crop

    def random_crops(self, idx: np.ndarray, rng) -> tuple:
        starts = rng.integers(0, self.x.shape[-1] - self.crop + 1, size=len(idx))
        x = np.stack([self.x[i, :, s : s + self.crop] for i, s in zip(idx, starts)])
        return torch.from_numpy(x), self.pos[idx], self.lobe[idx], self.ch_mask[idx]

    def all_crops(self, idx: np.ndarray) -> tuple:
        """Every non-overlapping crop of the windows ``idx``: window-major, ``n_crops`` each."""
        k, c = self.n_crops, self.crop
        x = self.x[idx][:, :, : k * c].reshape(len(idx), self.x.shape[1], k, c).transpose(0, 2, 1, 3)
        x = np.ascontiguousarray(x).reshape(len(idx) * k, self.x.shape[1], c)
        rep = torch.from_numpy(np.repeat(idx, k))
        return torch.from_numpy(x), self.pos[rep], self.lobe[rep], self.ch_mask[rep]


def _batches(idx: np.ndarray, size: int):
    for k in range(0, len(idx), size):
        yield idx[k : k + size]


@torch.inference_mode()
def _per_window(model, inputs: _Inputs, idx: np.ndarray, batch_size: int, per_crop) -> list:
    """``per_crop(x, pos, lobe, mask)`` over every crop of the windows ``idx``, averaged over
    each window's crops; one array block per batch."""
    model.eval()
    out = []
    for chunk in _batches(idx, max(1, batch_size // inputs.n_crops)):
        values = per_crop(*inputs.all_crops(chunk)).float()
        out.append(values.reshape(len(chunk), inputs.n_crops, -1).mean(dim=1))
    return out


def window_logits(model, inputs: _Inputs, idx: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Logits of the windows ``idx``: the mean over each window's crops."""
    out = _per_window(model, inputs, idx, batch_size, model)
    return torch.cat(out).numpy() if out else np.zeros((0, 1), np.float32)


def window_features(model, inputs: _Inputs, idx: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """IILP features of the windows ``idx`` (mean over each window's crops), encoder frozen."""
    from neuript.heads import lobe_pool

    def features(x, pos, lobe, mask):
        return lobe_pool(model.encode(x, pos, mask).levels, lobe, mask.bool(), model.config.n_lobes)

    return torch.cat(_per_window(model, inputs, idx, batch_size, features)).numpy()


# ------------------------------------------------------------------------------------ training


def _log_prior(labels: np.ndarray, n_classes: int) -> torch.Tensor:
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    return torch.tensor(np.log(np.maximum(counts, 1.0) / counts.sum()), dtype=torch.float32)


def balanced_loss(logits: torch.Tensor, labels: torch.Tensor, log_prior: torch.Tensor) -> torch.Tensor:
    """Logit-adjusted binary or multi-class cross-entropy (shift by the log class priors)."""
    if logits.shape[-1] == 1:
        shift = log_prior[1] - log_prior[0]
        return F.binary_cross_entropy_with_logits(logits.squeeze(-1) + shift, labels.float())
    return F.cross_entropy(logits + log_prior, labels)


def _val_score(task, labels, logits) -> float:
    return float(np.nanmean(list(score(task.metrics, labels, logits).values())))


def _say(progress: bool, text: str) -> None:
    if progress:
        print(text, file=sys.stderr, flush=True)


class _EarlyStopping:
    """The best state by validation score so far, and when to stop: after ``patience`` epochs
    without a better score (never without validation windows, where the last epoch wins)."""

    def __init__(self, patience: int, has_validation: bool):
        self.patience, self.has_validation = patience, has_validation
        self.best, self.state, self.stale = -np.inf, None, 0

    def update(self, score: float, module, entry: dict) -> bool:
        """Record an epoch's ``score`` (marking ``entry`` when it is the best); True = stop."""
        if self.state is None or score > self.best:
            self.best, self.state, self.stale = score, copy.deepcopy(module.state_dict()), 0
            entry["best"] = True
            return False
        self.stale += 1
        return self.has_validation and self.stale >= self.patience


def train_full(model, task, inputs: _Inputs, labels, train_idx, val_idx, settings: FinetuneSettings, seed: int, progress=False):
    """Fine-tune the whole model; returns the best-validation state and the epoch history."""
    prior = _log_prior(labels[train_idx], task.n_classes)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    steps = settings.epochs * math.ceil(len(train_idx) / settings.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=settings.lr, total_steps=steps, pct_start=0.1)
    history, stopper = [], _EarlyStopping(settings.patience, len(val_idx) > 0)
    y = torch.from_numpy(labels)
    for epoch in range(settings.epochs):
        started = time.perf_counter()
        rng = np.random.default_rng([seed, epoch])
        model.train()
        losses = []
        for chunk in _batches(rng.permutation(train_idx), settings.batch_size):
            x, pos, lobe, mask = inputs.random_crops(chunk, rng)
            loss = balanced_loss(model(x, pos, lobe, mask), y[chunk], prior)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
            optimizer.step()
            scheduler.step()
            losses.append(float(loss.detach()))
        entry = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "seconds": 0.0}
        if len(val_idx):
            val_logits = window_logits(model, inputs, val_idx)
            entry["val"] = score(task.metrics, labels[val_idx], val_logits)
            entry["val_score"] = float(np.nanmean(list(entry["val"].values())))
        entry["seconds"] = round(time.perf_counter() - started, 1)
        history.append(entry)
        _say(progress, f"  epoch {epoch + 1}: loss {entry['train_loss']:.4f}" + (f", val {entry['val_score']:.2f}" if "val_score" in entry else "") + f" ({entry['seconds']} s)")
        if stopper.update(entry.get("val_score", -np.inf if len(val_idx) else epoch), model, entry):
            break
    return stopper.state, history


def train_linear(model, task, features: np.ndarray, labels, train_idx, val_idx, settings: FinetuneSettings, seed: int):
    """Train only the head's linear layer on fixed IILP features; returns the best head state."""
    head = model.head
    torch.manual_seed(seed)
    prior = _log_prior(labels[train_idx], task.n_classes)
    optimizer = torch.optim.AdamW(head.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    feats = torch.from_numpy(features)
    y = torch.from_numpy(labels)
    history, stopper = [], _EarlyStopping(settings.patience, len(val_idx) > 0)
    for epoch in range(settings.epochs):
        rng = np.random.default_rng([seed, epoch])
        head.train()
        losses = []
        for chunk in _batches(rng.permutation(train_idx), settings.batch_size):
            loss = balanced_loss(head.linear(head.drop(feats[chunk])), y[chunk], prior)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        entry = {"epoch": epoch + 1, "train_loss": float(np.mean(losses))}
        if len(val_idx):
            head.eval()
            with torch.no_grad():
                val_logits = head.linear(feats[val_idx]).numpy()
            entry["val_score"] = _val_score(task, labels[val_idx], val_logits)
        history.append(entry)
        if stopper.update(entry.get("val_score", epoch), head, entry):
            break
    return stopper.state, history


# ------------------------------------------------------------------------------------ run


def _seed_list(settings: FinetuneSettings) -> list[int]:
    return [settings.seed + k for k in range(settings.seeds)]


def _folds(settings, task, windows):
    from neuript.splits import resolve_split

    folds = resolve_split(settings.split, task, windows)
    parts = [fold.part(windows.subject) for fold in folds]
    return folds, parts



def _leakage_check(settings, task, windows, parts) -> tuple[str, list[str]]:
    if not settings.init:
        return "not applicable (no pretrained initialisation)", []
    from neuript.leakage import check, recording_fingerprints

    test = np.zeros(len(windows), dtype=bool)
    for part in parts:
        test |= part == "test"
    by_store: dict[str, list[str]] = {}
    for rid in sorted(set(windows.recording[test].tolist())):
        by_store.setdefault(windows.recordings[rid], []).append(rid)
    fingerprints = [fp for store, ids in by_store.items() for fp in recording_fingerprints(store, ids)]
    warnings = check(settings.init, fingerprints, task.name, allow=settings.allow_leakage)
    if warnings:
        return "overridden (--allow-leakage)", warnings
    return f"passed: none of the {len(fingerprints)} test recordings was in the pretraining stores", []


def _baseline(task, windows, parts) -> tuple[dict, list[dict]]:
    from neuript import baseline

    features = baseline.band_power_features(windows.x, windows.sfreq, windows.ch_mask)
    logits = np.zeros((len(windows), 1 if task.binary else task.n_classes))
    tested = np.zeros(len(windows), dtype=bool)
    chosen = []
    for part in parts:
        tr, va, te = (part == p for p in ("train", "val", "test"))
        out, c = baseline.fit_predict(features[tr], windows.label[tr], features[va], windows.label[va], features[te], task.metrics, task.binary)
        logits[te] = out.reshape(int(te.sum()), -1)
        tested |= te
        chosen.append(c)
    metrics = score(task.metrics, windows.label[tested], logits[tested])
    return {"name": baseline.NAME, "metrics": summarise([metrics]), "C": chosen}, [metrics]


def _save_logits(path: Path, windows, idx, logits) -> None:
    np.savez(path, logits=logits, label=windows.label[idx], subject=windows.subject[idx].astype(str),
             recording=windows.recording[idx].astype(str), start=windows.start[idx])


def finetune(settings: FinetuneSettings, progress: bool = True) -> dict:
    """Run fine-tuning (or linear probing) over seeds and folds; returns the result (also in
    ``RUN/result.json``)."""
    from neuript.tasks import get_task, load_windows

    out = Path(settings.out)
    task = get_task(settings.task)
    windows = load_windows(task, settings.stores, subjects=settings.subjects, montage=settings.montage)
    folds, parts = _folds(settings, task, windows)
    leakage, warnings = _leakage_check(settings, task, windows, parts)
    out.mkdir(parents=True, exist_ok=True)
    (out / SETTINGS).write_text(json.dumps(asdict(settings), indent=1))
    (out / SPLIT).write_text(json.dumps({"split": settings.split, "folds": [f.to_dict() for f in folds]}, indent=1))
    _say(progress, f"{task.name}: {len(windows)} windows of {len(set(windows.subject))} subjects, {len(folds)} fold(s); leakage check {leakage}")

    baseline, _ = _baseline(task, windows, parts)
    _say(progress, "baseline: " + ", ".join(f"{k} {v['mean']:.2f}" for k, v in baseline["metrics"].items()))

    inputs = _Inputs(windows, settings.a_law, settings.crop_s)
    labels = windows.label.astype(np.int64)
    per_seed = []
    shared_features = None  # with a pretrained encoder, linear features do not depend on the seed
    for seed in _seed_list(settings):
        seed_dir = out / f"seed{seed}"
        seed_dir.mkdir(exist_ok=True)
        logits = np.zeros((len(windows), 1 if task.binary else task.n_classes), dtype=np.float32)
        tested = np.zeros(len(windows), dtype=bool)
        details = []
        features = None
        if settings.mode == "linear":
            encoder_model = build_model(settings, task.n_classes, seed)
            torch.save(_encoder_only(encoder_model), seed_dir / "encoder.pt")
            if settings.init and shared_features is not None:
                features = shared_features
            else:
                started = time.perf_counter()
                features = window_features(encoder_model, inputs, np.arange(len(windows)))
                _say(progress, f"seed {seed}: IILP features of {len(windows)} windows in {time.perf_counter() - started:.0f} s")
                if settings.init:
                    shared_features = features
        for f, part in enumerate(parts):
            train_idx, val_idx, test_idx = (np.flatnonzero(part == p) for p in ("train", "val", "test"))
            fold_dir = seed_dir / f"fold{f}"
            fold_dir.mkdir(exist_ok=True)
            _say(progress, f"seed {seed}, fold {f + 1}/{len(parts)}: {len(train_idx)} train, {len(val_idx)} val, {len(test_idx)} test windows")
            if settings.mode == "linear":
                model = encoder_model
                torch.manual_seed(seed * 1000 + f)
                model.head.linear.reset_parameters()
                head_state, history = train_linear(model, task, features, labels, train_idx, val_idx, settings, seed * 1000 + f)
                model.head.load_state_dict(head_state)
                torch.save(head_state, fold_dir / "head.pt")
                model.eval()
                with torch.no_grad():
                    test_logits = model.head.linear(torch.from_numpy(features[test_idx])).numpy()
            else:
                model = build_model(settings, task.n_classes, seed)
                state, history = train_full(model, task, inputs, labels, train_idx, val_idx, settings, seed * 1000 + f, progress)
                model.load_state_dict(state)
                torch.save(state, fold_dir / "model.pt")
                test_logits = window_logits(model, inputs, test_idx)
            (fold_dir / "history.jsonl").write_text("".join(json.dumps(h) + "\n" for h in history))
            _save_logits(fold_dir / "test.npz", windows, test_idx, test_logits)
            logits[test_idx] = test_logits
            tested[test_idx] = True
            best = next((h for h in reversed(history) if h.get("best")), history[-1])
            details.append({"fold": f, "epochs": len(history), "best_epoch": best["epoch"], "best_val_score": best.get("val_score")})
        metrics = score(task.metrics, labels[tested], logits[tested])
        per_seed.append({"seed": seed, "metrics": metrics, "folds": details})
        _say(progress, f"seed {seed}: " + ", ".join(f"{k} {v:.2f}" for k, v in metrics.items()))

    result = _result(settings, task, windows, folds, parts, per_seed, baseline, leakage, warnings)
    write_result(out, result)
    return result


def _result(settings, task, windows, folds, parts, per_seed, baseline, leakage, warnings) -> dict:
    counts = {p: int(sum(int((part == p).sum()) for part in parts)) for p in ("train", "val", "test")}
    config = _config_name(_init_state(settings.init)[1]) if settings.init else settings.config
    return {
        "task": task.name,
        "mode": settings.mode,
        "init": settings.init,
        "init_sha256": sha256_file(settings.init) if settings.init else None,
        "seeds": _seed_list(settings),
        "split": {"name": settings.split, "n_folds": len(folds), "folds": [f.to_dict() for f in folds]},
        "metrics": summarise([s["metrics"] for s in per_seed]),
        "per_seed": per_seed,
        "baseline": baseline,
        "paper": dict(task.reported),
        "windows": {"window_s": task.window_s, "crop_s": settings.crop_s, "montage": task.montage_description if settings.montage is None else settings.montage, "per_fold_sum": counts, "subjects": len(set(windows.subject))},
        "model": {"config": config, "overrides": settings.config_overrides},
        "leakage_check": leakage,
        "warnings": warnings,
        "units": "percent",
    }


def _config_name(config: dict) -> str:
    """``slim``/``base`` when a checkpoint's shapes are those of a named configuration."""
    from neuript.config import CONFIGS

    shape = ("d_model", "n_heads", "d_ff", "expert_hidden", "experts_per_layer", "merge_factors")
    for name, known in CONFIGS.items():
        if all(list(np.atleast_1d(config.get(k))) == list(np.atleast_1d(getattr(known, k))) for k in shape):
            return name
    return "custom"


# ------------------------------------------------------------------------------------ tables


def _cell(metric: dict | float | None) -> str:
    if metric is None:
        return "-"
    if isinstance(metric, dict):
        return f"{metric['mean']:.2f} ± {metric['std']:.2f}"
    return f"{metric:.2f}"


def model_label(result: dict) -> str:
    mode = "full fine-tuning" if result["mode"] == "full" else "linear probing"
    init = f"from {result['init']}" if result.get("init") else "from scratch"
    return f"neuript {result['model']['config']}, {mode}, {init}"


def markdown_table(results: list[dict]) -> str:
    """One table for runs of the same task and split: the baseline (from the first run), each
    run, and the paper's NeurIPT scores."""
    if not results:
        return ""
    first = results[0]
    names = list(first["metrics"]) or list(first["baseline"]["metrics"])
    for other in results[1:]:
        if other["task"] != first["task"] or other["split"]["folds"] != first["split"]["folds"]:
            raise ValueError(f"Runs of different tasks or splits do not share a table ({first['task']} vs {other['task']}).")
    lines = [
        f"| model | seeds | {' | '.join(names)} |",
        "|---|---|" + "---|" * len(names),
        f"| {first['baseline']['name']} (baseline) | deterministic | " + " | ".join(_cell(first["baseline"]["metrics"].get(n)) for n in names) + " |",
    ]
    for result in results:
        lines.append(f"| {model_label(result)} | {len(result['seeds'])} | " + " | ".join(_cell(result["metrics"].get(n)) for n in names) + " |")
    if first.get("paper"):
        lines.append("| NeurIPT, paper (its full dataset and split) | - | " + " | ".join(_cell(first["paper"].get(n)) for n in names) + " |")
    split = first["split"]
    notes = [
        f"Task `{first['task']}`, split `{split['name']}` ({split['n_folds']} fold(s)); windows {first['windows']['window_s']:g} s"
        + (f", model on {first['windows']['crop_s']:g}-s crops" if first["windows"].get("crop_s") else "")
        + f"; {first['windows']['montage']}. Mean ± sample std over seeds, in percent."
    ]
    for result in results:
        for warning in result.get("warnings", []):
            notes.append(f"**Warning ({model_label(result)}):** {warning}")
    return "\n".join(lines) + "\n\n" + "\n\n".join(notes) + "\n"


def write_result(out, result: dict) -> None:
    out = Path(out)
    write_json_atomic(out / RESULT, result)
    (out / TABLE).write_text(f"### {result['task']}: {model_label(result)}\n\n" + markdown_table([result]))


def read_result(run) -> dict:
    path = Path(run) / RESULT
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; is {run} a 'neuript finetune' run folder?")
    return json.loads(path.read_text())


# ------------------------------------------------------------------------------------ evaluate


def evaluate_run(run, progress: bool = False) -> dict:
    """Re-score a saved run from its saved weights and split (test subjects only; the baseline
    is refitted, it is deterministic); rewrites ``result.json`` and ``results.md``."""
    from neuript.splits import SubjectSplit
    from neuript.tasks import get_task, load_windows

    run = Path(run)
    old = read_result(run)
    settings = FinetuneSettings(**json.loads((run / SETTINGS).read_text()))
    if settings.init and Path(settings.init).exists() and old.get("init_sha256") and sha256_file(settings.init) != old["init_sha256"]:
        _say(True, f"note: {settings.init} changed since the run; its saved weights are used, not the file")
    task = get_task(settings.task)
    windows = load_windows(task, settings.stores, subjects=settings.subjects, montage=settings.montage)
    folds = [SubjectSplit(tuple(f["train"]), tuple(f["val"]), tuple(f["test"])) for f in json.loads((run / SPLIT).read_text())["folds"]]
    parts = [fold.part(windows.subject) for fold in folds]
    baseline, _ = _baseline(task, windows, parts)
    inputs = _Inputs(windows, settings.a_law, settings.crop_s)
    labels = windows.label.astype(np.int64)
    from neuript.config import NeurIPTConfig, get_config
    from neuript.model import NeurIPT

    # The architecture only: every weight comes from the run's own files.
    config = NeurIPTConfig.from_dict(_init_state(settings.init)[1]) if settings.init else settings.config
    config = get_config(config, **settings.config_overrides)
    per_seed = []
    for seed, previous in zip(_seed_list(settings), old["per_seed"]):
        seed_dir = run / f"seed{seed}"
        logits = np.zeros((len(windows), 1 if task.binary else task.n_classes), dtype=np.float32)
        tested = np.zeros(len(windows), dtype=bool)
        features = None
        for f, part in enumerate(parts):
            test_idx = np.flatnonzero(part == "test")
            model = NeurIPT(config, n_classes=task.n_classes, pretraining=False)
            if settings.mode == "linear":
                model.load_state_dict(_merge(seed_dir, f))
                if features is None:
                    # The MoE's expert capacity is shared by the tokens of a batch, so a window's
                    # output depends a little on its batch: batch exactly as the run did.
                    features = window_features(model, inputs, np.arange(len(windows)))
                model.eval()
                with torch.no_grad():
                    logits[test_idx] = model.head.linear(torch.from_numpy(features[test_idx])).numpy()
            else:
                model.load_state_dict(torch.load(seed_dir / f"fold{f}" / "model.pt", weights_only=True))
                logits[test_idx] = window_logits(model, inputs, test_idx)
            tested[test_idx] = True
        metrics = score(task.metrics, labels[tested], logits[tested])
        per_seed.append({**previous, "metrics": metrics})
        _say(progress, f"seed {seed}: " + ", ".join(f"{k} {v:.2f}" for k, v in metrics.items()))
    model_config = _config_name(_init_state(settings.init)[1]) if settings.init else settings.config
    result = {**old, "metrics": summarise([s["metrics"] for s in per_seed]), "per_seed": per_seed, "baseline": baseline,
              "model": {"config": model_config, "overrides": settings.config_overrides}}
    write_result(run, result)
    return result


def _merge(seed_dir: Path, fold: int) -> dict:
    encoder = torch.load(seed_dir / "encoder.pt", weights_only=True)
    head = torch.load(seed_dir / f"fold{fold}" / "head.pt", weights_only=True)
    return {**encoder, **{f"head.{k}": v for k, v in head.items()}}


__all__ = ["FinetuneSettings", "balanced_loss", "build_model", "evaluate_run", "finetune", "markdown_table", "read_result", "window_features", "window_logits"]
