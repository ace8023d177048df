"""zoo.evaluation: batched drawing with a progress bar, and the likelihood's progress."""
import json

import pytest
import torch

from zoo import cli, core
from zoo.evaluation import draw, ode_progress
from zoo.loading import load


@pytest.fixture(scope="module")
def ring8():
    return load("toy2d/ring8", local_files_only=True)


def test_draw_shows_its_progress_on_stderr_and_matches_one_call(ring8, capsys):
    x, how = draw(ring8, 30, batch=20, seed=3, steps=4)
    bar = capsys.readouterr().err
    assert "toy2d/ring8: drawing 30 samples" in bar and "30/30" in bar and "100%" in bar
    first = ring8.sample(20, steps=4, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(x[:20], first)  # the bar's callback changes nothing drawn
    assert x.shape == (30, 2) and how["nfe"] == 4 and how["steps"] == 4


def test_the_likelihood_bar_reaches_the_end_and_leaves_the_result_alone(ring8, capsys):
    x = torch.randn(4, 2, generator=torch.Generator().manual_seed(0))
    plain = core.log_likelihood(ring8.denoiser(), x, method="exact", rtol=1e-2, atol=1e-2)
    fractions = []
    with ode_progress("likelihood") as advance:
        shown = core.log_likelihood(ring8.denoiser(), x, method="exact", rtol=1e-2, atol=1e-2,
                                    callback=lambda f: (fractions.append(f), advance(f)))
    torch.testing.assert_close(shown, plain, rtol=0, atol=0)
    assert fractions[-1] == 1.0 and "likelihood" in capsys.readouterr().err


def test_zoo_eval_estimates_its_time_from_the_saved_evaluation(tmp_path, ring8, capsys):
    folder = tmp_path / "ring8"
    folder.mkdir()
    (folder / "metrics.json").write_text(json.dumps({"protocol": "toy2d-eval/1", "n": 4000, "eval_seconds": 90.0,
                                                     "device": "CPU, 2 threads"}))
    ring8.origin.path, saved = folder, ring8.origin.path
    try:
        assert cli._eval_estimate(ring8) == ("the saved evaluation (toy2d-eval/1, n = 4000) took 1.5 min on "
                                             "CPU, 2 threads")
        (folder / "metrics.json").write_text(json.dumps({"protocol": "toy2d-eval/1"}))
        assert "did not record its time" in cli._eval_estimate(ring8)
    finally:
        ring8.origin.path = saved
