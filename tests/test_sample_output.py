"""``zoo sample`` says every file it wrote, and only those, in every modality and mode: the zoo's own
sampling (one file, one file per sample, a folder) and the modalities' runners (a vocoder's
``--from-wav`` / ``--mel``, protein ``--motif``).  Each case samples a released model in a step or two."""
import re

import numpy as np
import pytest
import torch

from modalities.audio.io import write_audio
from modalities.protein.geometry import ideal_hairpin
from modalities.protein.io import write_backbone
from zoo import cli

pytestmark = pytest.mark.usefixtures("one_thread")

SUFFIXES = ("png", "npy", "csv", "wav", "flac", "ply", "obj", "glb", "pdb", "cif")
# a path as zoo sample prints it (absolute here: every -o below is), ended by a space, ":", ",", ")" or the line's end
PATH = re.compile(rf"(/\S+?\.(?:{'|'.join(SUFFIXES)}))(?=[\s:,)]|$)", re.M)


def _printed_files(capsys, argv, folder, inputs=()):
    """Run ``zoo sample ARGV``; the files it printed (less its ``inputs``) must be the files now in ``folder``."""
    assert cli.main(["sample", *argv, "--local-files-only"]) == 0
    said = capsys.readouterr().out
    printed = set(PATH.findall(said)) - {str(p) for p in inputs}
    written = {str(p) for p in folder.rglob("*") if p.is_file()}
    assert printed == written, said
    return sorted(printed), said


def test_one_file(tmp_path, capsys):
    files, said = _printed_files(capsys, ["toy2d/ring8", "-n", "10", "--steps", "2", "-o", str(tmp_path / "r.png")],
                                 tmp_path)
    assert files == [str(tmp_path / "r.png")] and said.startswith("wrote 10 samples of toy2d/ring8 (")


def test_one_file_per_sample(tmp_path, capsys):
    files, said = _printed_files(capsys, ["pointcloud/shapes", "--class", "torus", "-n", "3", "--points", "16",
                                          "--steps", "1", "-o", str(tmp_path / "t.ply")], tmp_path)
    assert files == [str(tmp_path / f"t_{i:03d}.ply") for i in range(3)] and "to 3 files:" in said


def test_one_sample_of_a_per_sample_format(tmp_path, capsys):
    files, _ = _printed_files(capsys, ["pointcloud/shapes", "-n", "1", "--points", "16", "--steps", "1",
                                       "-o", str(tmp_path / "t.obj")], tmp_path)
    assert len(files) == 1


def test_a_folder(tmp_path, capsys):
    files, _ = _printed_files(capsys, ["protein/backbone", "--length", "12", "-n", "2", "--steps", "1",
                                       "-o", f"{tmp_path / 'out'}/"], tmp_path)
    assert files == [str(tmp_path / "out" / f"backbone_{i:03d}.pdb") for i in range(2)]


def test_audio_clips_in_one_file(tmp_path, capsys):
    files, _ = _printed_files(capsys, ["audio/diffwave-digits", "-n", "2", "--seconds", "0.05", "--steps", "1",
                                       "-o", str(tmp_path / "d.wav")], tmp_path)
    assert files == [str(tmp_path / "d.wav")]


def test_an_image_array(tmp_path, capsys):
    files, _ = _printed_files(capsys, ["image/fashion-cm", "-n", "2", "--steps", "1", "-o", str(tmp_path / "x.npy")],
                              tmp_path)
    assert files == [str(tmp_path / "x.npy")]


@pytest.fixture
def inputs(tmp_path):
    """A recording and a log-mel to vocode, and a chain to take a motif from, outside the output folder."""
    folder = tmp_path / "inputs"
    folder.mkdir()
    write_audio(folder / "in.wav", 0.1 * torch.sin(torch.arange(2048) * 0.05), 16000)
    np.save(folder / "mel.npy", np.full((80, 6), -5.0, dtype=np.float32))
    write_backbone(folder / "motif.pdb", ideal_hairpin(20).float())
    return folder


@pytest.mark.parametrize("flag, name", [("--from-wav", "in.wav"), ("--mel", "mel.npy")])
def test_the_vocoder_runner(tmp_path, capsys, inputs, flag, name):
    out = tmp_path / "out"
    files, said = _printed_files(capsys, ["audio/diffwave", flag, str(inputs / name), "--steps", "1",
                                          "-o", str(out / "v.flac")], out, inputs=[inputs / name])
    assert files == [str(out / "v.flac")] and str(inputs / name) in said


@pytest.mark.parametrize("suffix", [".pdb", ".png"])
def test_the_motif_runner(tmp_path, capsys, inputs, suffix):
    out = tmp_path / "out"
    files, said = _printed_files(capsys, ["protein/backbone", "--motif", str(inputs / "motif.pdb"), "--contig",
                                          "3,A5-10,3", "-n", "2", "--steps", "1", "-o", str(out / f"s{suffix}")],
                                 out, inputs=[inputs / "motif.pdb"])
    assert len(files) == (2 if suffix == ".pdb" else 1) and "scaffolded 2 chains" in said
