import math
import sys

import pytest
import torch

from modalities.audio.frontend import FrontEnd
from modalities.audio.metrics import (NotComputed, compare, griffin_lim, log_spectral_distance, mcd13, mel_l1, mrstft_distance,
                                      optional_metric, pesq_wb, si_sdr, stoi, summarise)

SR = 22050
T = 256 * 130  # 1.5 s
t = torch.arange(T, dtype=torch.float64) / SR


pytestmark = pytest.mark.usefixtures("one_thread")  # Griffin-Lim is hundreds of small FFTs


@pytest.fixture(scope="module")
def frontend():
    return FrontEnd()


def white(seed: int, n: int = T, std: float = 0.1) -> torch.Tensor:
    return std * torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def band_limited(seed: int = 0) -> torch.Tensor:
    """Noise whose spectrum falls linearly to zero at 7.8 kHz, under the front end's f_max of 8 kHz (T,)."""
    f = torch.fft.rfftfreq(T, 1 / SR, dtype=torch.float64)
    x = torch.fft.irfft(torch.fft.rfft(white(seed)) * (1 - f / 7800).clamp(min=0) ** 2, T)
    return 0.1 * x / x.std()


def speech_like(seed: int = 0) -> torch.Tensor:
    """A gliding 140 Hz harmonic tone with a formant-like envelope over a -50 dB breath noise,
    amplitude-modulated at 4 Hz (T,)."""
    gen = torch.Generator().manual_seed(seed)
    phase = 2 * math.pi * torch.cumsum(140 + 30 * torch.sin(2 * math.pi * 1.3 * t), 0) / SR
    x = torch.zeros_like(t)
    for k in range(1, 40):
        f = 140 * k
        amp = math.exp(-((f - 500) / 300) ** 2) / (1 + (f / 700) ** 2) + 0.3 / (1 + (f / 1500) ** 4)
        x += amp * torch.sin(k * phase + 2 * math.pi * torch.rand((), generator=gen, dtype=torch.float64))
    x = x / x.abs().max() + 3e-3 * white(seed + 100, std=1.0)
    return 0.3 * x * (0.55 + 0.45 * torch.sin(2 * math.pi * 4 * t))


def chirp() -> torch.Tensor:
    return 0.5 * torch.sin(2 * math.pi * (200 * t + 3800 / (2 * t[-1]) * t ** 2))


def clicks() -> torch.Tensor:
    """A unit impulse every 100 ms: broadband events that pin down timing (T,)."""
    x = torch.zeros(T, dtype=torch.float64)
    x[1000::2205] = 1.0
    return x


@pytest.fixture(scope="module")
def reconstructions(frontend):
    signals = {"band_limited": band_limited(), "chirp": chirp(), "clicks": clicks()}
    return {name: (x, griffin_lim(frontend(x), frontend)) for name, x in signals.items()}


def test_identical_signals_score_perfectly(frontend):
    x = speech_like()
    assert mrstft_distance(x, x) == 0.0
    assert mel_l1(x, x, frontend) == 0.0
    assert mcd13(x, x, frontend) == 0.0
    assert log_spectral_distance(x, x) == 0.0
    assert si_sdr(x, x) > 200  # rounding in <est, ref> / <ref, ref> leaves ~1e-16 of "noise"
    assert si_sdr(x, torch.zeros_like(x)) == -math.inf
    assert si_sdr(torch.tensor([1.0, -1.0, 1.0, -1.0]), torch.tensor([2.0, -2.0, 2.0, -2.0])) == math.inf
    value, why = optional_metric(pesq_wb, x, x, SR)
    if why is None or "not installed" not in why:
        assert value == pytest.approx(4.64, abs=0.05)
    value, why = optional_metric(stoi, x, x, SR)
    if why is None or "not installed" not in why:
        assert value == pytest.approx(1.0, abs=1e-6)


def test_si_sdr_closed_form():
    ref = speech_like()
    ref = ref - ref.mean()
    noise = white(2)
    noise = noise - noise.mean()
    noise = noise - (noise @ ref) / (ref @ ref) * ref  # orthogonal to the reference: the target is ref itself
    for snr in (-5.0, 0.0, 12.5, 30.0):
        scaled = noise * (ref.norm() / noise.norm()) * 10 ** (-snr / 20)
        assert si_sdr(ref, ref + scaled) == pytest.approx(snr, abs=0.1)
        assert si_sdr(ref, 0.3 * (ref + scaled)) == pytest.approx(si_sdr(ref, ref + scaled), abs=1e-9)
        assert si_sdr(ref, ref + scaled + 0.7) == pytest.approx(snr, abs=0.1)  # an offset is removed
    with pytest.raises(ValueError, match="silent"):
        si_sdr(torch.zeros(T), white(3))


def test_mrstft_of_a_doubled_signal_is_log_2():
    x = white(4)
    for n in (512, 1024, 2048):  # the premise: no bin reaches the 1e-5 floor, so nothing is clamped
        spec = torch.stft(x, n, n // 4, window=torch.hann_window(n, dtype=x.dtype), return_complex=True)
        assert spec.abs().min() > 1e-4
    assert mrstft_distance(x, 2 * x) == pytest.approx(math.log(2), abs=1e-3)
    assert mrstft_distance(2 * x, x) == pytest.approx(math.log(2), abs=1e-3)


def test_lsd_of_a_power_scaled_copy_is_the_power_ratio_in_db():
    x = white(5)
    assert log_spectral_distance(x, 2 * x) == pytest.approx(10 * math.log10(4), abs=1e-6)
    assert log_spectral_distance(x, x / math.sqrt(10)) == pytest.approx(10.0, abs=1e-6)


def test_a_gain_moves_only_c0_so_mcd13_ignores_it(frontend):
    x = white(6)
    assert mcd13(x, 0.5 * x, frontend) < 0.01
    assert mel_l1(x, 0.5 * x, frontend) == pytest.approx(math.log(2), abs=1e-4)  # the gain is all there, in the mean
    assert mcd13(x, band_limited(6), frontend) > 1.0  # a different spectral shape is not ignored


def test_noisier_estimates_score_worse_on_every_metric(frontend):
    ref = speech_like()
    rows = [compare(ref, ref + std * white(7, std=1.0), frontend) for std in (0.001, 0.01, 0.05, 0.2)]
    for name in ("mrstft", "mel_l1", "mcd13", "lsd"):
        values = [r[name] for r in rows]
        assert values == sorted(values) and values[0] < values[-1], (name, values)
    for name in ("si_sdr", "pesq_wb", "stoi"):
        values = [r[name] for r in rows]
        if None in values:
            assert rows[0]["not_computed"][name]
            continue
        assert values == sorted(values, reverse=True) and values[0] > values[-1], (name, values)


def test_griffin_lim_length_and_determinism(frontend):
    x = band_limited()[: 256 * 40 + 77]
    mel = frontend(x)
    y = griffin_lim(mel, frontend, n_iter=8)
    assert y.shape == (40 * 256,) == (mel.shape[1] * frontend.hop,)
    torch.manual_seed(11)
    before = torch.rand(3)
    torch.manual_seed(11)
    assert torch.equal(griffin_lim(mel, frontend, n_iter=8, seed=1), griffin_lim(mel, frontend, n_iter=8, seed=1))
    assert torch.equal(torch.rand(3), before)  # the caller's random state is untouched
    with pytest.raises(ValueError, match="n_mels=80"):
        griffin_lim(mel[:40], frontend)


def test_griffin_lim_reconstructs_clean_signals(reconstructions, frontend):
    x, y = reconstructions["band_limited"]
    assert mrstft_distance(x, y) < 0.55
    assert mrstft_distance(x, white(8, std=float(x.std()))) > 3.0
    # A chirp is all narrow-band: the mel's smearing of each partial and the 1e-5 floor around
    # it keep the full-band log distance near 1.5 even when the mel is matched.
    x, y = reconstructions["chirp"]
    assert mel_l1(x, y, frontend) < 0.5
    assert mrstft_distance(x, y) < 0.25 * mrstft_distance(x, white(9, std=float(x.std())))


def envelope_lag(ref: torch.Tensor, est: torch.Tensor, max_lag: int = 300) -> int:
    """How many samples est lags behind ref (negative: ahead), from their 64-sample energy envelopes."""
    def envelope(x):
        e = torch.nn.functional.avg_pool1d(x.square()[None, None], 64, 1, 32)[0, 0]
        return e - e.mean()
    a, b = envelope(ref.double()), envelope(est.double())
    n = len(a)
    scores = [float(a[max(0, -k): n - max(0, k)] @ b[max(0, k): n + min(0, k)]) for k in range(-max_lag, max_lag + 1)]
    return max(range(len(scores)), key=scores.__getitem__) - max_lag


def test_griffin_lim_output_is_aligned_with_its_input(reconstructions, frontend):
    x, y = reconstructions["clicks"]
    assert abs(envelope_lag(x, y)) <= 16
    assert abs(envelope_lag(x, torch.roll(y, 128)) - 128) <= 16  # the check sees a half-hop error
    for metric in (mrstft_distance, lambda a, b: mel_l1(a, b, frontend)):
        aligned = metric(x, y)
        assert aligned < 0.9 * metric(x, torch.roll(y, 128)) and aligned < 0.9 * metric(x, torch.roll(y, -128))


def test_pesq_and_stoi_say_why_they_were_not_computed(monkeypatch):
    silence = torch.zeros(T, dtype=torch.float64)
    value, why = optional_metric(pesq_wb, silence, white(10), SR)
    assert value is None and why
    assert pesq_wb(silence, white(10), SR) is None
    with pytest.raises(NotComputed):
        pesq_wb(silence, white(10), SR, strict=True)
    short = speech_like()[: SR // 4]
    value, why = optional_metric(stoi, short, short, SR)
    assert value is None and ("Not enough STFT frames" in why or "not installed" in why)  # pystoi would say 1e-5
    monkeypatch.setitem(sys.modules, "pesq", None)
    monkeypatch.setitem(sys.modules, "pystoi", None)
    x = speech_like()
    for metric in (pesq_wb, stoi):
        value, why = optional_metric(metric, x, x, SR)
        assert value is None and "not installed" in why
    assert compare(x, x, FrontEnd())["not_computed"].keys() == {"pesq_wb", "stoi"}


def test_summarise_means_per_utterance_and_counts_missing_values():
    rows = [{"mrstft": 1.0, "mel_l1": 0.1, "mcd13": 4.0, "lsd": 10.0, "si_sdr": -10.0, "pesq_wb": 3.0, "stoi": None,
             "not_computed": {"stoi": "too short"}},
            {"mrstft": 2.0, "mel_l1": 0.3, "mcd13": 6.0, "lsd": 20.0, "si_sdr": -20.0, "pesq_wb": None, "stoi": None,
             "not_computed": {"pesq_wb": "no utterance", "stoi": "too short"}}]
    s = summarise(rows)
    assert s["protocol"] == "audio-vocoder-eval/1" and s["n"] == 2
    assert s["mrstft"] == 1.5 and s["n_mrstft"] == 2 and s["mcd13"] == 5.0
    assert s["pesq_wb"] == 3.0 and s["n_pesq_wb"] == 1
    assert s["stoi"] is None and s["n_stoi"] == 0
    assert s["not_computed"] == {"stoi": ["too short"], "pesq_wb": ["no utterance"]}


@pytest.mark.parametrize("metric", [mrstft_distance, log_spectral_distance, si_sdr,
                                    lambda a, b: mel_l1(a, b, FrontEnd()), lambda a, b: mcd13(a, b, FrontEnd()),
                                    lambda a, b: pesq_wb(a, b, SR), lambda a, b: stoi(a, b, SR),
                                    lambda a, b: compare(a, b, FrontEnd())])
def test_mismatched_lengths_name_both_shapes(metric):
    with pytest.raises(ValueError, match=r"\(5000,\).*\(4999,\)"):
        metric(white(12, 5000), white(13, 4999))


def test_band_limited_mrstft_ignores_what_lies_above_max_hz():
    t = torch.arange(22050, dtype=torch.float64) / 22050
    low = 0.3 * torch.sin(2 * math.pi * 500 * t)
    high = 0.3 * torch.sin(2 * math.pi * 10000 * t)
    band, full = mrstft_distance(low, low + high, max_hz=8000.0), mrstft_distance(low, low + high)
    assert band < 0.15 * full  # what is left in band is the window's leakage of the 10 kHz tone
