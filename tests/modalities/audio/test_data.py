import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from modalities.audio import data

SR = data.SAMPLE_RATE


def tone(seconds: float, rate: int, amplitude: float = 0.5, hz: float = 220.0) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def padded(x: np.ndarray, rate: int, before: float, after: float) -> np.ndarray:
    return np.concatenate([np.zeros(round(before * rate), np.float32), x, np.zeros(round(after * rate), np.float32)])


def stamps(heldout: bool, n: int, prefix: str = "s") -> list[str]:
    """The first ``n`` stamp names ``animals/<prefix><i>`` on the given side of the split rule."""
    names = (f"animals/{prefix}{i}" for i in range(100_000))
    out = [s for s in names if data.heldout_stamp(s) == heldout]
    return out[:n] if len(out) >= n else pytest.fail("not enough stamps")


def write(root: Path, name: str, x: np.ndarray, rate: int) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if name.endswith(".ogg"):
        soundfile.write(path, x, rate, format="OGG", subtype="VORBIS")
    else:
        soundfile.write(path, x, rate, subtype="FLOAT")
    return path


@pytest.fixture
def stamps_tree(tmp_path):
    """A fake stamps folder: 4 train and 2 held-out stamps, each in two languages (44.1 kHz stereo OGG
    and 8 kHz mono WAV), 0.2-0.3 s of silence around 1-1.5 s of tone; no two files alike."""
    root = tmp_path / "stamps"
    for k, stamp in enumerate(stamps(False, 4) + stamps(True, 2)):
        mono = padded(tone(1.0 + 0.1 * k, 44100), 44100, 0.3, 0.2)
        write(root, f"{stamp}_desc_fr.ogg", np.stack([mono, 0.5 * mono], 1), 44100)
        write(root, f"{stamp}_desc_ru.wav", padded(tone(1.5, 8000, hz=300.0 + 10 * k), 8000, 0.2, 0.3), 8000)
    return root


def test_trim_silence_keeps_the_sound_to_within_one_frame():
    x = torch.from_numpy(padded(tone(1.0, SR), SR, 0.4, 0.3))
    onset, frame = round(0.4 * SR), data.FRAME
    first, last = onset // frame, (onset + SR - 1) // frame  # the frames holding the tone's ends
    assert torch.equal(data.trim_silence(x), x[first * frame:(last + 1) * frame])
    assert len(data.trim_silence(torch.zeros(1000))) == 0


@pytest.mark.parametrize("rate, channels", [(44100, 2), (8000, 1)])
def test_recording_is_resampled_mixed_and_trimmed(tmp_path, rate, channels):
    mono = padded(tone(1.0, rate), rate, 0.25, 0.25)
    x = np.stack([mono, 0.5 * mono], 1) if channels == 2 else mono
    y = data.load_recording(write(tmp_path, "a_desc_fr.wav", x, rate))
    assert SR <= len(y) < SR + 2 * data.FRAME
    expected = 0.5 * (1 + 0.5) / 2 if channels == 2 else 0.5  # stereo: the mean of the channels
    assert float(y.abs().max()) == pytest.approx(expected, rel=0.02)


def test_hot_recordings_are_scaled_to_peak_095(tmp_path):
    y = data.load_recording(write(tmp_path, "a_desc_fr.wav", tone(1.0, SR, amplitude=1.3), SR))
    assert float(y.abs().max()) == pytest.approx(0.95, abs=1e-6)


def test_prepare_tuxpaint_splits_by_stamp_and_round_trips(stamps_tree, tmp_path):
    path = data.prepare("tuxpaint", tmp_path / "tux.npz", root=stamps_tree)
    assert path == tmp_path / "tux.npz"
    with np.load(path, allow_pickle=False) as f:
        assert str(f["format"]) == data.FORMAT and int(f["sample_rate"]) == SR and str(f["source"]) == "tuxpaint"
        assert f["audio"].dtype == np.int16 and len(f["names"]) == 12 and (f["labels"] == -1).all()
        assert sorted(set(f["languages"].tolist())) == ["fr", "ru"]
        for name, split in zip(f["names"], f["split"]):
            assert split == data.heldout_stamp(data.stamp_of(str(name)))
    train, heldout = data.AudioClips(path), data.AudioClips(path, "heldout")
    assert (len(train), len(heldout)) == (8, 4)
    assert not {data.stamp_of(n) for n in train.names} & {data.stamp_of(n) for n in heldout.names}
    for clips in (train, heldout):
        for i, name in enumerate(clips.names):
            stored, fresh = clips.clip(i), data.load_recording(stamps_tree / name)
            assert stored.dtype == torch.float32 and stored.shape == fresh.shape
            assert float((stored - fresh).abs().max()) <= 0.5 / 32767 + 1e-7
    assert len(train.heldout_utterances()) == 4 and len(train.heldout_utterances(max_n=1)) == 1
    # prepared twice, the same file contents
    again = data.prepare("tuxpaint", tmp_path / "again.npz", root=stamps_tree)
    with np.load(path, allow_pickle=False) as a, np.load(again, allow_pickle=False) as b:
        assert all(np.array_equal(a[k], b[k]) for k in a.files)


def test_identical_recordings_of_two_stamps_land_on_one_side_once(tmp_path):
    root = tmp_path / "stamps"
    (train_stamp,), (heldout_stamp,) = stamps(False, 1, "t"), stamps(True, 1, "h")
    same = write(root, f"{train_stamp}_desc_fr.ogg", tone(1.0, 44100), 44100)
    (root / f"{heldout_stamp}_desc_fr.ogg").write_bytes(same.read_bytes())
    write(root, f"{train_stamp}_desc_ru.ogg", tone(1.2, 44100), 44100)
    with np.load(data.prepare("tuxpaint", tmp_path / "t.npz", root=root), allow_pickle=False) as f:
        assert len(f["names"]) == 2 and len(f["skipped"]) == 1 and "same bytes" in str(f["skipped"][0])
        assert len(set(f["split"].tolist())) == 1  # the group of both stamps sits on one side


def test_minutes_cap_takes_whole_clips_in_a_fixed_order(stamps_tree, tmp_path):
    full = data.AudioClips(data.prepare("tuxpaint", tmp_path / "all.npz", root=stamps_tree))
    cap = 4.0  # seconds of training audio; clips are 1-1.6 s
    capped = data.AudioClips(data.prepare("tuxpaint", tmp_path / "cap.npz", root=stamps_tree, minutes=cap / 60,
                                          heldout_minutes=1.7 / 60))
    order = sorted(full.names, key=lambda n: int(hashlib.sha1(n.encode()).hexdigest(), 16))
    seconds = dict(zip(full.names, (full.lengths / SR).tolist()))
    taken, total = [], 0.0
    for name in order:
        if total + seconds[name] > cap:
            break
        taken.append(name)
        total += seconds[name]
    assert sorted(capped.names) == sorted(taken) and capped.seconds <= cap
    assert len(data.AudioClips(capped.path, "heldout")) == 1


def test_short_and_silent_clips_are_skipped(tmp_path):
    root = tmp_path / "stamps"
    write(root, "a/b_desc_fr.wav", padded(tone(0.5, SR), SR, 0.5, 0.5), SR)
    write(root, "a/c_desc_fr.wav", np.zeros(SR, np.float32), SR)
    write(root, "a/d_desc_fr.wav", tone(1.0, SR), SR)
    (root / "a/e_desc_fr.ogg").write_bytes(b"not a sound file")
    path = data.prepare("tuxpaint", tmp_path / "t.npz", root=root, min_seconds=0.75)
    with np.load(path, allow_pickle=False) as f:
        assert f["names"].tolist() == ["a/d_desc_fr.wav"]
        reasons = dict(s.split(": ", 1) for s in f["skipped"].tolist())
    assert "shorter than" in reasons["a/b_desc_fr.wav"] and "shorter than" in reasons["a/c_desc_fr.wav"]
    assert "unreadable" in reasons["a/e_desc_fr.ogg"]


def test_languages_filter(stamps_tree, tmp_path):
    clips = data.AudioClips(data.prepare("tuxpaint", tmp_path / "t.npz", root=stamps_tree, languages="ru"))
    assert set(clips.languages) == {"ru"} and len(clips) == 4


def test_batches_are_deterministic_and_padded(stamps_tree, tmp_path):
    clips = data.AudioClips(data.prepare("tuxpaint", tmp_path / "t.npz", root=stamps_tree), crop=4096)
    a = clips.batch(16, torch.Generator().manual_seed(3))
    b = clips.batch(16, torch.Generator().manual_seed(3))
    c = clips.batch(16, torch.Generator().manual_seed(4))
    assert a["x"].shape == (16, 4096) and a["x"].dtype == torch.float32 and clips.sample_shape == (4096,)
    assert torch.equal(a["x"], b["x"]) and not torch.equal(a["x"], c["x"])
    assert a["label"].shape == (16,) and float(a["x"].abs().max()) <= 1.0
    long = clips.batch(4, torch.Generator().manual_seed(0), crop=3 * SR)  # longer than every clip
    assert long["x"].shape == (4, 3 * SR) and (long["x"][:, -SR // 2:] == 0).all()
    # every crop is a piece of one stored clip
    joined = torch.cat([clips.clip(i) for i in range(len(clips))])
    windows = joined.unfold(0, 16, 1)
    for row in a["x"][:4]:
        starts = torch.nonzero((windows == row[:16]).all(1)).flatten()[:50].tolist()
        assert any(torch.equal(joined[p:p + 4096], row) for p in starts)


def test_config_rebuilds_the_same_data(stamps_tree, tmp_path):
    clips = data.AudioClips(data.prepare("tuxpaint", tmp_path / "t.npz", root=stamps_tree), "heldout", crop=1024)
    config = clips.config()
    assert config == {"name": "tuxpaint", "path": str(tmp_path / "t.npz"), "split": "heldout", "crop": 1024}
    again = data.AudioClips(**config)
    assert again.names == clips.names and again.seconds == clips.seconds
    with pytest.raises(ValueError, match="digits"):
        data.AudioClips(config["path"], name="digits")


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="apt-get install tuxpaint-stamps-default") as missing:
        data.prepare("tuxpaint", tmp_path / "t.npz", root=tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(missing.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no recordings"):
        data.prepare("tuxpaint", tmp_path / "t.npz", root=tmp_path / "empty")
    with pytest.raises(ValueError, match="zoo data prepare audio --source tuxpaint"):
        data.AudioClips(tmp_path / "tuxpaint.npz")
    np.savez(tmp_path / "other.npz", format=np.array("something-else/1"))
    with pytest.raises(ValueError, match="format"):
        data.AudioClips(tmp_path / "other.npz")
    with pytest.raises(ValueError, match="unknown split 'test'"):
        data.AudioClips(tmp_path / "other.npz", split="test")
    with pytest.raises(ValueError, match="unknown audio source"):
        data.prepare("librispeech", tmp_path / "x.npz")
    with pytest.raises(ValueError, match="no option"):
        data.prepare("digits", tmp_path / "x.npz", minutes=3)


def test_default_paths():
    assert data.DEFAULT_PATHS == {"tuxpaint": Path(".data/audio/tuxpaint.npz"), "digits": Path(".data/audio/digits.npz")}


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (apt-get install espeak-ng)")
def test_prepare_digits(tmp_path):
    path = data.prepare("digits", tmp_path / "d.npz", n=12, seed=1)
    clips, heldout = data.AudioClips(path, crop=SR), data.AudioClips(path, "heldout")
    assert len(clips) + len(heldout) == 12 and (clips.lengths == SR).all() and (heldout.lengths == SR).all()
    with np.load(path, allow_pickle=False) as f:
        assert f["labels"].tolist() == [i % 10 for i in range(12)] and str(f["source"]) == "digits"
        for name, split in zip(f["names"].tolist(), f["split"]):
            voice, variant = name.split("-", 3)[3].rsplit("-s", 1)[0].split("+")
            assert split == data.heldout_speaker(voice, variant)
    for x in [clips.clip(i) for i in range(len(clips))] + heldout.heldout_utterances():
        sound = torch.nonzero(x).flatten()
        assert float(x.abs().max()) > 0.05
        if sound[0] > 0:  # speech shorter than 1 s sits in the middle, to within the trimming's frame
            assert abs((sound[0] + sound[-1]) / 2 - SR / 2) <= data.FRAME
    first, second = (clips.batch(3, torch.Generator().manual_seed(0))["x"] for _ in range(2))
    assert first.shape == (3, SR) and torch.equal(first, second)
    again = data.prepare("digits", tmp_path / "again.npz", n=12, seed=1)
    with np.load(path, allow_pickle=False) as a, np.load(again, allow_pickle=False) as b:
        assert np.array_equal(a["audio"], b["audio"]) and np.array_equal(a["names"], b["names"])


@pytest.mark.skipif(not data.TUXPAINT_STAMPS.is_dir(), reason="needs tuxpaint-stamps-default")
def test_prepare_real_tuxpaint_subset(tmp_path):
    path = data.prepare("tuxpaint", tmp_path / "tux.npz", minutes=0.5, heldout_minutes=0.2)
    train, heldout = data.AudioClips(path), data.AudioClips(path, "heldout")
    assert train.sample_rate == SR and len(train) > 0 and len(heldout) > 0
    assert 0.3 * 60 < train.seconds <= 0.5 * 60 and heldout.seconds <= 0.2 * 60
    assert not {data.stamp_of(n) for n in train.names} & {data.stamp_of(n) for n in heldout.names}
    assert all(len(train.clip(i)) >= 0.75 * SR for i in range(len(train)))
