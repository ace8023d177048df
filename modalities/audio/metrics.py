"""The audio (vocoder) evaluation suite, protocol ``audio-vocoder-eval/1``.

Every metric compares a reference waveform ``ref`` (T,) with an estimate ``est`` (T,) of the
same length, both at the front end's sample rate (22,050 Hz by default), and returns a Python
float.  The signals are assumed time-aligned (a vocoder's output against the recording its mel
came from): nothing is shifted or warped.

- ``mrstft``: multi-resolution STFT log-magnitude distance (natural log, lower is better);
- ``mrstft_band``: the same over the bins up to the front end's f_max (what a mel carries);
- ``mel_l1``: mean absolute difference of the front end's log-mels (natural log);
- ``mcd13``: mel-cepstral distortion in dB over c1..c13 of the front end's log-mel (not SPTK's);
- ``lsd``: log-spectral distance in dB;
- ``si_sdr``: scale-invariant signal-to-distortion ratio in dB (higher is better);
- ``pesq_wb``: wide-band PESQ at 16 kHz (``pesq`` package; -0.5..4.64, higher is better);
- ``stoi``: short-time objective intelligibility (``pystoi``; 0..1, higher is better).

PESQ and STOI may be "not computed" (package missing, or the input refused, e.g. no speech
found): they are then None with the reason beside them, never a substitute number.
"""
from __future__ import annotations

import math
import warnings

import torch
import torchaudio

__all__ = ["PROTOCOL", "NotComputed", "mrstft_distance", "mel_l1", "mcd13", "log_spectral_distance", "si_sdr", "pesq_wb",
           "stoi", "optional_metric", "griffin_lim", "compare", "summarise"]

PROTOCOL = "audio-vocoder-eval/1"


class NotComputed(RuntimeError):
    """A metric that cannot be computed here or for this input; ``str()`` says why."""


def _pair(ref, est) -> tuple[torch.Tensor, torch.Tensor]:
    """ref, est: (T,) each, same shape -> both as float64 tensors."""
    ref, est = torch.as_tensor(ref), torch.as_tensor(est)
    if ref.dim() != 1 or ref.shape != est.shape:
        raise ValueError(f"ref and est must be waveforms (T,) of the same length, got ref {tuple(ref.shape)} "
                         f"and est {tuple(est.shape)}")
    return ref.double(), est.double().to(ref.device)


def _logmel(frontend, x: torch.Tensor) -> torch.Tensor:
    """x: (T,) -> the front end's log-mel (n_mels, T // hop) in float64, on x's device."""
    device = next(frontend.buffers()).device
    with torch.no_grad():
        return frontend(x.to(device)).double().to(x.device)


def _stft_magnitude(x: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """x: (T,) -> |STFT| (n_fft // 2 + 1, frames), Hann window n_fft, centred frames, reflect padding."""
    window = torch.hann_window(n_fft, dtype=x.dtype, device=x.device)
    return torch.stft(x, n_fft, hop_length=hop, window=window, center=True, pad_mode="reflect", return_complex=True).abs()


def mrstft_distance(ref, est, ffts=(512, 1024, 2048), eps: float = 1e-5, *, max_hz: float | None = None,
                    sample_rate: int = 22050) -> float:
    """Multi-resolution STFT log-magnitude distance between ref (T,) and est (T,); 0 when equal.

    For each FFT size N in ``ffts``: A, B = |STFT| of ref and est (Hann window of N samples,
    hop N // 4, ``torch.stft`` with center=True and reflect padding, no normalisation), and
    d_N = mean over all frequency bins (N // 2 + 1) and frames of
    |log(max(A, eps)) - log(max(B, eps))| (natural log).  The distance is the plain mean of d_N
    over the resolutions.  Only the log-magnitude L1 term of the usual multi-resolution STFT
    loss: no spectral-convergence term, no weighting of the resolutions.

    All bins up to Nyquist count, and quiet bins weigh as much as loud ones: with the default
    front end (f_max 8 kHz) a vocoder that leaves 8-11 kHz empty, as Griffin-Lim from the mel
    does, scores about 1.6 worse on speech than over the bins below 8 kHz alone.  ``max_hz``
    keeps only the bins at or below that frequency (``sample_rate`` places them): with the front
    end's f_max it measures what a mel can carry, the band the issue's reference figures cover
    (Griffin-Lim from the mel: about 0.70 there).
    """
    ref, est = _pair(ref, est)
    total = 0.0
    for n in ffts:
        a = _stft_magnitude(ref, n, n // 4).clamp_min(eps).log()
        b = _stft_magnitude(est, n, n // 4).clamp_min(eps).log()
        if max_hz is not None:
            keep = int(max_hz * n / sample_rate) + 1  # bins k with k * sample_rate / n <= max_hz
            a, b = a[:keep], b[:keep]
        total += float((a - b).abs().mean())
    return total / len(ffts)


def mel_l1(ref, est, frontend) -> float:
    """Mean |frontend(ref) - frontend(est)| over mels and frames for ref, est (T,): log-mel L1 (nats)."""
    ref, est = _pair(ref, est)
    return float((_logmel(frontend, ref) - _logmel(frontend, est)).abs().mean())


def mcd13(ref, est, frontend) -> float:
    """Mel-cepstral distortion (dB) over c1..c13 between ref (T,) and est (T,), frames time-aligned.

    Cepstra are the orthonormal DCT-II of the front end's natural-log mel (n_mels, frames)
    (``torchaudio.functional.create_dct(14, n_mels, norm="ortho")``); c0, the frame's level, is
    excluded.  Per frame MCD = (10 / ln 10) * sqrt(2 * sum_{k=1..13} (c_k - c'_k)^2), averaged
    over frames, with no dynamic time warping.  This is the log-mel variant: it is not comparable
    with MCD computed on SPTK mel-cepstra (mcep with an all-pass warping constant) as most TTS
    papers report it.
    """
    ref, est = _pair(ref, est)
    mel_ref, mel_est = _logmel(frontend, ref), _logmel(frontend, est)
    dct = torchaudio.functional.create_dct(14, mel_ref.shape[0], norm="ortho").to(mel_ref)  # (n_mels, 14)
    diff = ((mel_ref - mel_est).T @ dct)[:, 1:]  # (frames, 13)
    return float((10 / math.log(10)) * (2 * diff.square().sum(-1)).sqrt().mean())


def log_spectral_distance(ref, est, n_fft: int = 2048, hop: int = 512, eps: float = 1e-10) -> float:
    """Log-spectral distance (dB) between ref (T,) and est (T,).

    P = |STFT|^2 (Hann window n_fft, hop, centred frames), floored at eps; per frame
    sqrt(mean over bins of (10 log10 P_ref - 10 log10 P_est)^2), averaged over frames.
    """
    ref, est = _pair(ref, est)
    a = 10 * _stft_magnitude(ref, n_fft, hop).square().clamp_min(eps).log10()
    b = 10 * _stft_magnitude(est, n_fft, hop).square().clamp_min(eps).log10()
    return float((a - b).square().mean(0).sqrt().mean())


def si_sdr(ref, est) -> float:
    """Scale-invariant SDR (dB) of est (T,) against ref (T,).

    Both are made zero-mean; target = (<est, ref> / <ref, ref>) ref, noise = est - target,
    SI-SDR = 10 log10(|target|^2 / |noise|^2).  An identical estimate scores ~300 dB (float64
    rounding), an exact multiple with zero noise math.inf, one with no component along ref
    (silent or orthogonal) -math.inf.  A silent (constant) reference is an error.
    """
    ref, est = _pair(ref, est)
    ref, est = ref - ref.mean(), est - est.mean()
    ref_energy = float(ref.square().sum())
    if ref_energy == 0.0:
        raise ValueError("si_sdr: the reference is silent (constant), SI-SDR is undefined")
    target = (float(est @ ref) / ref_energy) * ref
    target_energy, noise_energy = float(target.square().sum()), float((est - target).square().sum())
    if target_energy == 0.0:
        return -math.inf
    if noise_energy == 0.0:
        return math.inf
    return 10 * math.log10(target_energy / noise_energy)


def _numpy_at(x: torch.Tensor, sample_rate: int, target_rate: int):
    """x: (T,) float64 -> numpy (T * target_rate / sample_rate,) resampled with torchaudio."""
    if sample_rate != target_rate:
        x = torchaudio.functional.resample(x, sample_rate, target_rate)
    return x.cpu().numpy()


def pesq_wb(ref, est, sample_rate: int, *, strict: bool = False) -> float | None:
    """Wide-band PESQ (MOS-LQO, about -0.5..4.64) of est (T,) against ref (T,) at ``sample_rate``.

    Both are resampled to 16 kHz with ``torchaudio.functional.resample``, then scored by
    ``pesq.pesq(16000, ref, est, "wb")``.  None when the ``pesq`` package is missing or refuses
    the input (no utterance detected, too short); ``strict=True`` raises ``NotComputed`` with the
    reason instead (``optional_metric`` turns that into (None, reason)).
    """
    ref, est = _pair(ref, est)
    try:
        try:
            import pesq
        except ImportError as e:
            raise NotComputed(f"the pesq package is not installed ({e})") from None
        try:
            return float(pesq.pesq(16000, _numpy_at(ref, sample_rate, 16000), _numpy_at(est, sample_rate, 16000), "wb"))
        except pesq.PesqError as e:
            raise NotComputed(f"pesq refused the input: {type(e).__name__}: {e}") from None
    except NotComputed:
        if strict:
            raise
        return None


def stoi(ref, est, sample_rate: int, *, strict: bool = False) -> float | None:
    """STOI (0..1, Taal et al. 2011; pystoi, extended=False) of est (T,) against ref (T,) at ``sample_rate``.

    None when ``pystoi`` is missing or too little speech remains after its silence removal
    (pystoi then warns and returns 1e-5, a number we do not pass on); ``strict=True`` raises
    ``NotComputed`` with the reason instead.
    """
    ref, est = _pair(ref, est)
    try:
        try:
            from pystoi import stoi as _stoi
        except ImportError as e:
            raise NotComputed(f"the pystoi package is not installed ({e})") from None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = float(_stoi(ref.cpu().numpy(), est.cpu().numpy(), sample_rate, extended=False))
        for w in caught:
            if "Not enough STFT frames" in str(w.message):
                raise NotComputed(f"pystoi: {w.message}")
        return value
    except NotComputed:
        if strict:
            raise
        return None


def optional_metric(fn, *args, **kwargs) -> tuple[float | None, str | None]:
    """(value, None), or (None, reason) when ``fn(*args, strict=True, **kwargs)`` raises NotComputed.

    For ``pesq_wb`` and ``stoi``: ``value, why = optional_metric(pesq_wb, ref, est, 22050)``.
    """
    try:
        return fn(*args, strict=True, **kwargs), None
    except NotComputed as e:
        return None, str(e)


def griffin_lim(mel: torch.Tensor, frontend, n_iter: int = 64, seed: int | None = 0) -> torch.Tensor:
    """The baseline vocoder: log-mel (n_mels, frames) of ``frontend`` -> waveform (frames * hop,).

    exp undoes the front end's log, ``torchaudio.transforms.InverseMelScale`` (least squares,
    negative bins clipped to 0) maps mels back to linear magnitudes (n_fft // 2 + 1, frames),
    and ``torchaudio.transforms.GriffinLim`` (momentum 0.99, ``n_iter`` iterations) recovers a
    phase.  The output is aligned with the clip the mel came from: sample i of the result
    estimates sample i of the original.  GriffinLim starts from a random phase drawn from torch's
    global generator; ``seed`` (not None) draws it from a forked generator seeded with ``seed``,
    so the result is deterministic and the caller's random state is left alone.
    """
    c = frontend.config
    n_fft, hop = c["n_fft"], c["hop_length"]
    mel = torch.as_tensor(mel)
    if mel.dim() != 2 or mel.shape[0] != c["n_mels"]:
        raise ValueError(f"griffin_lim expects a log-mel (n_mels={c['n_mels']}, frames), got shape {tuple(mel.shape)}")
    frames = mel.shape[1]
    # GriffinLim's frame k (torch.istft, center=True) is centred on sample k * hop, the front end's on
    # k * hop + shift: synthesise up to the last sample we need and prepend ``shift`` samples by reflection
    # (how GriffinLim's own STFT sees the signal's start).
    shift = frontend.centre_shift
    length = frames * hop - shift  # keeps 1 + length // hop == frames, as GriffinLim's STFT requires
    vocoder = torchaudio.transforms.GriffinLim(
        n_fft=n_fft, n_iter=n_iter, win_length=c["win_length"], hop_length=hop, power=c["power"], momentum=0.99,
        length=length).to(mel.device)
    with torch.no_grad():
        magnitude = frontend.magnitudes(mel)
        if seed is None:
            y = vocoder(magnitude)
        else:
            with torch.random.fork_rng(devices=[mel.device] if mel.device.type == "cuda" else []):
                torch.manual_seed(seed)
                y = vocoder(magnitude)
    return torch.nn.functional.pad(y[None], (shift, 0), mode="reflect")[0] if shift else y


METRICS = ("mrstft", "mrstft_band", "mel_l1", "mcd13", "lsd", "si_sdr", "pesq_wb", "stoi")


def compare(ref, est, frontend) -> dict:
    """Every metric of est (T,) against ref (T,) at the front end's sample rate, one utterance.

    Returns {"mrstft", "mrstft_band", "mel_l1", "mcd13", "lsd", "si_sdr", "pesq_wb", "stoi": float or None,
    "not_computed": {metric: reason}} (pesq_wb / stoi are None when not computable).
    """
    sr = frontend.sample_rate
    row = {"mrstft": mrstft_distance(ref, est),
           "mrstft_band": mrstft_distance(ref, est, max_hz=frontend.config["f_max"], sample_rate=sr),
           "mel_l1": mel_l1(ref, est, frontend), "mcd13": mcd13(ref, est, frontend),
           "lsd": log_spectral_distance(ref, est), "si_sdr": si_sdr(ref, est)}
    reasons = {}
    for name, fn in (("pesq_wb", pesq_wb), ("stoi", stoi)):
        row[name], why = optional_metric(fn, ref, est, sr)
        if why is not None:
            reasons[name] = why
    row["not_computed"] = reasons
    return row


def summarise(rows: list[dict]) -> dict:
    """Per-metric means over utterances (rows from ``compare``), with the protocol beside them.

    Each utterance counts once, whatever its length (a plain mean of per-utterance values).  A
    metric's mean is over the utterances where it was computed; ``n_<metric>`` says how many,
    and the mean is None when none was.  ``not_computed`` maps each metric to the distinct
    reasons it was not computed.
    """
    out = {"protocol": PROTOCOL, "n": len(rows)}
    reasons: dict[str, list[str]] = {}
    for name in METRICS:
        values = [r[name] for r in rows if r.get(name) is not None]
        out[name] = sum(values) / len(values) if values else None
        out[f"n_{name}"] = len(values)
    for r in rows:
        for name, why in r.get("not_computed", {}).items():
            if why not in reasons.setdefault(name, []):
                reasons[name].append(why)
    out["not_computed"] = reasons
    return out
