import numpy as np
import pytest
import soundfile
import torch

from modalities.audio import io


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
def test_audio_round_trip_at_16_bits(tmp_path, suffix):
    x = 0.5 * torch.sin(torch.arange(22050) * 0.03)
    path = io.write_audio(tmp_path / f"a{suffix}", x, 22050)
    y, rate = io.read_audio(path)
    assert rate == 22050 and y.shape == x.shape and (y - x).abs().max() < 1 / 32767 + 1e-6


def test_samples_file_and_mels(tmp_path):
    x = torch.rand(3, 1000) - 0.5
    io.write_samples(x, tmp_path / "s.wav", sample_rate=22050, title="three clips")
    y, _ = io.read_audio(tmp_path / "s.wav")
    assert y.shape == (3 * 1000 + 2 * (22050 // 4),)
    torch.testing.assert_close(y[1000 + 22050 // 4: 2000 + 22050 // 4], x[1], atol=1 / 32767 + 1e-6, rtol=0)
    clips = io.read_samples(tmp_path / "s.wav")  # split again by the file's layout tag
    assert clips.shape == (3, 1000) and (clips - x).abs().max() <= 1 / 32767 + 1e-6
    with soundfile.SoundFile(str(tmp_path / "s.wav")) as f:
        assert f.title == "three clips" and f.comment == "zoo-audio-samples/1 n=3 length=1000 gap=5512"
    io.write_samples(x, tmp_path / "s.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "s.npy"), x.numpy())
    np.save(tmp_path / "mel.npy", np.zeros((80, 5), np.float32))
    assert io.read_mel(tmp_path / "mel.npy").shape == (80, 5)


def test_bad_files_are_named(tmp_path):
    (tmp_path / "junk.wav").write_bytes(b"not audio")
    with pytest.raises(ValueError, match="junk.wav: not a readable sound file"):
        io.read_audio(tmp_path / "junk.wav")
    with pytest.raises(ValueError, match="does not exist"):
        io.read_audio(tmp_path / "none.wav")
    io.write_audio(tmp_path / "cut.wav", torch.zeros(100), 22050, comment="zoo-audio-samples/1 n=2 length=60 gap=10")
    with pytest.raises(ValueError, match="2 clips of 60 samples 10 apart, but it holds 100"):
        io.read_samples(tmp_path / "cut.wav")
    with pytest.raises(ValueError, match="clips \\(n, T\\) or one clip"):
        io.write_samples(torch.zeros(2, 3, 4), tmp_path / "x.npy")
    with pytest.raises(ValueError, match="write .wav or .flac"):
        io.write_audio(tmp_path / "a.mp3", torch.zeros(10), 22050)
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="obj.npy: not a numeric .npy array"):
        io.read_mel(tmp_path / "obj.npy")
