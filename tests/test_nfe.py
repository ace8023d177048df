import dataclasses
"""Quality-versus-NFE sweeps, their report and its place in a model card."""
import json
import shutil

import pytest

import zoo
from modalities.toy2d import dataset
from zoo import cards, cli, nfe, registry


@pytest.fixture(scope="module")
def ring8_rows():
    return nfe.sweep(zoo.load("toy2d/ring8"), dataset("ring8"), (1, 4, 16), n=1000, timesteps="trailing")


def test_a_sweep_takes_one_evaluation_per_step_and_improves_with_steps(ring8_rows):
    assert [r["nfe"] for r in ring8_rows] == [1, 4, 16] and {r["sampler"] for r in ring8_rows} == {"unipc"}
    w2 = [r["sliced_w2"] for r in ring8_rows]
    assert w2[0] > 3 * w2[2] and w2[2] < 1.5 * ring8_rows[2]["sliced_w2_floor"]  # one step of a diffusion model is a blur
    assert all(r["seconds_per_sample"] > 0 for r in ring8_rows)
    with pytest.raises(ValueError, match="one evaluation per step"):
        nfe.sweep(zoo.load("toy2d/ring8"), dataset("ring8"), (3,), n=10, sampler="heun")


def test_the_report_writes_a_plot_and_a_table_that_a_card_shows(ring8_rows, tmp_path, monkeypatch):
    families = [{"label": "teacher", "model": "toy2d/ring8", "sampler": "unipc", "rows": ring8_rows}]
    nfe.write_report(families, tmp_path, modality_name="toy2d", title="ring8", device="cpu", command="zoo nfe x",
                     n=1000, nfes=(1, 4, 16), reference={"sliced_w2": 0.09})
    report = json.loads((tmp_path / nfe.REPORT).read_text())
    assert (tmp_path / "quality_vs_nfe.png").read_bytes()[:4] == b"\x89PNG"
    text = nfe.table(report)
    assert text.splitlines()[0].startswith("| NFE | teacher: sliced W2 |")
    assert f"| 16 | {ring8_rows[2]['sliced_w2']:.4g} |" in text and "sliced_w2 = 0.09" in text
    folder = tmp_path / "model"
    shutil.copytree(zoo.hub.MODEL_CARDS / "toy2d" / "ring8", folder)
    shutil.copy(tmp_path / nfe.REPORT, folder / nfe.REPORT)
    card = cards.render(folder)
    assert "### Quality versus network evaluations" in card and text.splitlines()[2] in card
    bare = dataclasses.replace(registry.modality("toy2d"), name="bare", nfe_metrics=(), releases=())
    monkeypatch.setitem(registry._LOADED, "bare", bare)
    with pytest.raises(ValueError, match="the bare modality declares no quality-versus-NFE metrics"):
        nfe.write_report(families, tmp_path, modality_name="bare", title="", device="", command="", n=1)


def test_zoo_nfe_and_zoo_couple_on_the_command_line(tmp_path, capsys):
    assert cli.main(["nfe", "toy2d/ring8", "toy2d/ring8-cm", "--labels", "teacher,cm", "--timesteps", "trailing,",
                     "--nfe", "1,2", "-n", "200", "--out", str(tmp_path / "r"), "--local-files-only"]) == 0
    report = json.loads((tmp_path / "r" / nfe.REPORT).read_text())
    assert [f["label"] for f in report["models"]] == ["teacher", "cm"]
    assert [f["timesteps"] for f in report["models"]] == ["trailing", "trailing"]  # the CM's own default
    assert cli.main(["nfe", "toy2d/ring8", "--labels", "a,b", "--out", str(tmp_path / "x")]) == 2
    assert "--labels names 2 models but 1" in capsys.readouterr().err
    assert cli.main(["couple", "toy2d/ring8", "-n", "6", "--steps", "2", "-o", str(tmp_path / "p.npz"),
                     "--local-files-only"]) == 0
    assert "wrote 6 pairs" in capsys.readouterr().out
