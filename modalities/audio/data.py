"""Speech clips for training and evaluating vocoders, prepared once into one compact file.

``prepare(source, out, **options)`` reads or synthesises the recordings and writes one ``.npz``
(format ``zoo-audio-clips/1``, readable with ``allow_pickle=False``); ``AudioClips(path, split)``
reads it and draws training crops.  Sources (``DATA_SOURCES``, with their licences):

- ``tuxpaint``: the real speech of Debian ``tuxpaint-stamps-default``, every
  ``<stamp>_desc_<lang>.ogg`` (and the 15 ``.wav`` ones, and the one ``.ogg.ogg``).
- ``digits``: the words "zero" .. "nine" spoken by espeak-ng with voices, variants, speeds and
  pitches drawn from a seeded generator, each centred in exactly one second.

Every clip is mixed to mono (channel mean), resampled to 22,050 Hz (``torchaudio.functional.resample``),
trimmed of leading and trailing silence (whole 256-sample frames whose RMS is more than 40 dB
below the clip's loudest frame; silences inside the clip are kept), and left at its recorded level
except that a clip peaking above 0.95 is scaled down to peak 0.95: about a fifth of the tuxpaint
recordings decode above 1.0 (Vorbis overshoot of hot recordings) and int16 storage would clip them.

Splits are fixed by rule, never by random draw, so a held-out utterance stays held out in every
file prepared from the same source:
- tuxpaint: by stamp (folder + file stem before ``_desc_``), all languages of a stamp together.
  Some recordings are byte-identical copies under several stamps (``M_filled`` / ``M_outline``,
  ``spider`` / ``spider2``); such stamps form one group, each copy is kept once, and a group is
  held out iff ``sha1(its alphabetically first stamp) % 20 == 0`` (about 5%).
- digits: by speaker (voice + variant): held out iff ``sha1("voice+variant") % 10 == 0``.
"""
from __future__ import annotations

import contextlib
import hashlib
import inspect
import io
import json
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile
import torch
import torchaudio

from zoo.files import atomic_write
from zoo.modality import DataSource

__all__ = ["FORMAT", "SAMPLE_RATE", "SOURCES", "DATA_SOURCES", "DEFAULT_PATHS", "DEFAULT_CROP", "TUXPAINT_STAMPS", "prepare",
           "tuxpaint_clips", "digit_clips", "load_recording", "trim_silence", "stamp_of", "heldout_stamp",
           "heldout_speaker", "summary", "AudioClips"]

FORMAT = "zoo-audio-clips/1"
SAMPLE_RATE = 22050
SOURCES = ("tuxpaint", "digits")
DEFAULT_PATHS = {source: Path(".data") / "audio" / f"{source}.npz" for source in SOURCES}
DEFAULT_CROP = 62 * 256
TUXPAINT_STAMPS = Path("/usr/share/tuxpaint/stamps")
SPLITS = {"train": 0, "heldout": 1}
FRAME = 256
SILENCE_DB = -40.0
PEAK = 0.95
INT16 = 32767
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# English voices of espeak-ng's own (gmw/) synthesiser; the mbrola ones need voices not installed.
# "en" rather than "en-gb": espeak-ng 1.51 ignores a +variant on "en-gb".
VOICES = ("en", "en-us", "en-us-nyc", "en-029", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd")
# Variants that sound like people (no whisper, croak or robot); espeak-ng silently ignores unknown ones.
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2", "klatt3",
            "klatt4", "Alex", "Alicia", "Andrea", "Andy", "Annie", "adam", "anika", "aunty", "belinda", "benjamin",
            "boris", "caleb", "david", "ed", "edward", "grandma", "grandpa", "iven", "john", "linda", "max", "michel",
            "norbert", "paul", "quincy", "rob", "robert", "steph", "travis", "victor", "zac")
MISSING_TUXPAINT = "install it with: apt-get install tuxpaint-stamps-default"

DATA_SOURCES = (
    DataSource("tuxpaint", "Real human speech: the spoken descriptions of Debian's `tuxpaint-stamps-default` "
               "(7,418 recordings, about 178 minutes, 10+ languages).",
               "GPL-2.0 (Debian tuxpaint-stamps-default)", "apt-get install tuxpaint-stamps-default"),
    DataSource("digits", "The words zero to nine spoken by espeak-ng with many voices, variants, speeds and pitches, "
               "each centred in one second at 22,050 Hz: synthetic formant speech, a toy, not natural speech.",
               "GPL-3.0 (generated with espeak-ng)", "apt-get install espeak-ng"),
)


class Clip(NamedTuple):
    name: str
    audio: np.ndarray  # (T,) int16
    split: int
    label: int
    language: str


# ---------------------------------------------------------------------------------------------- signals

def trim_silence(x: torch.Tensor, frame: int = FRAME, threshold_db: float = SILENCE_DB) -> torch.Tensor:
    """(T,) -> (T',): drop whole leading and trailing ``frame``-sample frames whose RMS is more than
    ``threshold_db`` below the loudest frame's.  A silent clip gives an empty one."""
    frames = torch.nn.functional.pad(x, (0, -len(x) % frame)).view(-1, frame)
    rms = frames.pow(2).mean(1).sqrt()
    if len(x) == 0 or rms.max() == 0:
        return x[:0]
    loud = torch.nonzero(rms >= rms.max() * 10 ** (threshold_db / 20)).flatten()
    return x[int(loud[0]) * frame:(int(loud[-1]) + 1) * frame]


def _clean(channels: np.ndarray, rate: int) -> torch.Tensor:
    """(T, C) float at ``rate`` -> (T',) float32 mono at 22,050 Hz, trimmed, peak at most 0.95."""
    x = torch.from_numpy(np.ascontiguousarray(channels.mean(axis=1), dtype=np.float32))
    if rate != SAMPLE_RATE:
        x = torchaudio.functional.resample(x, rate, SAMPLE_RATE)
    x = trim_silence(x)
    peak = float(x.abs().max()) if len(x) else 0.0
    return x * (PEAK / peak) if peak > PEAK else x


def load_recording(path: str | Path) -> torch.Tensor:
    """A sound file -> (T,) float32 at 22,050 Hz, mono, trimmed and peak-limited as stored by ``prepare``."""
    channels, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    return _clean(channels, rate)


def _to_int16(x: torch.Tensor) -> np.ndarray:
    return np.clip(np.round(x.numpy().astype(np.float64) * INT16), -INT16, INT16).astype(np.int16)


@contextlib.contextmanager
def _one_torch_thread():
    # On these 2-core machines resample's conv1d runs 5-15x slower with 2 intra-op threads than with
    # one, so files are spread over a thread pool instead and torch gets one thread meanwhile.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _sha1(text: str) -> int:
    return int(hashlib.sha1(text.encode()).hexdigest(), 16)


# --------------------------------------------------------------------------------------------- tuxpaint

def stamp_of(name: str) -> str:
    """``"town/monuments/inukshuk-photo_desc_da.ogg.ogg"`` -> ``"town/monuments/inukshuk-photo"``."""
    return name.rsplit("_desc_", 1)[0]


def language_of(name: str) -> str:
    """``"food/yam_desc_pt_BR.wav"`` -> ``"pt_BR"``."""
    return name.rsplit("_desc_", 1)[1].split(".")[0]


def heldout_stamp(stamp: str) -> bool:
    """The split rule for (the alphabetically first stamp of) a group of tuxpaint stamps."""
    return _sha1(stamp) % 20 == 0


def find_recordings(root: Path) -> list[str]:
    """Sorted posix paths, relative to ``root``, of every ``*_desc_<lang>.ogg`` / ``.wav`` under it."""
    names = (p.relative_to(root).as_posix() for p in root.rglob("*_desc_*") if p.is_file())
    return sorted(n for n in names if n.lower().endswith((".ogg", ".wav")))


def _stamp_splits(digests: dict[str, str]) -> dict[str, int]:
    """{name: file sha1} -> {stamp: split}: stamps that share a byte-identical recording share a side."""
    parent: dict[str, str] = {}

    def root(s: str) -> str:
        while parent.setdefault(s, s) != s:
            s = parent[s]
        return s

    by_digest: dict[str, list[str]] = {}
    for name, digest in digests.items():
        by_digest.setdefault(digest, []).append(stamp_of(name))
    for stamps in by_digest.values():
        for s in stamps:
            a, b = root(stamps[0]), root(s)
            parent[max(a, b)] = min(a, b)  # a group's root is its alphabetically first stamp
    return {s: int(heldout_stamp(root(s))) for s in parent}


def _take(items: list[tuple[str, int]], load, caps: dict[int, float | None], workers: int):
    """Load ``(name, split)`` items in order, keeping per split the longest run of clips whose total
    stays within ``caps[split]`` seconds (None: no cap).  ``load(name) -> (audio (T,) | None, why)``.
    Returns ([(name, split, audio)], [skipped "name: why"])."""
    kept, skipped, used, full = [], [], {0: 0.0, 1: 0.0}, {0: False, 1: False}
    chunk = 8 * workers
    with _one_torch_thread(), ThreadPoolExecutor(workers) as pool:
        for start in range(0, len(items), chunk):
            todo = [item for item in items[start:start + chunk] if not full[item[1]]]
            for (name, side), (audio, why) in zip(todo, pool.map(lambda item: load(item[0]), todo)):
                if full[side]:
                    continue
                if audio is None:
                    skipped.append(f"{name}: {why}")
                    continue
                seconds = len(audio) / SAMPLE_RATE
                if caps[side] is not None and used[side] + seconds > caps[side]:
                    full[side] = True
                    continue
                used[side] += seconds
                kept.append((name, side, audio))
            if full[0] and full[1]:
                break
    return kept, skipped


def tuxpaint_clips(root: str | Path | None = None, minutes: float | None = None, heldout_minutes: float | None = None,
                   languages: str | list[str] | None = None, min_seconds: float = 0.75, workers: int = 2):
    """The tuxpaint description recordings as ([Clip], [skipped "name: why"]).

    ``minutes`` / ``heldout_minutes`` cap each split's total duration: clips are taken whole in the
    order of sha1(relative path) until the next one would pass the cap.  ``languages``: e.g. ``"fr,ru"``.
    Clips shorter than ``min_seconds`` after trimming are skipped."""
    root = Path(root) if root is not None else TUXPAINT_STAMPS
    if not root.is_dir():
        raise ValueError(f"no tuxpaint stamps folder at {root}; {MISSING_TUXPAINT}")
    names = find_recordings(root)
    if not names:
        raise ValueError(f"no recordings (*_desc_<lang>.ogg) under {root}; {MISSING_TUXPAINT}")
    digests = {n: hashlib.sha1((root / n).read_bytes()).hexdigest() for n in names}
    splits = _stamp_splits(digests)  # over every recording, so a language filter cannot move a stamp
    if isinstance(languages, str):
        languages = [lang.strip() for lang in languages.split(",") if lang.strip()]
    first_copy: dict[str, str] = {}
    skipped = []
    for n in names:
        first = first_copy.setdefault(digests[n], n)
        if first != n:
            skipped.append(f"{n}: same bytes as {first}")
    unique = [n for n in names if first_copy[digests[n]] == n and (not languages or language_of(n) in languages)]
    if not unique:
        raise ValueError(f"no recordings in languages {languages} under {root}")

    def load(name):
        try:
            audio = load_recording(root / name)
        except (RuntimeError, OSError, ValueError) as error:  # soundfile.LibsndfileError is a RuntimeError
            return None, f"unreadable ({error})"
        if len(audio) < float(min_seconds) * SAMPLE_RATE:
            return None, f"shorter than {min_seconds} s after trimming"
        return _to_int16(audio), ""

    items = [(n, splits[stamp_of(n)]) for n in sorted(unique, key=_sha1)]
    caps = {s: None if m is None else float(m) * 60 for s, m in ((0, minutes), (1, heldout_minutes))}
    kept, failed = _take(items, load, caps, int(workers))
    clips = [Clip(n, audio, side, -1, language_of(n)) for n, side, audio in sorted(kept)]
    return clips, skipped + failed


# ----------------------------------------------------------------------------------------------- digits

def heldout_speaker(voice: str, variant: str) -> bool:
    """The split rule for synthetic digits: a held-out speaker is never heard in training."""
    return _sha1(f"{voice}+{variant}") % 10 == 0


def _fit(x: torch.Tensor, length: int) -> torch.Tensor:
    """(T,) -> (length,): centred, zero-padded or cut evenly on both sides."""
    if len(x) >= length:
        start = (len(x) - length) // 2
        return x[start:start + length]
    left = (length - len(x)) // 2
    return torch.nn.functional.pad(x, (left, length - len(x) - left))


def _speak(word: str, voice: str, variant: str, speed: int, pitch: int) -> torch.Tensor:
    """espeak-ng -> (T,) float32 at 22,050 Hz, mono, trimmed, peak at most 0.95."""
    command = ["espeak-ng", "-v", f"{voice}+{variant}", "-s", str(speed), "-p", str(pitch), "--stdout", word]
    done = subprocess.run(command, capture_output=True, timeout=60)
    if done.returncode != 0 or not done.stdout:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.decode(errors='replace').strip()}")
    channels, rate = soundfile.read(io.BytesIO(done.stdout), dtype="float32", always_2d=True)
    return _clean(channels, rate)


def digit_clips(n: int = 2000, seed: int = 0, workers: int = 2):
    """``n`` spoken digits (label ``i % 10``) as ([Clip], []), each exactly one second long."""
    if shutil.which("espeak-ng") is None:
        raise ValueError("espeak-ng not found; install it with: apt-get install espeak-ng")
    n, rng = int(n), np.random.default_rng(int(seed))
    voices = rng.choice(VOICES, n)
    variants = rng.choice(VARIANTS, n)
    speeds = rng.integers(120, 221, n)
    pitches = rng.integers(20, 81, n)
    jobs = [(i % 10, str(voices[i]), str(variants[i]), int(speeds[i]), int(pitches[i])) for i in range(n)]
    with _one_torch_thread(), ThreadPoolExecutor(int(workers)) as pool:
        audio = list(pool.map(lambda job: _speak(DIGITS[job[0]], *job[1:]), jobs))
    clips = []
    for i, ((label, voice, variant, speed, pitch), x) in enumerate(zip(jobs, audio)):
        name = f"digit-{i:05d}-{label}-{voice}+{variant}-s{speed}-p{pitch}"
        clips.append(Clip(name, _to_int16(_fit(x, SAMPLE_RATE)), int(heldout_speaker(voice, variant)), label, voice))
    return clips, []


# ------------------------------------------------------------------------------------------------ files

BUILDERS = {"tuxpaint": tuxpaint_clips, "digits": digit_clips}


def prepare(source: str, out: str | Path | None = None, **options) -> Path:
    """Prepare ``source`` ("tuxpaint" or "digits") into one ``.npz`` at ``out`` (default
    ``DEFAULT_PATHS[source]``, relative to the current folder) and return its path.  ``options`` are
    the keyword options of ``tuxpaint_clips`` or ``digit_clips``."""
    if source not in BUILDERS:
        raise ValueError(f"unknown audio source {source!r}; choose one of {list(SOURCES)}")
    allowed = sorted(inspect.signature(BUILDERS[source]).parameters)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"audio source {source!r} has no option(s) {unknown}; it takes {allowed}")
    clips, skipped = BUILDERS[source](**options)
    if not clips:
        raise ValueError(f"audio source {source!r} gave no clips with options {options}")
    return write_clips(out if out is not None else DEFAULT_PATHS[source], source, clips, skipped, options)


def write_clips(path: str | Path, source: str, clips: list[Clip], skipped: list[str], options: dict) -> Path:
    """Write clips to one ``.npz``: ``audio`` (sum T,) int16 concatenated, ``offsets`` / ``lengths`` /
    ``labels`` (N,) int64, ``split`` (N,) uint8 (0 train, 1 held-out), ``names`` / ``languages`` (N,) str,
    ``skipped`` (M,) str, and 0-d ``format``, ``source``, ``sample_rate``, ``options`` (JSON)."""
    lengths = np.array([len(c.audio) for c in clips], dtype=np.int64)
    arrays = {
        "format": np.array(FORMAT), "source": np.array(source), "sample_rate": np.array(SAMPLE_RATE, dtype=np.int64),
        "options": np.array(json.dumps(options, sort_keys=True, default=str)),
        "audio": np.concatenate([c.audio for c in clips]).astype(np.int16),
        "offsets": np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64), "lengths": lengths,
        "split": np.array([c.split for c in clips], dtype=np.uint8),
        "labels": np.array([c.label for c in clips], dtype=np.int64),
        "names": np.array([c.name for c in clips], dtype=str),
        "languages": np.array([c.language for c in clips], dtype=str),
        "skipped": np.array(skipped, dtype=str).reshape(-1),
    }

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:  # a handle, so numpy cannot append ".npz" to the temporary name
            np.savez_compressed(handle, **arrays)

    return atomic_write(path, write)


def _read(path: str | Path) -> dict[str, np.ndarray]:
    path = Path(path)
    if not path.is_file():
        source = path.stem if path.stem in SOURCES else "tuxpaint"
        raise ValueError(f"no audio clips file at {path}; run: zoo data prepare audio --source {source}")
    with np.load(path, allow_pickle=False) as f:
        found = str(f["format"]) if "format" in f.files else None
        if found != FORMAT:
            raise ValueError(f"{path} is not an audio clips file: format {found!r}, expected {FORMAT!r}")
        return {k: f[k] for k in f.files}


def summary(path: str | Path) -> dict:
    """Counts, minutes and languages per split of a prepared file, and what was skipped and why."""
    f = _read(path)
    rate = int(f["sample_rate"])
    out = {"source": str(f["source"]), "sample_rate": rate, "options": json.loads(str(f["options"])),
           "skipped": len(f["skipped"])}
    for split, code in SPLITS.items():
        keep = f["split"] == code
        out[split] = {"clips": int(keep.sum()), "minutes": round(float(f["lengths"][keep].sum()) / rate / 60, 3),
                      "languages": sorted(set(f["languages"][keep].tolist()))}
    return out


# ---------------------------------------------------------------------------------------------- dataset

class AudioClips:
    """One split of a prepared file.  ``batch(n, generator) -> {"x": (n, crop) float32 in [-1, 1],
    "label": (n,) int64}`` (label -1 where the source has none).

    A crop is drawn by picking a sample uniformly over the whole split (so a clip is picked in
    proportion to its duration and every second of speech is equally likely), then a start uniformly
    among the crops of that clip; a clip shorter than ``crop`` is zero-padded at the end."""

    def __init__(self, path: str | Path, split: str = "train", crop: int = DEFAULT_CROP, name: str | None = None):
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; choose one of {list(SPLITS)}")
        f = _read(path)
        self.path, self.split, self.crop = Path(path), split, int(crop)
        self.name = str(f["source"])
        if name is not None and name != self.name:
            raise ValueError(f"{path} holds audio source {self.name!r}, not {name!r}")
        self.sample_rate = int(f["sample_rate"])
        self._file = f
        self._audio = torch.from_numpy(f["audio"])
        self._index = self._rows(split)
        self.offsets = torch.from_numpy(f["offsets"][self._index])
        self.lengths = torch.from_numpy(f["lengths"][self._index])
        self.labels = torch.from_numpy(f["labels"][self._index])
        self.names = f["names"][self._index].tolist()
        self.languages = f["languages"][self._index].tolist()
        self._ends = torch.cumsum(self.lengths, 0)

    def _rows(self, split: str) -> np.ndarray:
        return np.flatnonzero(self._file["split"] == SPLITS[split])

    def __len__(self) -> int:
        return len(self._index)

    @property
    def sample_shape(self) -> tuple[int]:
        return (self.crop,)

    @property
    def seconds(self) -> float:
        return float(self.lengths.sum()) / self.sample_rate

    def clip(self, i: int) -> torch.Tensor:
        """Clip ``i`` of this split: (T,) float32 in [-1, 1]."""
        start = int(self.offsets[i])
        return self._audio[start:start + int(self.lengths[i])].float() / INT16

    def batch(self, n: int, generator: torch.Generator, crop: int | None = None) -> dict:
        """``{"x": (n, crop) float32, "label": (n,) int64}``, deterministic given ``generator``."""
        crop = self.crop if crop is None else int(crop)
        if len(self) == 0:
            raise ValueError(f"the {self.split} split of {self.path} holds no clips")
        at = torch.randint(0, int(self._ends[-1]), (n,), generator=generator)
        clip = torch.searchsorted(self._ends, at, right=True)
        room = (self.lengths[clip] - crop).clamp(min=0)
        start = (torch.rand(n, generator=generator, dtype=torch.float64) * (room + 1)).long().clamp(max=room)
        t = torch.arange(crop)
        inside = t < (self.lengths[clip] - start)[:, None]
        where = ((self.offsets[clip] + start)[:, None] + t).clamp(max=len(self._audio) - 1)
        x = torch.where(inside, self._audio[where].float() / INT16, 0.0)
        return {"x": x, "label": self.labels[clip]}

    def heldout_utterances(self, max_n: int | None = None) -> list[torch.Tensor]:
        """The first ``max_n`` (all by default) held-out clips of this file, whatever this split: [(T,) float32]."""
        rows = self._rows("heldout")[:max_n]
        audio, offsets, lengths = self._audio, self._file["offsets"], self._file["lengths"]
        return [audio[offsets[r]:offsets[r] + lengths[r]].float() / INT16 for r in rows]

    def config(self) -> dict:
        """The constructor's arguments: ``AudioClips(**config())`` reads the same data."""
        return {"name": self.name, "path": str(self.path), "split": self.split, "crop": self.crop}
