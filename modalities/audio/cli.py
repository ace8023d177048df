"""The audio flags of ``zoo sample``: a vocoder vocodes a recording (``--from-wav``) or a mel (``--mel``);
an unconditional model samples clips of ``--seconds``."""
from __future__ import annotations

import argparse
from pathlib import Path

from zoo.modality import CliHooks

from .io import read_audio, read_mel, write_samples

__all__ = ["HOOKS", "sample_arguments", "sample_options", "sample_runner"]


def sample_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--from-wav", help="a vocoder resynthesizes this recording (WAV, FLAC, OGG; any rate)")
    group.add_argument("--mel", help="a vocoder vocodes this log-mel (.npy, (n_mels, frames), the model's front end)")
    group.add_argument("--seconds", type=float, help="length of each unconditional audio sample")


def sample_options(model, args: argparse.Namespace) -> dict:
    """``{"seconds": s}`` for an unconditional model given --seconds; the flags that do not fit the model
    are ValueErrors (a vocoder needs --from-wav or --mel, and takes no --seconds)."""
    given = args.from_wav is not None or args.mel is not None
    if args.from_wav is not None and args.mel is not None:
        raise ValueError("give a vocoder --from-wav or --mel, not both")
    if model.conditional:
        if not given:
            raise ValueError(f"{model.name} is a vocoder: give it --from-wav IN.wav or --mel MEL.npy")
        if args.seconds is not None:
            raise ValueError(f"--seconds is for unconditional audio models; {model.name} is a vocoder, its output "
                             "lasts as long as its input")
        return {}
    if given:
        raise ValueError(f"--from-wav and --mel need a vocoder; {model.name} is an unconditional audio model "
                         "(give it --seconds)")
    if args.seconds is None:
        return {}
    if not args.seconds > 0:
        raise ValueError(f"--seconds must be positive, got {args.seconds:g}")
    return {"seconds": args.seconds}


def sample_runner(model, args: argparse.Namespace, out: Path, generator, options: dict) -> str | None:
    """A vocoder writes the resynthesized recording or the vocoded mel to ``out`` (any audio format, by its
    suffix) and says how long it is; an unconditional model is left to the zoo (None)."""
    if not model.conditional:
        return None
    sample_options(model, args)  # the zoo may call the runner first: refuse what does not fit here too
    for flag, key in (("--guidance", "guidance"), ("--class", "label")):
        if getattr(args, key, None) is not None:
            raise ValueError(f"{model.name} takes no {flag}: a vocoder is conditioned on its mel alone")
    if args.from_wav is not None:
        waveform, rate = read_audio(args.from_wav)
        y = model.resynthesize(waveform, rate, generator=generator, **options)
    else:
        y = model.vocode(read_mel(args.mel), generator=generator, **options)
    written = write_samples(y, out, sample_rate=model.sample_rate, title=f"{model.name}: {args.from_wav or args.mel}")
    return f"wrote {y.shape[-1] / model.sample_rate:.2f} s of audio from {args.from_wav or args.mel} to {written}"


HOOKS = CliHooks(sample_arguments=sample_arguments, sample_options=sample_options, sample_runner=sample_runner)
