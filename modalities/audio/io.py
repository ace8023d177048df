"""Audio files in and out with soundfile (WAV, FLAC, OGG), and mels as .npy.

The sample formats of the modality (``MODALITY.formats``):

- ``.wav`` / ``.flac``: a listening file, 16-bit mono at the model's sample rate, the n clips one
  after another with 0.25 s of silence between (values clipped to [-1, 1]).  The file's comment
  tag records the layout (``zoo-audio-samples/1 n=2 length=66150 gap=5512``, and the writer's
  title in the title tag), so ``read_samples`` gives the clips back as (n, T), to 16 bits; a
  recording without that tag reads as one clip (1, T).
- ``.npy``: the clips (n, T) as float32, exactly.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import soundfile
import torch

from zoo.files import atomic_write

__all__ = ["read_audio", "read_audio_blocks", "write_audio", "write_stream", "write_samples", "read_samples", "read_mel", "write_wav", "write_flac",
           "write_npy", "FORMATS", "LAYOUT"]

FORMATS = (".wav", ".flac", ".npy")
LAYOUT = "zoo-audio-samples/1"  # the comment tag of a listening file: how to split it back into clips


def read_audio(path) -> tuple[torch.Tensor, int]:
    """A sound file as mono float32 (T,) in [-1, 1] and its sample rate (channels are averaged)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"audio file {str(path)!r} does not exist")
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError) as error:
        raise ValueError(f"{path}: not a readable sound file ({error})") from None
    if data.shape[0] == 0:
        raise ValueError(f"{path}: holds no samples")
    if not np.isfinite(data).all():
        raise ValueError(f"{path}: holds NaN or infinite samples")
    return torch.from_numpy(data.mean(axis=1)), int(rate)


def read_audio_blocks(path, block: int = 2 ** 16) -> tuple[int, int, Iterator[torch.Tensor]]:
    """A sound file read ``block`` frames at a time: (sample rate, frames, blocks (1, t) mono float32 in [-1, 1]);
    bad files are refused as ``read_audio`` refuses them, before any block is read."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"audio file {str(path)!r} does not exist")
    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError) as error:
        raise ValueError(f"{path}: not a readable sound file ({error})") from None
    if info.frames == 0:
        raise ValueError(f"{path}: holds no samples")

    def blocks() -> Iterator[torch.Tensor]:
        for data in soundfile.blocks(str(path), blocksize=block, dtype="float32", always_2d=True):
            if not np.isfinite(data).all():
                raise ValueError(f"{path}: holds NaN or infinite samples")
            yield torch.from_numpy(data.mean(axis=1))[None]
    return int(info.samplerate), int(info.frames), blocks()


def write_audio(path, waveform: torch.Tensor, sample_rate: int, *, title: str = "", comment: str = "") -> Path:
    """waveform (T,) -> a 16-bit WAV or FLAC (by the extension), written atomically; clipped to [-1, 1].
    ``title`` and ``comment`` go to the file's title and comment tags (WAV INFO, FLAC Vorbis comments)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".wav", ".flac"):
        raise ValueError(f"{path}: write .wav or .flac")
    waveform = torch.as_tensor(waveform)
    if waveform.dim() != 1:
        raise ValueError(f"write_audio takes one mono waveform (T,), got shape {tuple(waveform.shape)}")
    return _write_pieces(path, [waveform], sample_rate, title=title, comment=comment)


def _write_pieces(path: Path, pieces: Iterable[torch.Tensor], sample_rate: int, *, title: str, comment: str) -> Path:
    """Mono pieces (t_i,) one after another into one 16-bit WAV or FLAC, atomically, clipped to [-1, 1]."""
    suffix = path.suffix.lower()

    def write(tmp: str) -> None:
        with soundfile.SoundFile(tmp, "w", sample_rate, 1, subtype="PCM_16", format=suffix[1:].upper()) as f:
            if title:
                f.title = title
            if comment:
                f.comment = comment
            for piece in pieces:
                f.write(piece.detach().float().cpu().clamp(-1, 1).numpy())

    return atomic_write(path, write)


def write_stream(pieces: Iterable[torch.Tensor], path, length: int, *, sample_rate: int, title: str = "") -> Path:
    """One clip of ``length`` samples arriving in pieces (1, t_i) -> the samples file ``write_samples`` would write
    for it (.wav/.flac with its layout tag, or .npy), holding one piece at a time; a stream of another length is
    an error and leaves no file."""
    path = Path(path)
    suffix, written = path.suffix.lower(), [0]
    if suffix not in FORMATS:
        raise ValueError(f"{path}: write one of {list(FORMATS)}")

    def counted():
        for piece in pieces:
            piece = torch.as_tensor(piece).detach().float().cpu().reshape(-1)
            written[0] += piece.shape[0]
            if written[0] > length:
                raise ValueError(f"the stream holds more than the {length} samples announced")
            yield piece
        if written[0] != length:
            raise ValueError(f"the stream held {written[0]} samples, not the {length} announced")

    if suffix != ".npy":
        return _write_pieces(path, counted(), sample_rate, title=title, comment=f"{LAYOUT} n=1 length={length} "
                             f"gap={sample_rate // 4}")

    def save(tmp: str) -> None:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(1, length))
        for piece in counted():
            array[0, written[0] - piece.shape[0]: written[0]] = piece.numpy()
        array.flush()
        del array
    return atomic_write(path, save)


def _clips(x) -> torch.Tensor:
    x = torch.as_tensor(x).detach().float().cpu()
    if x.dim() == 1:
        x = x[None]
    if x.dim() != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"audio samples are clips (n, T) or one clip (T,), got shape {tuple(x.shape)}")
    return x


def write_samples(x: torch.Tensor, path, *, sample_rate: int = 22050, title: str = "") -> Path:
    """Clips (n, T) or (T,) -> one file: .npy holds them all (float32); .wav/.flac hold them one after
    another with 0.25 s of silence between (a listening file, its layout in the comment tag)."""
    path = Path(path)
    x = _clips(x)
    if path.suffix.lower() == ".npy":
        def save(tmp: str) -> None:
            with open(tmp, "wb") as handle:
                np.save(handle, x.numpy())
        return atomic_write(path, save)
    n, length = x.shape
    gap = sample_rate // 4
    layout = f"{LAYOUT} n={n} length={length} gap={gap}"
    joined = torch.cat([x, torch.zeros(n, gap)], dim=1).flatten()[: n * (length + gap) - gap]
    return write_audio(path, joined, sample_rate, title=title, comment=layout)


def _layout(comment: str) -> tuple[int, int, int] | None:
    words = comment.split()
    if not words or words[0] != LAYOUT:
        return None
    try:
        fields = dict(w.split("=", 1) for w in words[1:])
        return int(fields["n"]), int(fields["length"]), int(fields["gap"])
    except (KeyError, ValueError):
        return None


def read_samples(path) -> torch.Tensor:
    """The clips of a samples file back, (n, T) float32: a .npy as written; a .wav/.flac split by its
    layout tag (see the module docstring), or the whole recording as one clip (1, T) (mono) without one."""
    path = Path(path)
    if path.suffix.lower() == ".npy":
        if not path.is_file():
            raise ValueError(f"samples file {str(path)!r} does not exist")
        try:
            x = torch.from_numpy(np.load(path, allow_pickle=False)).float()
        except ValueError as error:
            raise ValueError(f"{path}: not a numeric .npy array ({error})") from None
        return x[None] if x.dim() == 1 else x
    waveform, _ = read_audio(path)
    with soundfile.SoundFile(str(path)) as f:
        layout = _layout(f.comment or "")
    if layout is None:
        return waveform[None]
    n, length, gap = layout
    if n * length + (n - 1) * gap != len(waveform):
        raise ValueError(f"{path}: its layout tag says {n} clips of {length} samples {gap} apart, but it holds "
                         f"{len(waveform)} samples")
    return torch.stack([waveform[i * (length + gap): i * (length + gap) + length] for i in range(n)])


def _writer(suffix: str):
    def write(x, path, *, model, title: str = "", mask=None, labels=None) -> list[Path]:
        if mask is not None:
            raise ValueError("audio clips have no mask: every sample of a clip is real")
        path = Path(path)
        if path.suffix.lower() != suffix:
            raise ValueError(f"{path}: this writer writes {suffix} files")
        return [write_samples(x, path, sample_rate=model.sample_rate, title=title)]
    write.__name__ = f"write_{suffix[1:]}"
    write.__doc__ = (f"Clips (n, T) or (T,) of ``model`` (its sample_rate) -> [the {suffix} file] "
                     "(see the module docstring); a sound file names no classes, so ``labels`` are ignored.")
    return write


write_wav, write_flac, write_npy = _writer(".wav"), _writer(".flac"), _writer(".npy")


def read_mel(path) -> torch.Tensor:
    """A mel saved with numpy (.npy, no pickle): (n_mels, frames) or (B, n_mels, frames)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"mel file {str(path)!r} does not exist")
    try:
        return torch.from_numpy(np.load(path, allow_pickle=False)).float()
    except ValueError as error:
        raise ValueError(f"{path}: not a numeric .npy array ({error})") from None
