"""Processing profiles: named, versioned parameter sets stored with the data they produced.

A profile's ``digest`` (sha256 of its canonical JSON) goes into every recording it writes, so a
store can tell whether a recording was made with the parameters being asked for now, and a build
with changed parameters never silently reuses old output.

Built in:

``neuript``
    The NeurIPT paper: band-pass 0.1-30 Hz, notch at the dataset's line frequency, resample to
    64 Hz, microvolts.
``labram``
    LaBraM: band-pass 0.1-75 Hz, notch at 50 Hz (fixed, as in its code, whatever the country),
    resample to 200 Hz.
``cbramod``
    CBraMod (TUH pretraining): band-pass 0.3-75 Hz, notch at 60 Hz, resample to 200 Hz.

User profiles come from a TOML or YAML file with the same fields (see :class:`Profile`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from eegcorpus._validate import check_option


@dataclass(frozen=True)
class Profile:
    """How raw recordings become stored signals.

    Parameters
    ----------
    name : str
        Profile name, stored with the data.
    version : int
        Bump when the meaning of the parameters changes.
    l_freq, h_freq : float | None
        Band-pass edges in Hz (None leaves a side open; both None: no band-pass).
    notch : "line" | float | None
        ``"line"``: the dataset card's line frequency and its harmonics; a number: that frequency
        and its harmonics; None: no notch.
    sfreq : float | None
        Target sampling rate in Hz; None keeps the native rate.
    storage : "int16" | "float32"
        Sample type on disk. int16 stores multiples of ``quantum_uv``.
    quantum_uv : float
        Storage step in microvolts for int16 (0.1 uV by default). A recording whose amplitude
        would overflow int16 at this step is stored with the smallest larger step from
        1-2-5 multiples that fits, recorded in its attributes, rather than clipped.
    channel_types : tuple of str
        Channel types kept (non-EEG channels are dropped by default).
    on_missing_position : "raise" | "drop" | "nan"
        A kept channel without a known 3D position fails the recording (default), is dropped,
        or is kept with NaN coordinates.
    """

    name: str
    version: int = 1
    l_freq: float | None = 0.1
    h_freq: float | None = 30.0
    notch: str | float | None = "line"
    sfreq: float | None = 64.0
    storage: str = "int16"
    quantum_uv: float = 0.1
    channel_types: tuple[str, ...] = ("eeg",)
    on_missing_position: str = "raise"
    description: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        check_option("storage", self.storage, ("int16", "float32"))
        check_option("on_missing_position", self.on_missing_position, ("raise", "drop", "nan"))
        if self.notch is not None and self.notch != "line" and not isinstance(self.notch, (int, float)):
            raise ValueError(f"Invalid value for the 'notch' parameter. Allowed values are 'line', a frequency in Hz or None, but got {self.notch!r} instead.")
        if self.l_freq is not None and self.h_freq is not None and not 0 < self.l_freq < self.h_freq:
            raise ValueError(f"Profile {self.name!r}: need 0 < l_freq < h_freq, got {self.l_freq} and {self.h_freq}.")
        if self.sfreq is not None and self.h_freq is not None and self.h_freq >= self.sfreq / 2:
            raise ValueError(f"Profile {self.name!r}: h_freq {self.h_freq} Hz is not below the target Nyquist {self.sfreq / 2} Hz.")
        if self.quantum_uv <= 0:
            raise ValueError(f"Profile {self.name!r}: quantum_uv must be positive, got {self.quantum_uv}.")
        object.__setattr__(self, "channel_types", tuple(self.channel_types))

    def to_dict(self) -> dict:
        data = asdict(self)
        data["channel_types"] = list(self.channel_types)
        return data

    @property
    def digest(self) -> str:
        """sha256 of the canonical JSON of every parameter (the profile's cache key)."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


BUILTIN_PROFILES: dict[str, Profile] = {
    "neuript": Profile(
        name="neuript",
        l_freq=0.1,
        h_freq=30.0,
        notch="line",
        sfreq=64.0,
        description="NeurIPT: 0.1-30 Hz band-pass, line-frequency notch, 64 Hz, microvolts",
    ),
    "labram": Profile(
        name="labram",
        l_freq=0.1,
        h_freq=75.0,
        notch=50.0,
        sfreq=200.0,
        description="LaBraM: 0.1-75 Hz band-pass, 50 Hz notch, 200 Hz, microvolts",
    ),
    "cbramod": Profile(
        name="cbramod",
        l_freq=0.3,
        h_freq=75.0,
        notch=60.0,
        sfreq=200.0,
        description="CBraMod (TUH pretraining): 0.3-75 Hz band-pass, 60 Hz notch, 200 Hz, microvolts",
    ),
    "passthrough": Profile(
        name="passthrough",
        l_freq=None,
        h_freq=None,
        notch=None,
        sfreq=None,
        description="No filter, no notch, the native rate: stores signals as they are (e.g. a store exported to BIDS, built again)",
    ),
}


def load_profile(spec: str | Path) -> Profile:
    """A built-in profile by name, or a user profile from a ``.toml``/``.yaml``/``.yml`` file.

    Raises
    ------
    ValueError
        For an unknown name, an unreadable file, or fields the profile does not have.
    """
    if isinstance(spec, str) and spec in BUILTIN_PROFILES:
        return BUILTIN_PROFILES[spec]
    path = Path(spec)
    if not path.suffix:
        names = ", ".join(repr(n) for n in BUILTIN_PROFILES)
        raise ValueError(f"Invalid value for the 'profile' parameter. Allowed values are {names} or a .toml/.yaml file, but got {str(spec)!r} instead.")
    if not path.is_file():
        raise ValueError(f"{path}: profile file not found")
    check_option("profile file extension", path.suffix.lower(), (".toml", ".yaml", ".yml"))
    text = path.read_text()
    try:
        if path.suffix.lower() == ".toml":
            import tomllib

            data = tomllib.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as err:  # parse errors of either format
        raise ValueError(f"{path}: cannot parse profile: {' '.join(str(err).split())}") from err
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a profile file must hold a mapping of parameters")
    data = data.get("profile", data)
    known = {f.name for f in fields(Profile)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{path}: unknown profile field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")
    if "name" not in data:
        data["name"] = path.stem
    if "channel_types" in data:
        data["channel_types"] = tuple(data["channel_types"])
    return Profile(**data)
