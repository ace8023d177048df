"""The audio flags of ``zoo sample``: a vocoder vocodes a recording (``--from-wav``) or a mel (``--mel``);
an unconditional model samples clips of ``--seconds``.  ``zoo fit-grid FOLDER`` fits a vocoder's few-step
grid (grid.py)."""
from __future__ import annotations

import argparse
from pathlib import Path

from zoo.modality import CliHooks, Command

from . import grid

from .io import read_audio_blocks, read_mel, write_stream
from .stream import resampled_length

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
    if args.from_wav is not None:  # streamed: a recording of any length and rate in bounded memory
        rate, frames, blocks = read_audio_blocks(args.from_wav)
        length = resampled_length(frames, rate, model.sample_rate)
        pieces = model.resynthesize_stream(blocks, rate, generator=generator, **options)
    else:
        mel = model.check_mel(read_mel(args.mel))
        if mel.dim() == 3 and mel.shape[0] != 1:
            raise ValueError(f"--mel takes one mel (n_mels, frames) or (1, n_mels, frames), got {mel.shape[0]}")
        length = mel.shape[-1] * model.frontend.hop
        pieces = model.vocode_stream([mel], generator=generator, **options)
    written = write_stream(pieces, out, length, sample_rate=model.sample_rate,
                           title=f"{model.name}: {args.from_wav or args.mel}")
    return f"wrote {length / model.sample_rate:.2f} s of audio from {args.from_wav or args.mel} to {written}"


HOOKS = CliHooks(sample_arguments=sample_arguments, sample_options=sample_options, sample_runner=sample_runner,
                 commands=(Command("fit-grid", "fit a vocoder's few-step noise grid to its training recordings and make "
                                   "it the folder's sampling default", grid.add_arguments, grid.run, loads_model=False),))
