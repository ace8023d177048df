"""Long audio in bounded memory (modalities/audio/stream.py, AudioModel.vocode_stream / resynthesize_stream)."""
import math

import numpy as np
import pytest
import soundfile
import torch
import torchaudio

from modalities.audio import io, stream
from modalities.audio.frontend import DEFAULT, FrontEnd
from tests.modalities.audio.test_model import tiny


def signal(length, seed=0, batch=1):
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(length, dtype=torch.float32)
    return 0.3 * torch.sin(t * 0.03) * torch.sin(t * 0.0007)[None] + 0.05 * torch.randn(batch, length, generator=g)


def split(x, sizes):
    """x (B, T) cut into pieces of the given sizes, cycling, the last one whatever is left."""
    out, at, k = [], 0, 0
    while at < x.shape[-1]:
        out.append(x[..., at: at + sizes[k % len(sizes)]])
        at, k = at + sizes[k % len(sizes)], k + 1
    return out


@pytest.mark.parametrize("orig, new", [(48000, 22050), (44100, 22050), (16000, 22050), (8000, 22050)])
def test_resampling_in_pieces_is_torchaudios_resampling_of_the_whole(orig, new):
    x = signal(20000, batch=2)
    whole = torchaudio.functional.resample(x, orig, new)
    pieces = list(stream.resample_stream(split(x, [3001, 517, 7000]), orig, new, block=2048))
    assert len(pieces) >= 4
    torch.testing.assert_close(torch.cat(pieces, -1), whole, atol=2e-6, rtol=0)
    assert whole.shape[-1] == stream.resampled_length(20000, orig, new)


def test_the_direct_kernel_is_torchaudios_kernel(monkeypatch):
    x = signal(9000)
    monkeypatch.setattr(stream, "KERNEL_BUDGET", 0)  # every rate takes the direct evaluation
    for orig, new in [(48000, 22050), (22050, 16000)]:
        direct = torch.cat(list(stream.resample_stream(split(x, [2500]), orig, new, block=1000)), -1)
        torch.testing.assert_close(direct, torchaudio.functional.resample(x, orig, new), atol=5e-6, rtol=0)  # its kernel is float32


def test_a_rate_prime_to_the_models_resamples_a_sine_in_bounded_memory(monkeypatch):
    """44,101 Hz -> 22,050 Hz: torchaudio would build a 7.8 GB filter bank; the stream never calls it."""
    def refuse(*args, **kwargs):
        raise AssertionError("torchaudio's filter bank for 44101 -> 22050 Hz")
    monkeypatch.setattr(torchaudio.functional, "resample", refuse)
    t_in = torch.arange(44101, dtype=torch.float64) / 44101
    x = torch.sin(2 * math.pi * 1000 * t_in).float()[None]
    y = torch.cat(list(stream.resample_stream(split(x, [10000]), 44101, 22050)), -1)
    assert y.shape == (1, 22050)
    want = torch.sin(2 * math.pi * 1000 * torch.arange(22050, dtype=torch.float64) / 22050)
    assert (y[0, 200:-200].double() - want[200:-200]).abs().max() < 2e-3  # the sine, away from the edges


@pytest.mark.parametrize("length", [385, 1000, 2560, 20001])
def test_the_mel_in_pieces_is_the_mel_of_the_whole(length):
    frontend, x = FrontEnd(DEFAULT), signal(length, batch=2)
    pieces = list(stream.mel_stream(frontend, split(x, [700, 1300]), frames=3))
    torch.testing.assert_close(torch.cat(pieces, -1), frontend(x), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="too short for the front end"):
        list(stream.mel_stream(frontend, [x[:, :300]]))


def mels(model, frames, batch=1):
    return model.frontend(signal(frames * 256, batch=batch))


@pytest.mark.parametrize("chunk_frames, context", [(8, 3), (3, 7), (5, 0)])
def test_vocoding_does_not_depend_on_how_the_mel_arrives(chunk_frames, context):
    model, mel = tiny(), mels(tiny(), 37, batch=2)
    options = {"chunk_frames": chunk_frames, "context": context, "steps": 2, "timesteps": "linspace"}
    whole = model.vocode(mel, generator=torch.Generator().manual_seed(0), **options)
    for sizes in ([37], [1], [5, 11], [20, 2]):
        got = torch.cat(list(model.vocode_stream(split(mel, sizes), generator=torch.Generator().manual_seed(0),
                                                 **options)), -1)
        torch.testing.assert_close(got, whole, atol=1e-5, rtol=0)
    assert whole.shape == (2, 37 * 256) and torch.isfinite(whole).all()


def test_the_vocoder_streams_its_output_before_the_mel_has_all_arrived():
    model, mel = tiny(), mels(tiny(), 60)
    read = []

    def arriving():
        for k, piece in enumerate(split(mel, [4])):
            read.append(k)
            yield piece
    out = model.vocode_stream(arriving(), chunk_frames=8, context=2, steps=1, timesteps="linspace")
    first = next(out)
    assert first.shape == (1, 6 * 256) and len(read) == 3  # chunk 0 and its context: 10 frames, 3 pieces of 4
    assert sum(p.shape[-1] for p in out) + first.shape[-1] == 60 * 256


def test_resynthesizing_a_stream_is_resynthesizing_the_whole():
    model = tiny()
    x = signal(30001)
    options = {"steps": 2, "timesteps": "linspace", "chunk_frames": 16}
    whole = model.resynthesize(x[0], 32000, generator=torch.Generator().manual_seed(1), **options)
    assert whole.shape == (stream.resampled_length(30001, 32000, 22050),)
    pieces = list(model.resynthesize_stream(split(x, [4000, 999]), 32000, generator=torch.Generator().manual_seed(1),
                                            **options))
    torch.testing.assert_close(torch.cat(pieces, -1)[0], whole, atol=1e-5, rtol=0)


def test_nan_in_a_mel_a_waveform_or_a_file_is_named(tmp_path):
    model = tiny()
    mel = mels(model, 10)
    mel[0, 3, 7] = float("nan")
    with pytest.raises(ValueError, match="mel holds NaN or infinite values \\(first at frame 7\\)"):
        model.vocode(mel)
    x = signal(3000)[0]
    x[100] = float("inf")
    with pytest.raises(ValueError, match="waveform holds NaN or infinite samples"):
        model.resynthesize(x, 22050)
    path = tmp_path / "nan.wav"
    soundfile.write(str(path), np.array([0.1, np.nan, 0.2] * 100, dtype=np.float32), 22050, subtype="FLOAT")
    with pytest.raises(ValueError, match="holds NaN or infinite samples"):
        io.read_audio(path)
    rate, frames, blocks = io.read_audio_blocks(path)
    with pytest.raises(ValueError, match="holds NaN or infinite samples"):
        list(blocks)


@pytest.mark.parametrize("suffix", [".wav", ".npy"])
def test_a_streamed_file_is_the_samples_file_of_the_clip(tmp_path, suffix):
    x = signal(5000)
    path = io.write_stream(split(x, [1234]), tmp_path / f"a{suffix}", 5000, sample_rate=22050)
    back = io.read_samples(path)
    assert back.shape == (1, 5000)
    torch.testing.assert_close(back, x, atol=2.0 ** -15 if suffix == ".wav" else 0, rtol=0)
    with pytest.raises(ValueError, match="held 5000 samples, not the 6000 announced"):
        io.write_stream(split(x, [1234]), tmp_path / f"b{suffix}", 6000, sample_rate=22050)
    assert not (tmp_path / f"b{suffix}").exists() and not list(tmp_path.glob(".b*"))
