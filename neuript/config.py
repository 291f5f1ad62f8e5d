"""Model configurations: ``base`` (the paper) and ``slim`` (the CPU-friendly default)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace


@dataclass(frozen=True)
class NeurIPTConfig:
    """Every size and weight of the model (defaults: the paper's pretraining setup).

    d_model must allow three sinusoid tables for the 3D electrode encoding (x and y get
    ``d_model // 3`` rounded down to even, z the rest).
    """

    d_model: int = 768
    n_heads: int = 8
    d_ff: int = 768  # hidden size of dense FFNs and of the shared expert
    expert_hidden: int = 512  # hidden size of each routed expert
    experts_per_layer: tuple[int, ...] = (0, 0, 2, 4, 4, 6)
    merge_factors: tuple[int, ...] = (1, 4, 1, 2, 1, 2)  # token merging before each block
    decoder_layers: int = 7  # one per encoder level: the embedding and every block
    dropout: float = 0.1
    # Dropout on attention weights; None = ``dropout``. PyTorch's CPU flash kernel has no dropout,
    # so any value above 0 sends CPU attention down the unfused path (about 12x slower).
    attention_dropout: float | None = None
    router_noise_std: float = 0.001
    w_importance: float = 0.008
    capacity_factor: float = 1.0
    aux_weight: float = 0.8  # pretraining loss = reconstruction + aux_weight * auxiliary
    position_bins: int = 50  # electrode coordinates are quantised to 0..49 per axis
    max_len: int = 4096  # longest sequence of samples the temporal encoding covers
    n_lobes: int = 6
    head_standardise: bool = True  # standardise IILP features before the classifier (heads.py)
    mask_ratios: tuple[float, ...] = (0.2, 0.35, 0.5)
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if len(self.experts_per_layer) != len(self.merge_factors):
            raise ValueError(f"experts_per_layer ({len(self.experts_per_layer)}) and merge_factors ({len(self.merge_factors)}) must have one entry per block.")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}.")
        if self.d_model < 6:
            raise ValueError("d_model must be at least 6 (three sinusoid tables of at least 2 dims).")

    @property
    def n_blocks(self) -> int:
        return len(self.merge_factors)

    def to_dict(self) -> dict:
        data = asdict(self)
        for key in ("experts_per_layer", "merge_factors", "mask_ratios"):
            data[key] = list(data[key])
        return data

    @classmethod
    def from_dict(cls, data: dict) -> NeurIPTConfig:
        data = dict(data)
        for key in ("experts_per_layer", "merge_factors", "mask_ratios"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)


CONFIGS: dict[str, NeurIPTConfig] = {
    "base": NeurIPTConfig(),
    # Same architecture (blocks, merging, experts, decoder depth), 8x narrower and without
    # attention dropout (residual and feed-forward dropout stay): trains on a CPU.
    "slim": NeurIPTConfig(d_model=96, n_heads=4, d_ff=96, expert_hidden=64, attention_dropout=0.0),
}


def get_config(name_or_config, **overrides) -> NeurIPTConfig:
    """A named configuration (``slim``, ``base``) or a config object, with field overrides."""
    if isinstance(name_or_config, NeurIPTConfig):
        config = name_or_config
    elif name_or_config in CONFIGS:
        config = CONFIGS[name_or_config]
    else:
        names = ", ".join(repr(n) for n in CONFIGS)
        raise ValueError(f"Invalid value for the 'config' parameter. Allowed values are {names}, but got {name_or_config!r} instead.")
    return replace(config, **overrides) if overrides else config
