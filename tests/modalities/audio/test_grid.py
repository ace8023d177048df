"""A vocoder's fitted few-step grid (modalities/audio/grid.py) and the ``fitted`` timesteps it sets."""
import pytest
import torch

from modalities.audio import grid as fitting
from modalities.audio.training import AudioData
from tests.helpers import write_tiny_clips
from tests.modalities.audio.test_model import tiny
from zoo import core, saving
from zoo.cli import main
from zoo.files import read_yaml
from zoo.folder import load_folder


def recordings():
    t = torch.arange(8 * 256, dtype=torch.float32)
    return [0.3 * torch.sin(t * 0.05) * torch.sin(t * 0.001), 0.2 * torch.sin(t * 0.11)]


def test_the_fit_lowers_the_band_distance_and_vocode_samples_on_the_fitted_grid():
    model = tiny()
    start = core.timesteps.make(model.schedule, *model._grid(6, None))
    grid, found = fitting.fit_grid(model, recordings(), steps=6, sweeps=1, iterations=2)
    assert found["evaluations"] <= 1 * 6 * (2 + 2) + 1  # each grid the search tries, once
    assert found["after"] <= found["before"] and grid.shape == (7,) and grid[-1] == 0 and grid[0] <= start[0]
    assert (grid[:-1] > grid[1:]).all() and not torch.equal(grid, start)
    model.config["sampling"].update(timesteps="fitted", fitted_grid=grid.tolist())
    mel = model.frontend(recordings()[0])
    _, info = model.vocode(mel, generator=torch.Generator().manual_seed(0), return_info=True)
    torch.testing.assert_close(info.ts, grid)
    generator = torch.Generator().manual_seed(0)  # one seed per trial, drawn through the recordings in turn
    assert found["after"] == pytest.approx(sum(
        fitting.metrics.mrstft_distance(x, model.vocode(model.frontend(x), generator=generator), max_hz=8000,
                                        sample_rate=22050) for x in recordings()) / 2)


def test_bad_requests_are_refused_with_the_reason():
    model = tiny()
    with pytest.raises(ValueError, match="whole hops"):
        fitting.fit_grid(model, [torch.randn(1000)])
    with pytest.raises(ValueError, match="steps must be an integer >= 2"):
        fitting.fit_grid(model, recordings(), steps=1)
    with pytest.raises(ValueError, match="unconditional"):
        fitting.fit_grid(tiny(unconditional=True), recordings())
    model.config["sampling"]["timesteps"] = "fitted"
    with pytest.raises(ValueError, match="has no fitted grid.*zoo fit-grid"):
        model.vocode(model.frontend(recordings()[0]))


def test_zoo_fit_grid_makes_the_grid_the_folders_default(tmp_path, capsys):
    clips = write_tiny_clips(tmp_path / "clips.npz")
    model = tiny()
    model.config["data"] = AudioData("tuxpaint", path=str(clips), crop=2048).config()
    folder = tmp_path / "model"
    saving.save(model, folder)
    assert main(["fit-grid", str(folder), "--recordings", "1", "--seconds", "0.1"]) == 0
    sampling = read_yaml(folder / "config.yaml")["sampling"]
    assert sampling["timesteps"] == "fitted" and sampling["steps"] == 6 and len(sampling["fitted_grid"]) == 7
    assert "band MRSTFT on 1 training crops" in capsys.readouterr().out
    loaded = load_folder(folder)
    assert loaded.config["sampling"]["fitted_grid"] == sampling["fitted_grid"]
    assert main(["fit-grid", str(tmp_path / "nowhere")]) == 2
    assert "is not a model folder (no config.yaml)" in capsys.readouterr().err
