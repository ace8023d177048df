"""The audio modality's declaration (modalities/audio/__init__.py): formats, card facts, CLI hooks, evaluate."""
import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import zoo
from modalities.audio import MODALITY, AudioData, AudioModel, io
from modalities.audio.card import card
from modalities.audio.cli import sample_arguments, sample_options, sample_runner
from zoo.modality import CardFacts, Dataset
from tests.modalities.audio.test_model import tiny

CARDS = Path(__file__).resolve().parents[3] / "model_cards"


@pytest.fixture(scope="module")
def digits():
    return zoo.hub.load_folder(CARDS / "audio" / "diffwave-digits")


def test_the_declaration():
    assert MODALITY.name == "audio" and MODALITY.model_class is AudioModel
    assert [f.suffix for f in MODALITY.formats] == [".wav", ".flac", ".npy"]
    assert MODALITY.preview_format.embed == '<audio controls src="{src}"></audio>'
    assert [r.name for r in MODALITY.releases] == ["audio/diffwave", "audio/diffwave-digits"]
    assert {s.name for s in MODALITY.sources} == {"tuxpaint", "digits"}
    assert all(s.licence and s.install.startswith("apt-get install ") for s in MODALITY.sources)
    data = MODALITY.dataset("digits", crop=8192, mel=False)
    assert isinstance(data, AudioData) and isinstance(data, Dataset) and data.sample_shape == (8192,)
    assert MODALITY.dataset(**data.config()).config() == data.config()
    with pytest.raises(ValueError, match="unknown audio data set 'nope'"):
        MODALITY.dataset("nope")


def test_every_format_round_trips_samples_of_a_released_model(digits, tmp_path):
    x = digits.sample(2, seconds=0.05, steps=2, generator=torch.Generator().manual_seed(0))
    assert x.shape == (2, round(0.05 * 22050))
    for entry in MODALITY.formats:
        written = entry.write(x, tmp_path / f"s{entry.suffix}", model=digits, title="two clips")
        assert written == [tmp_path / f"s{entry.suffix}"]
        back = entry.read(written[0])
        assert back.shape == x.shape
        if entry.suffix == ".npy":
            torch.testing.assert_close(back, x, rtol=0, atol=0)
        else:  # 16 bits, clipped to [-1, 1]
            assert (back - x.clamp(-1, 1)).abs().max() <= 1 / 32767 + 1e-6
    with pytest.raises(ValueError, match="no mask"):
        MODALITY.format(".wav").write(x, tmp_path / "m.wav", model=digits, mask=torch.ones(2, 10))
    with pytest.raises(ValueError, match="writes .flac files"):
        MODALITY.format(".flac").write(x, tmp_path / "m.wav", model=digits)


def test_a_recording_without_the_layout_tag_reads_as_one_clip(tmp_path):
    x = 0.2 * torch.sin(torch.arange(3000) * 0.1)
    io.write_audio(tmp_path / "r.wav", x, 22050)
    assert io.read_samples(tmp_path / "r.wav").shape == (1, 3000)
    assert io.read_samples(CARDS / "audio" / "diffwave" / "samples" / "reference.flac").shape[0] == 1


@pytest.mark.parametrize("name", ["audio/diffwave", "audio/diffwave-digits"])
def test_card_facts_and_the_released_metrics(name):
    config = zoo.hub.read_config(CARDS / name)
    facts = card(config)
    assert isinstance(facts, CardFacts) and [s.name for s in facts.sources] == [config["data"]["name"]]
    assert "pip install" not in facts.example and "Front end (hash" in facts.data_note
    compile(facts.example, "example", "exec")
    metrics = json.loads((CARDS / name / "metrics.json").read_text())
    bits = metrics[MODALITY.primary.key]
    assert MODALITY.primary.lower_is_better and isinstance(bits, float) and 0 < bits < 16
    judged_by = MODALITY.primary_for(metrics["protocol"])
    assert judged_by.key == ("mrstft_band" if name == "audio/diffwave" else "bits_per_sample")
    assert judged_by.lower_is_better and isinstance(metrics[judged_by.key], float)
    assert metrics["likelihood_clips"] == 4 and metrics["likelihood_rtol"] == metrics["likelihood_atol"] == 1e-3
    assert metrics["device"].startswith("CPU, ") and "threads" not in metrics
    assert set(facts.metrics) >= {k for k, v in metrics.items() if isinstance(v, float) and k not in
                                  facts.protocol_settings and k not in zoo.cards.SETTINGS}
    phrases = "".join(p.format(**metrics) for k, p in facts.protocol_settings.items() if k in metrics)
    assert "bits per sample: the centre 0.2554 s of 4 held-out clips" in phrases


def _args(*argv):
    parser = argparse.ArgumentParser()
    sample_arguments(parser.add_argument_group("audio"))
    args = parser.parse_args(list(argv))
    args.guidance = args.label = None  # generic flags of zoo sample
    return args


def test_sample_options_take_the_flags_that_fit_the_model(tmp_path):
    vocoder, unconditional = tiny(), tiny(unconditional=True)
    assert sample_options(unconditional, _args("--seconds", "0.5")) == {"seconds": 0.5}
    assert sample_options(unconditional, _args()) == {}
    assert sample_options(vocoder, _args("--mel", "m.npy")) == {}
    for model, argv, message in [
            (vocoder, (), "is a vocoder: give it --from-wav IN.wav or --mel MEL.npy"),
            (vocoder, ("--mel", "m.npy", "--seconds", "1"), "--seconds is for unconditional"),
            (vocoder, ("--mel", "m.npy", "--from-wav", "a.wav"), "not both"),
            (unconditional, ("--from-wav", "a.wav"), "need a vocoder"),
            (unconditional, ("--seconds", "0"), "--seconds must be positive")]:
        with pytest.raises(ValueError, match=message):
            sample_options(model, _args(*argv))


def test_the_sample_runner_vocodes_a_mel_or_leaves_sampling_to_the_zoo(tmp_path):
    vocoder = tiny()
    mel = vocoder.frontend(0.1 * torch.sin(torch.arange(2560) * 0.05))
    np.save(tmp_path / "mel.npy", mel.numpy())
    args = _args("--mel", str(tmp_path / "mel.npy"))
    line = sample_runner(vocoder, args, tmp_path / "out.wav", torch.Generator().manual_seed(0),
                         {"steps": 2, "sampler": "ddim", "timesteps": "logsnr"})
    assert line == f"wrote {2560 / 22050:.2f} s of audio from {tmp_path / 'mel.npy'} to {tmp_path / 'out.wav'}"
    assert io.read_samples(tmp_path / "out.wav").shape == (1, 2560)
    args.guidance = 2.0
    with pytest.raises(ValueError, match="takes no --guidance"):
        sample_runner(vocoder, args, tmp_path / "out.wav", torch.Generator(), {})
    with pytest.raises(ValueError, match="give it --from-wav"):  # the zoo asks the runner first
        sample_runner(vocoder, _args(), tmp_path / "out.wav", torch.Generator(), {})
    assert sample_runner(tiny(unconditional=True), _args(), tmp_path / "x.wav", torch.Generator(), {}) is None


def test_evaluate_refuses_guidance():
    with pytest.raises(ValueError, match="takes no guidance"):
        MODALITY.evaluate(tiny(), None, n=1, guidance=2.0)
