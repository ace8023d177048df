"""What the training loop and the evaluation suite see of the audio data."""
from __future__ import annotations

import torch

from zoo.modality import Batch, Dataset

from .data import DEFAULT_CROP, DEFAULT_PATHS, MISSING_TUXPAINT, TUXPAINT_STAMPS, AudioClips, prepare
from .frontend import DEFAULT, FrontEnd, check_config
from .prior import reference_energy

__all__ = ["AudioData", "dataset", "smoke_datasets"]


class AudioData(Dataset):
    """Training crops of a prepared clips file; ``mel=True`` adds their log-mels (the vocoder's condition).

    sample_shape: (crop,).  batch(n, generator) -> {"x": (n, crop), "cond": {"mel": (n, n_mels, crop // hop)}}
    (no "cond" if mel=False).  model_config(): the front end, recorded in the model's config.
    """

    def __init__(self, name: str, path: str | None = None, crop: int = DEFAULT_CROP, mel: bool = True,
                 frontend: dict | None = None):
        if name not in DEFAULT_PATHS:
            raise ValueError(f"unknown audio data set {name!r}; choose one of {sorted(DEFAULT_PATHS)}")
        self.name, self.path, self.crop, self.mel = name, str(path or DEFAULT_PATHS[name]), crop, mel
        self.frontend = FrontEnd(frontend or DEFAULT)
        self.sample_shape = (int(crop),)
        if mel and crop % self.frontend.hop:
            raise ValueError(f"crop {crop} must be a whole number of hops ({self.frontend.hop} samples)")
        self._clips: dict[str, AudioClips] = {}

    def clips(self, split: str = "train") -> AudioClips:
        if split not in self._clips:
            self._clips[split] = AudioClips(self.path, split=split, crop=self.crop)
        return self._clips[split]

    def batch(self, n: int, generator: torch.Generator) -> Batch:
        x = self.clips("train").batch(n, generator)["x"]
        if not self.mel:
            return {"x": x}
        with torch.no_grad():
            return {"x": x, "cond": {"mel": self.frontend(x)}}

    def config(self) -> dict:
        """The constructor's arguments (the front end only when it is not the default one)."""
        out = {"name": self.name, "path": self.path, "crop": self.crop, "mel": self.mel}
        if self.frontend.config != check_config(DEFAULT):
            out["frontend"] = {k: v for k, v in self.frontend.config.items() if k != "hash"}
        return out

    def prior_settings(self) -> dict:
        """A vocoder's conditional prior (PriorGrad, see prior.py): the reference frame energy of the training clips."""
        if not self.mel:
            raise ValueError(f"the conditional prior is a function of the mel; data set {self.name!r} has mel=False")
        clips = self.clips("train")
        with torch.no_grad():
            mels = self.frontend(clips.batch(256, torch.Generator().manual_seed(0))["x"])
        return {"energy": reference_energy(mels)}

    def model_config(self) -> dict:
        """What the model config records beside the data: the front end, with its hash."""
        return {"frontend": self.frontend.config}


def dataset(name: str, **params) -> AudioData:
    """An audio data set by name (``tuxpaint`` or ``digits``); ``params``: path, crop, mel, frontend."""
    return AudioData(name, **params)


def smoke_datasets(folder) -> dict[str, AudioData]:
    """Small real data sets for the contract test, prepared into ``folder`` in seconds: 20 spoken digits
    (espeak-ng) and about 12 s of each split of the tuxpaint recordings; a source whose Debian package is
    missing is left out.  Crops as the released models': the vocoder's 4096 samples, the digits' 8192."""
    import shutil
    from pathlib import Path

    folder, out = Path(folder), {}
    if shutil.which("espeak-ng") is not None:
        out["digits"] = AudioData("digits", path=str(prepare("digits", folder / "digits.npz", n=20)), crop=8192,
                                  mel=False)
    if TUXPAINT_STAMPS.is_dir():
        path = prepare("tuxpaint", folder / "tuxpaint.npz", minutes=0.2, heldout_minutes=0.2)
        out["tuxpaint"] = AudioData("tuxpaint", path=str(path), crop=4096)
    elif not out:
        raise ValueError(f"no audio source is installed: {MISSING_TUXPAINT}, or apt-get install espeak-ng")
    return out

