"""Fine-tuning and linear probing on the downstream tasks, with the classical baselines beside them.

``finetune(settings)`` (``neuript finetune``):

1. cuts the task's windows from the stores into memory (:func:`neuript.tasks.load_windows`);
2. splits them by subject (:mod:`neuript.splits`: ``paper``, ``loso`` or a file);
3. with ``init``: refuses when a validation or test recording was in the checkpoint's
   pretraining stores (:mod:`neuript.leakage`);
4. scores the band-power baseline (:mod:`neuript.baseline`) and EEGNet (:mod:`neuript.eegnet`) on
   the same windows, split and seeds;
5. for every seed and fold, trains the model (``full``: the encoder and the IILP head;
   ``linear``: the head's linear layer on frozen, cached features) with the recipe of
   :data:`RECIPES`, keeps the weights of the epoch with the best validation balanced accuracy,
   stops early after ``patience`` epochs without improvement, and scores the evaluation subjects
   once with those weights;
6. writes ``RUN/result.json``, ``RUN/results.md`` (the table), ``RUN/settings.json``,
   ``RUN/split.json`` and, per seed and fold, the weights, the epoch history and the logits of
   the validation (``val.npz``) and test (``test.npz``) windows.

**What is reported.** The test subjects when the split has any in the stores; otherwise (the
paper's MentalArithmetic test subjects are held out of this repository's data on purpose) the
validation subjects, which also chose the epoch: ``result["scored_on"]`` says which. With
``loso`` or a file of several folds, each seed's logits of all folds are pooled and scored once,
so every subject is scored by a model that did not train on it.

``crop_s``: the model trains on one random crop of that length per window and epoch, and scores
a window by the mean of its logits over its non-overlapping crops (for a linear head, the same as
the head applied to the mean IILP features). Without it (the default) the model sees whole
windows.

``evaluate_run(run)`` (``neuript evaluate``) re-scores a saved run from its saved weights.
"""

from __future__ import annotations

import copy
import functools
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from eegcorpus._validate import check_option
from eegcorpus.recording import sha256_file
from eegcorpus.store import write_json_atomic
from neuript.log import say
from neuript.losses import balanced_loss, log_prior
from neuript.metrics import per_subject_scores, score, selection_key, summarise
from neuript.report import markdown_table, model_label

RESULT = "result.json"
TABLE = "results.md"
SETTINGS = "settings.json"
SPLIT = "split.json"

#: The fine-tuning recipe of each mode: what ``neuript finetune`` uses for every setting it is
#: not given. Chosen on MentalArithmetic's validation subjects; docs/finetune.md has the evidence.
RECIPES: dict[str, dict] = {
    "full": {
        # Train on one random 1-s crop of each 5-s window per epoch; every score is of whole
        # windows (the mean logit of their five crops). Measured on validation: whole-window
        # training overfitted from the second epoch (AUROC 66.8, 63.6, 65.9), crops kept
        # improving (68.7, 70.8, 73.2 ... 76.3) at a fifth of the cost per epoch.
        "crop_s": 1.0,
        "epochs": 8,
        "patience": 8,
        "batch_size": 16,
        "lr": 1e-4,  # encoder peak: the top of the paper's grid (1e-6 to 1e-4)
        # The head's peak. With 4,032 standardised IILP features (slim), one AdamW step of rate r
        # can move a logit by up to r x 4,032: at 1e-3 the training loss jumped from step to step
        # and validation AUROC stayed 4-8 points lower than at 1e-4 (docs/finetune.md).
        "head_lr": 1e-4,
        "freeze_epochs": 1,  # head only, encoder frozen: a head that predicts before the encoder moves
        "weight_decay": 0.01,
        "dropout": 0.0,  # the paper's grid includes 0; dropout's masks cost a third of a CPU step
        # Every channel of every window scaled to this RMS (microvolts; MentalArithmetic's median
        # channel RMS) before A-law: the gain of a channel differs from person to person. Measured
        # on validation, seeds 520 and 521: best BA 74.6 and 73.0 against 66.5 and 69.4 without.
        "channel_rms": 6.6,
    },
    "linear": {
        "crop_s": 1.0,  # features of the crops a fine-tuned model is trained on, averaged per window
        "epochs": 100,
        "patience": 20,
        "batch_size": 32,
        "lr": 1e-4,
        "head_lr": None,
        "freeze_epochs": 0,
        "weight_decay": 0.01,
        "dropout": 0.0,
        "channel_rms": 6.6,  # the inputs full fine-tuning trains on
    },
}


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
    epochs, patience, batch_size, lr, head_lr, freeze_epochs, weight_decay, dropout
        None: the mode's :data:`RECIPES` value. ``lr`` is the encoder's peak rate (linear: the
        head's), ``head_lr`` the head's (None: ``lr``), ``freeze_epochs`` the first epochs in
        which only the head trains, ``dropout`` replaces the configuration's (residual,
        feed-forward and head dropout; a ``config_overrides`` entry wins).
    label_smoothing, prior_scale
        Of the Bal-BCE loss (:func:`neuript.losses.balanced_loss`; ``prior_scale`` is its ``K``).
    aux_weight
        Weight of the MoE auxiliary (load-balancing) loss while the encoder trains.
    warmup, div_factor, final_div_factor
        The OneCycle schedule (:func:`neuript.optim.one_cycle`).
    crop_s : float | None
        Train on random crops of this length in seconds; score windows by their crops' mean
        logits (None: the recipe's; 0: whole windows).
    channel_rms : float | None
        Scale every channel of every window to this RMS in microvolts before A-law
        (:func:`eegcorpus.loader.transforms.scale_channels`; None: the recipe's; 0: unscaled).
    subjects : list of str | None
        Only these subjects' windows.
    montage : str | None
        Overrides the task's montage.
    allow_leakage : bool
        Fine-tune even when the leakage guard fires; the results carry a warning.
    baselines : bool
        Score the band-power baseline and EEGNet beside the model (EEGNet needs the ``eegnet``
        extra; without it the results say it was not run).
    device : str
        ``auto`` (a GPU when one is present), ``cpu``, ``cuda`` or ``cuda:N``. bf16 autocast on
        GPUs.
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
    batch_size: int | None = None
    lr: float | None = None
    head_lr: float | None = None
    freeze_epochs: int | None = None
    weight_decay: float | None = None
    dropout: float | None = None
    label_smoothing: float = 0.1
    prior_scale: float = 0.3
    aux_weight: float = 0.8
    warmup: float = 0.1
    div_factor: float = 5.0
    final_div_factor: float = 100.0
    grad_clip: float = 5.0
    crop_s: float | None = None
    channel_rms: float | None = None
    a_law: bool = True
    subjects: list[str] | None = None
    montage: str | None = None
    allow_leakage: bool = False
    baselines: bool = True
    device: str = "auto"

    def __post_init__(self):
        check_option("mode", self.mode, ("full", "linear"))
        if self.seeds < 1:
            raise ValueError(f"Invalid value for the 'seeds' parameter: at least 1, but got {self.seeds}.")
        recipe = RECIPES[self.mode]
        for name in ("epochs", "patience", "batch_size", "freeze_epochs"):
            if getattr(self, name) is None:
                setattr(self, name, recipe[name])
            setattr(self, name, int(getattr(self, name)))
        for name in ("lr", "head_lr", "weight_decay", "dropout", "crop_s", "channel_rms"):
            if getattr(self, name) is None:
                setattr(self, name, recipe[name])
        self.lr = float(self.lr)
        self.head_lr = float(self.head_lr) if self.head_lr is not None else self.lr
        self.weight_decay = float(self.weight_decay)
        self.dropout = float(self.dropout) if self.dropout is not None else None
        # 0 (whole windows, unscaled channels) stays 0, not None: settings.json read back by
        # evaluate_run must not turn into the recipe's values
        self.crop_s = float(self.crop_s)
        self.channel_rms = float(self.channel_rms)
        for name in ("crop_s", "channel_rms"):
            if getattr(self, name) < 0:
                raise ValueError(f"Invalid value for the '{name}' parameter: >= 0 (0: off), but got {getattr(self, name)}.")
        if not 0 <= self.freeze_epochs <= self.epochs:
            raise ValueError(f"Invalid value for the 'freeze_epochs' parameter: 0 to epochs ({self.epochs}), but got {self.freeze_epochs}.")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"Invalid value for the 'label_smoothing' parameter: in [0, 1), but got {self.label_smoothing}.")
        if self.batch_size < 2:
            raise ValueError(f"Invalid value for the 'batch_size' parameter: at least 2 (the head standardises over the batch), but got {self.batch_size}.")
        resolve_device(self.device)
        self.stores = [str(s) for s in self.stores]


def resolve_device(name: str) -> torch.device:
    """``auto`` -> the first GPU when one is present, else the CPU; otherwise the named device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name != "cpu" and not name.startswith("cuda"):
        raise ValueError(f"Invalid value for the 'device' parameter. Allowed values are 'auto', 'cpu', 'cuda' and 'cuda:N', but got {name!r} instead.")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"Invalid value for the 'device' parameter: {name!r} was asked for, but PyTorch sees no GPU here.")
    return torch.device(name)


def _autocast(device: torch.device):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


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


def model_config(settings: FinetuneSettings):
    """The model's configuration: the checkpoint's (with ``init``) or the named one, with the
    run's overrides."""
    from neuript.config import NeurIPTConfig, get_config

    base = NeurIPTConfig.from_dict(_init_state(settings.init)[1]) if settings.init else settings.config
    overrides = ({"dropout": settings.dropout} if settings.dropout is not None else {}) | settings.config_overrides
    return get_config(base, **overrides)


def build_model(settings: FinetuneSettings, n_classes: int, seed: int):
    """The classifier of one seed: random weights, the encoder from ``init`` when given."""
    from neuript.model import NeurIPT

    torch.manual_seed(seed)
    model = NeurIPT(model_config(settings), n_classes=n_classes, pretraining=False)
    if not settings.init:
        return model
    weights, _ = _init_state(settings.init)
    # Overrides can change what holds no weights (dropout, capacity); a changed shape fails below.
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
    """Model inputs of a task's windows: signals (channels scaled to ``channel_rms`` microvolts
    when given, then companded) and channel tensors, cropped."""

    def __init__(self, windows, a_law: bool, crop_s: float | None, channel_rms: float | None = None):
        from eegcorpus.loader.transforms import a_law as a_law_fn
        from eegcorpus.loader.transforms import scale_channels

        x = scale_channels(windows.x, channel_rms) if channel_rms else windows.x
        self.x = np.ascontiguousarray(a_law_fn(x) if a_law else x, dtype=np.float32)
        self.pos = torch.from_numpy(np.ascontiguousarray(windows.pos))
        self.lobe = torch.from_numpy(np.ascontiguousarray(windows.lobe))
        self.ch_mask = torch.from_numpy(np.ascontiguousarray(windows.ch_mask))
        n_times = windows.x.shape[-1]
        self.crop = n_times if not crop_s else int(round(crop_s * windows.sfreq))
        if not 0 < self.crop <= n_times:
            raise ValueError(f"Crops of {crop_s} s ({self.crop} samples) do not fit {n_times}-sample windows.")
        self.n_crops = n_times // self.crop

    def random_crops(self, idx: np.ndarray, rng) -> tuple:
        if self.crop == self.x.shape[-1]:
            return torch.from_numpy(self.x[idx]), self.pos[idx], self.lobe[idx], self.ch_mask[idx]
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


def _training_batches(idx: np.ndarray, size: int):
    """Batches of ``size``; a last batch of one window joins the one before (the head
    standardises features over the batch, which needs two windows)."""
    chunks = list(_batches(idx, size))
    if len(chunks) > 1 and len(chunks[-1]) < 2:
        chunks[-2:] = [np.concatenate(chunks[-2:])]
    return [c for c in chunks if len(c) >= 2]


@torch.inference_mode()
def _per_window(model, inputs: _Inputs, idx: np.ndarray, batch_size: int, per_crop, device) -> list:
    """``per_crop(x, pos, lobe, mask)`` over every crop of the windows ``idx``, averaged over
    each window's crops; one array block per batch. In evaluation mode nothing in the model
    depends on the batch (no expert capacity, fixed feature statistics), so the batch size only
    changes speed."""
    model.eval()
    out = []
    for chunk in _batches(idx, max(1, batch_size // inputs.n_crops)):
        with _autocast(device):
            values = per_crop(*(t.to(device) for t in inputs.all_crops(chunk))).float().cpu()
        out.append(values.reshape(len(chunk), inputs.n_crops, -1).mean(dim=1))
    return out


def window_logits(model, inputs: _Inputs, idx: np.ndarray, batch_size: int = 32, device=None) -> np.ndarray:
    """Logits of the windows ``idx``: the mean over each window's crops."""
    device = device or next(model.parameters()).device
    out = _per_window(model, inputs, idx, batch_size, model, device)
    width = model.head.linear.out_features
    return torch.cat(out).numpy() if out else np.zeros((0, width), np.float32)


def _iilp_features(model):
    """``features(x, pos, lobe, mask)``: the IILP features the head's linear layer reads, before
    their standardisation."""
    from neuript.heads import lobe_pool

    def features(x, pos, lobe, mask):
        return lobe_pool(model.encode(x, pos, mask).levels, lobe, mask.bool(), model.config.n_lobes)

    return features


def window_features(model, inputs: _Inputs, idx: np.ndarray, batch_size: int = 32, device=None) -> np.ndarray:
    """IILP features of the windows ``idx`` (mean over each window's crops), encoder frozen."""
    device = device or next(model.parameters()).device
    return torch.cat(_per_window(model, inputs, idx, batch_size, _iilp_features(model), device)).numpy()


@torch.no_grad()
def training_crop_features(model, inputs: _Inputs, idx: np.ndarray, rng, batch_size: int = 32, device=None) -> torch.Tensor:
    """IILP features of one random crop of each window ``idx`` (the crops training draws), in
    evaluation mode: the features the head standardises when it scores."""
    device = device or next(model.parameters()).device
    model.eval()
    features, out = _iilp_features(model), []
    for chunk in _batches(idx, batch_size):
        with _autocast(device):
            out.append(features(*(t.to(device) for t in inputs.random_crops(chunk, rng))).float().cpu())
    return torch.cat(out)


@torch.no_grad()
def set_head_statistics(model, features) -> None:
    """Standardise the head's features by the mean and variance (ddof 1) of ``features``
    ``[windows, F]``, the training windows' (no-op for a head without standardisation)."""
    norm = model.head.norm
    if isinstance(norm, torch.nn.BatchNorm1d):
        values = torch.as_tensor(features).double()
        norm.running_mean.copy_(values.mean(0).float())
        norm.running_var.copy_(values.var(0).float())


# ------------------------------------------------------------------------------------ training


class _EarlyStopping:
    """The best state by validation so far, and when to stop: after ``patience`` epochs without
    a better one (never without validation windows, where the last epoch wins). Scores are
    compared as given: numbers or :func:`neuript.metrics.selection_key` tuples."""

    def __init__(self, patience: int, has_validation: bool):
        self.patience, self.has_validation = patience, has_validation
        self.best, self.state, self.stale = None, None, 0

    def update(self, score, module, entry: dict) -> bool:
        """Record an epoch's ``score`` (marking ``entry`` when it is the best); True = stop."""
        if self.state is None or score > self.best:
            self.best, self.state, self.stale = score, copy.deepcopy(module.state_dict()), 0
            entry["best"] = True
            return False
        self.stale += 1
        return self.has_validation and self.stale >= self.patience


def _validation_entry(task, labels, val_idx, val_logits, entry: dict, fallback):
    if len(val_idx):
        entry["val"] = score(task.metrics, labels[val_idx], val_logits)
        return selection_key(entry["val"])
    return fallback


def train_full(model, task, inputs: _Inputs, labels, train_idx, val_idx, settings: FinetuneSettings, seed: int, device: torch.device, progress=False):
    """Fine-tune the whole model; returns the best-validation state and the epoch history.

    The first ``freeze_epochs`` train the head alone (the encoder's parameters take no gradient,
    so those epochs cost a forward pass); then the encoder joins at its own, smaller peak rate,
    with its OneCycle window starting where it joins.
    """
    from neuript.optim import ParamGroup, configure_optimizer

    model.to(device)
    prior = log_prior(labels[train_idx], task.n_classes)
    head = list(model.head.parameters())
    encoder = [p for name, p in model.named_parameters() if not name.startswith("head.")]
    per_epoch = len(_training_batches(train_idx, settings.batch_size))
    optimizer, scheduler = configure_optimizer(
        [ParamGroup(encoder, settings.lr, first_step=settings.freeze_epochs * per_epoch), ParamGroup(head, settings.head_lr)],
        settings.epochs * per_epoch,
        weight_decay=settings.weight_decay,
        warmup=settings.warmup,
        div_factor=settings.div_factor,
        final_div_factor=settings.final_div_factor,
    )
    history, stopper = [], _EarlyStopping(settings.patience, len(val_idx) > 0)
    y = torch.from_numpy(labels)
    try:
        for epoch in range(settings.epochs):
            started = time.perf_counter()
            frozen = epoch < settings.freeze_epochs
            for p in encoder:
                p.requires_grad_(not frozen)
            rng = np.random.default_rng([seed, epoch])
            model.train()
            losses, aux_losses = [], []
            for chunk in _training_batches(rng.permutation(train_idx), settings.batch_size):
                x, pos, lobe, mask = (t.to(device) for t in inputs.random_crops(chunk, rng))
                with _autocast(device):
                    logits, aux = model.classify(x, pos, lobe, mask)
                task_loss = balanced_loss(logits, y[chunk].to(device), prior, settings.prior_scale, settings.label_smoothing)
                loss = task_loss + settings.aux_weight * aux.float() if not frozen and settings.aux_weight else task_loss
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
                optimizer.step()
                scheduler.step()
                losses.append(float(task_loss.detach()))
                aux_losses.append(float(aux.detach()))
            # The statistics the head scores with are this epoch's encoder's over the training
            # windows, not batch normalisation's running estimates: those follow the last few
            # dozen batches of a moving encoder, and their error shifts every logit alike (on
            # MentalArithmetic, validation epochs of one class, BA 50.0 at AUROC 72.6). Without
            # validation windows only the last epoch is kept, so only it needs them.
            if len(val_idx) or epoch == settings.epochs - 1:
                set_head_statistics(model, training_crop_features(model, inputs, train_idx, np.random.default_rng([seed, epoch, 1]), device=device))
            # train_loss: the Bal-BCE alone (comparable across frozen and unfrozen epochs)
            entry = {"epoch": epoch + 1, "frozen": frozen, "train_loss": float(np.mean(losses)), "aux_loss": float(np.mean(aux_losses))}
            val_logits = window_logits(model, inputs, val_idx, device=device) if len(val_idx) else None
            key = _validation_entry(task, labels, val_idx, val_logits, entry, (epoch,))
            entry["seconds"] = round(time.perf_counter() - started, 1)
            history.append(entry)
            say(
                progress,
                f"  epoch {epoch + 1}{' (head only)' if frozen else ''}: loss {entry['train_loss']:.4f}"
                + ("".join(f", val {k} {v:.2f}" for k, v in entry["val"].items()) if "val" in entry else "")
                + f" ({entry['seconds']} s)",
            )
            if stopper.update(key, model, entry):
                break
    finally:
        for p in encoder:
            p.requires_grad_(True)
    return stopper.state, history


def train_linear(model, task, features: np.ndarray, labels, train_idx, val_idx, settings: FinetuneSettings, seed: int):
    """Train only the head's linear layer on fixed IILP features; returns the best head state.

    The features are standardised with the training windows' mean and variance (the head's
    normalisation, held fixed), so the linear layer sees what it sees after full fine-tuning.
    """
    head = model.head
    torch.manual_seed(seed)
    feats = torch.from_numpy(features)
    set_head_statistics(model, feats[train_idx])
    prior = log_prior(labels[train_idx], task.n_classes)
    optimizer = torch.optim.AdamW(head.linear.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    y = torch.from_numpy(labels)
    history, stopper = [], _EarlyStopping(settings.patience, len(val_idx) > 0)
    for epoch in range(settings.epochs):
        rng = np.random.default_rng([seed, epoch])
        head.train()
        head.norm.eval()  # fixed training-set statistics
        losses = []
        for chunk in _batches(rng.permutation(train_idx), settings.batch_size):
            loss = balanced_loss(head.classify(feats[chunk]), y[chunk], prior, settings.prior_scale, settings.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        entry = {"epoch": epoch + 1, "train_loss": float(np.mean(losses))}
        head.eval()
        with torch.no_grad():
            val_logits = head.classify(feats[val_idx]).numpy() if len(val_idx) else None
        key = _validation_entry(task, labels, val_idx, val_logits, entry, (epoch,))
        history.append(entry)
        if stopper.update(key, head, entry):
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


def scored_part(parts) -> str:
    """``test`` when any fold has test windows, else ``val`` (see the module docstring)."""
    return "test" if any((part == "test").any() for part in parts) else "val"


def _leakage_check(settings, task, windows, parts) -> tuple[str, list[str]]:
    if not settings.init:
        return "not applicable (no pretrained initialisation)", []
    from neuript.leakage import check, recording_fingerprints

    # Every recording that is scored or chooses the epoch: validation and test, of every fold.
    held_out = np.zeros(len(windows), dtype=bool)
    for part in parts:
        held_out |= (part == "test") | (part == "val")
    by_store: dict[str, list[str]] = {}
    for rid in sorted(set(windows.recording[held_out].tolist())):
        by_store.setdefault(windows.recordings[rid], []).append(rid)
    fingerprints = [fp for store, ids in by_store.items() for fp in recording_fingerprints(store, ids)]
    warnings = check(settings.init, fingerprints, task.name, allow=settings.allow_leakage)
    if warnings:
        return "overridden (--allow-leakage)", warnings
    return f"passed: none of the {len(fingerprints)} validation and test recordings was in the pretraining stores", []


def _pooled(windows, parts, logits_per_fold: list[dict], name: str) -> tuple[np.ndarray, np.ndarray]:
    """The windows of part ``name`` over all folds, and their logits."""
    idx = [np.flatnonzero(part == name) for part in parts]
    chosen = np.concatenate(idx)
    values = np.concatenate([fold[name] for fold in logits_per_fold]) if chosen.size else np.zeros((0, 1), np.float32)
    return chosen, values


def _scores(task, windows, labels, chosen: np.ndarray, logits: np.ndarray) -> dict:
    if not chosen.size:
        return {"metrics": None, "per_subject": {}}
    return {
        "metrics": score(task.metrics, labels[chosen], logits),
        "per_subject": per_subject_scores(task.metrics, labels[chosen], logits, windows.subject[chosen]),
    }


def _baseline(task, windows, parts, reported: str) -> dict:
    from neuript import baseline

    started = time.perf_counter()
    features = baseline.band_power_features(windows.x, windows.sfreq, windows.ch_mask)
    labels = windows.label.astype(np.int64)
    per_fold, chosen_c = [], []
    for part in parts:
        tr, va, te = (part == p for p in ("train", "val", "test"))
        logits, c = baseline.fit_predict(features[tr], labels[tr], features[va], labels[va], features, task.metrics, task.binary)
        logits = logits.reshape(len(windows), -1)
        per_fold.append({"val": logits[va], "test": logits[te]})
        chosen_c.append(c)
    chosen, logits = _pooled(windows, parts, per_fold, reported)
    scores = _scores(task, windows, labels, chosen, logits)
    return {
        "name": baseline.NAME,
        "metrics": summarise([scores["metrics"]]),
        "per_subject": _summarise_subjects([scores["per_subject"]]),
        "C": chosen_c,
        "seconds": round(time.perf_counter() - started, 1),
    }


def _eegnet(settings, task, windows, parts, reported: str, device, progress) -> dict:
    from neuript import eegnet

    if not eegnet.available():
        return {"name": eegnet.NAME, "skipped": f"braindecode is not installed ({eegnet.EXTRA_HINT})"}
    labels = windows.label.astype(np.int64)
    per_seed, started = [], time.perf_counter()
    for seed in _seed_list(settings):
        per_fold = []
        for f, part in enumerate(parts):
            idx = {p: np.flatnonzero(part == p) for p in ("train", "val", "test")}
            out = eegnet.train_and_predict(windows.x, labels, idx, task.n_classes, windows.sfreq, seed * 1000 + f, metrics=task.metrics, device=str(device))
            per_fold.append(out["logits"])
        chosen, logits = _pooled(windows, parts, per_fold, reported)
        per_seed.append({"seed": seed, **_scores(task, windows, labels, chosen, logits)})
        say(progress, f"EEGNet seed {seed}: " + ", ".join(f"{k} {v:.2f}" for k, v in per_seed[-1]["metrics"].items()))
    return {
        "name": eegnet.NAME,
        "metrics": summarise([s["metrics"] for s in per_seed]),
        "per_seed": [{"seed": s["seed"], "metrics": s["metrics"]} for s in per_seed],
        "per_subject": _summarise_subjects([s["per_subject"] for s in per_seed]),
        "seconds": round(time.perf_counter() - started, 1),
    }


def _summarise_subjects(per_seed: list[dict]) -> dict:
    """subject -> metric -> {mean, std} over seeds."""
    subjects = list(per_seed[0]) if per_seed else []
    return {s: summarise([seed[s] for seed in per_seed]) for s in subjects}


def _save_logits(path: Path, windows, idx, logits) -> None:
    np.savez(
        path,
        logits=logits,
        label=windows.label[idx],
        subject=windows.subject[idx].astype(str),
        recording=windows.recording[idx].astype(str),
        start=windows.start[idx],
    )


def finetune(settings: FinetuneSettings, progress: bool = True) -> dict:
    """Run fine-tuning (or linear probing) over seeds and folds; returns the result (also in
    ``RUN/result.json``)."""
    from neuript.tasks import get_task, load_windows

    run_started = time.perf_counter()
    out = Path(settings.out)
    task = get_task(settings.task)
    device = resolve_device(settings.device)
    windows = load_windows(task, settings.stores, subjects=settings.subjects, montage=settings.montage)
    folds, parts = _folds(settings, task, windows)
    leakage, warnings = _leakage_check(settings, task, windows, parts)
    reported = scored_part(parts)
    out.mkdir(parents=True, exist_ok=True)
    (out / SETTINGS).write_text(json.dumps(asdict(settings), indent=1))
    (out / SPLIT).write_text(json.dumps({"split": settings.split, "folds": [f.to_dict() for f in folds]}, indent=1))
    say(
        progress,
        f"{task.name}: {len(windows)} windows of {len(set(windows.subject))} subjects, {len(folds)} fold(s), "
        f"scored on the {'test' if reported == 'test' else 'validation'} subjects; leakage check {leakage}",
    )

    baselines = {}
    if settings.baselines:
        baselines["baseline"] = _baseline(task, windows, parts, reported)
        say(progress, "band power: " + ", ".join(f"{k} {v['mean']:.2f}" for k, v in baselines["baseline"]["metrics"].items()))
        baselines["eegnet"] = _eegnet(settings, task, windows, parts, reported, device, progress)

    model_started = time.perf_counter()
    inputs = _Inputs(windows, settings.a_law, settings.crop_s, settings.channel_rms)
    labels = windows.label.astype(np.int64)
    per_seed = []
    shared_features = None  # with a pretrained encoder, linear features do not depend on the seed
    for seed in _seed_list(settings):
        seed_dir = out / f"seed{seed}"
        seed_dir.mkdir(exist_ok=True)
        per_fold, details = [], []
        features = None
        if settings.mode == "linear":
            encoder_model = build_model(settings, task.n_classes, seed).to(device)
            torch.save(_encoder_only(encoder_model), seed_dir / "encoder.pt")
            if settings.init and shared_features is not None:
                features = shared_features
            else:
                started = time.perf_counter()
                features = window_features(encoder_model, inputs, np.arange(len(windows)), device=device)
                say(progress, f"seed {seed}: IILP features of {len(windows)} windows in {time.perf_counter() - started:.0f} s")
                if settings.init:
                    shared_features = features
            encoder_model.cpu()
        for f, part in enumerate(parts):
            idx = {p: np.flatnonzero(part == p) for p in ("train", "val", "test")}
            fold_dir = seed_dir / f"fold{f}"
            fold_dir.mkdir(exist_ok=True)
            say(progress, f"seed {seed}, fold {f + 1}/{len(parts)}: " + ", ".join(f"{len(v)} {k}" for k, v in idx.items()) + " windows")
            if settings.mode == "linear":
                model = encoder_model
                torch.manual_seed(seed * 1000 + f)
                model.head.linear.reset_parameters()
                head_state, history = train_linear(model, task, features, labels, idx["train"], idx["val"], settings, seed * 1000 + f)
                model.head.load_state_dict(head_state)
                torch.save(head_state, fold_dir / "head.pt")
                model.eval()
                with torch.no_grad():
                    logits = {p: model.head.classify(torch.from_numpy(features[i])).numpy() for p, i in idx.items() if p != "train"}
            else:
                model = build_model(settings, task.n_classes, seed)
                state, history = train_full(model, task, inputs, labels, idx["train"], idx["val"], settings, seed * 1000 + f, device, progress)
                model.load_state_dict(state)
                torch.save(state, fold_dir / "model.pt")
                logits = {p: window_logits(model, inputs, i, device=device) for p, i in idx.items() if p != "train"}
                model.cpu()
            (fold_dir / "history.jsonl").write_text("".join(json.dumps(h) + "\n" for h in history))
            for p in ("val", "test"):
                if len(idx[p]):
                    _save_logits(fold_dir / f"{p}.npz", windows, idx[p], logits[p])
            per_fold.append(logits)
            best = next((h for h in reversed(history) if h.get("best")), history[-1])
            details.append({"fold": f, "epochs": len(history), "best_epoch": best["epoch"], "best_val": best.get("val")})
        entry = {"seed": seed, "folds": details}
        for p in ("val", "test"):
            chosen, values = _pooled(windows, parts, per_fold, p)
            entry[p] = _scores(task, windows, labels, chosen, values)
        entry["metrics"], entry["per_subject"] = entry[reported]["metrics"], entry[reported]["per_subject"]
        per_seed.append(entry)
        say(progress, f"seed {seed} ({'test' if reported == 'test' else 'validation'}): " + ", ".join(f"{k} {v:.2f}" for k, v in entry["metrics"].items()))

    model_seconds = time.perf_counter() - model_started
    result = _result(settings, task, windows, folds, parts, per_seed, baselines, leakage, warnings, reported)
    result["seconds"] = {
        "model": round(model_seconds, 1),
        "total": round(time.perf_counter() - run_started, 1),
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
    }
    write_result(out, result)
    return result


def _result(settings, task, windows, folds, parts, per_seed, baselines, leakage, warnings, reported) -> dict:
    counts = {p: int(sum(int((part == p).sum()) for part in parts)) for p in ("train", "val", "test")}
    config = _config_name(_init_state(settings.init)[1]) if settings.init else settings.config
    return {
        "task": task.name,
        "mode": settings.mode,
        "init": settings.init,
        "init_sha256": sha256_file(settings.init) if settings.init else None,
        "seeds": _seed_list(settings),
        "split": {"name": settings.split, "n_folds": len(folds), "folds": [f.to_dict() for f in folds]},
        "scored_on": "test" if reported == "test" else "validation",
        "metrics": summarise([s["metrics"] for s in per_seed]),
        "per_subject": _summarise_subjects([s["per_subject"] for s in per_seed]),
        "per_seed": per_seed,
        **baselines,
        "paper": dict(task.reported),
        "windows": {
            "window_s": task.window_s,
            "crop_s": settings.crop_s,
            "montage": task.montage_description if settings.montage is None else settings.montage,
            "per_fold_sum": counts,
            "subjects": len(set(windows.subject)),
        },
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


def evaluate_run(run, progress: bool = False, device: str | None = None) -> dict:
    """Re-score a saved run from its saved weights and split (the scored part only; the band-power
    baseline is refitted, it is deterministic; EEGNet is kept as the run scored it); rewrites
    ``result.json`` and ``results.md``.

    ``device`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``) defaults to the run's own, so that
    re-scoring reproduces it; a run trained on a GPU can be re-scored on a CPU with ``"cpu"``
    (scores then differ from the GPU's bf16 ones by rounding only)."""
    from neuript.model import NeurIPT
    from neuript.splits import SubjectSplit
    from neuript.tasks import get_task, load_windows

    run = Path(run)
    old = read_result(run)
    saved = json.loads((run / SETTINGS).read_text())
    saved.setdefault("channel_rms", 0.0)  # runs from before the setting scored unscaled channels
    settings = FinetuneSettings(**(saved | ({"device": device} if device else {})))
    if settings.init and Path(settings.init).exists() and old.get("init_sha256") and sha256_file(settings.init) != old["init_sha256"]:
        say(True, f"note: {settings.init} changed since the run; its saved weights are used, not the file")
    task = get_task(settings.task)
    device = resolve_device(settings.device)
    windows = load_windows(task, settings.stores, subjects=settings.subjects, montage=settings.montage)
    folds = [SubjectSplit(tuple(f["train"]), tuple(f["val"]), tuple(f["test"])) for f in json.loads((run / SPLIT).read_text())["folds"]]
    parts = [fold.part(windows.subject) for fold in folds]
    reported = scored_part(parts)
    inputs = _Inputs(windows, settings.a_law, settings.crop_s, settings.channel_rms)
    labels = windows.label.astype(np.int64)
    config = model_config(settings)  # the architecture only: every weight comes from the run's own files
    per_seed = []
    for seed, previous in zip(_seed_list(settings), old["per_seed"]):
        seed_dir = run / f"seed{seed}"
        per_fold = []
        for f, part in enumerate(parts):
            idx = np.flatnonzero(part == reported)
            model = NeurIPT(config, n_classes=task.n_classes, pretraining=False)
            if settings.mode == "linear":
                model.load_state_dict(_merge(seed_dir, f))
            else:
                model.load_state_dict(torch.load(seed_dir / f"fold{f}" / "model.pt", weights_only=True))
            model.to(device)
            per_fold.append({reported: window_logits(model, inputs, idx, device=device)})
        chosen, values = _pooled(windows, parts, per_fold, reported)
        scores = _scores(task, windows, labels, chosen, values)
        per_seed.append({**previous, reported: scores, "metrics": scores["metrics"], "per_subject": scores["per_subject"]})
        say(progress, f"seed {seed}: " + ", ".join(f"{k} {v:.2f}" for k, v in scores["metrics"].items()))
    result = {
        **old,
        "metrics": summarise([s["metrics"] for s in per_seed]),
        "per_seed": per_seed,
        "per_subject": _summarise_subjects([s["per_subject"] for s in per_seed]),
    }
    if settings.baselines:
        result["baseline"] = _baseline(task, windows, parts, reported)
    write_result(run, result)
    return result


def _merge(seed_dir: Path, fold: int) -> dict:
    encoder = torch.load(seed_dir / "encoder.pt", weights_only=True)
    head = torch.load(seed_dir / f"fold{fold}" / "head.pt", weights_only=True)
    return {**encoder, **{f"head.{k}": v for k, v in head.items()}}


__all__ = [
    "RECIPES",
    "FinetuneSettings",
    "build_model",
    "evaluate_run",
    "finetune",
    "markdown_table",
    "model_label",
    "read_result",
    "resolve_device",
    "window_features",
    "window_logits",
]
