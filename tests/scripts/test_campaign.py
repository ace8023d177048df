"""scripts/gpu_campaign.sh and scripts/campaign.py: one segment of a campaign, end to end, on the CPU."""
import importlib.metadata
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

TOP = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("campaign", TOP / "scripts" / "campaign.py")
campaign = importlib.util.module_from_spec(spec)
spec.loader.exec_module(campaign)


def test_an_uninstalled_checkout_gets_its_modalities_from_its_pyproject(monkeypatch):
    real = importlib.metadata.entry_points
    calls = []
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **k: calls.append(k) or ([] if len(calls) == 1
                                                                                          else real(**k)))
    before = list(sys.path)
    try:
        campaign._use_checkout()
        # only the folder campaign added: an editable install (CI) leaves its own egg-info in TOP
        added = [p for p in sys.path if p not in before and p != str(TOP)]
        (info,) = [d for d in importlib.metadata.distributions(path=added) if d.metadata["Name"] == "diffusion-zoo"]
        names = {ep.name: ep.value for ep in info.entry_points if ep.group == "zoo.modalities"}
        assert names["toy2d"] == "modalities.toy2d:MODALITY" and len(names) >= 5
    finally:
        sys.path[:] = before


def checkout_with_only(tmp_path, release):
    """A copy of the checkout's tracked files in which only ``release`` has its weights (as on a GPU machine)."""
    listed = subprocess.run(["git", "-C", str(TOP), "ls-files", "-co", "--exclude-standard"], capture_output=True,
                            text=True)
    if listed.returncode:
        pytest.skip("not a git checkout")
    tree = tmp_path / "tree"
    for name in listed.stdout.splitlines():
        source = TOP / name
        if not source.is_file() or (name.startswith("model_cards/") and name.endswith("model.safetensors")
                                    and not name.startswith(f"model_cards/{release}/")):
            continue
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_bytes(source.read_bytes())
    return tree


@pytest.mark.slow
def test_a_campaign_continues_judges_and_brings_back_one_segment(tmp_path):
    tree, out = checkout_with_only(tmp_path, "toy2d/ring8"), tmp_path / "out"
    release = tree / "model_cards" / "toy2d" / "ring8"
    before = (release / "model.safetensors").read_bytes()
    proc = subprocess.run(["bash", "scripts/gpu_campaign.sh", "toy2d/ring8", "0.05", str(out), "optim.lr=1e-4",
                           "optim.warm_start_steps=10", "log.every=10", "sampling.n=50"],
                          cwd=tree, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    verdict = json.loads((out / "verdict.json").read_text())
    assert (verdict["metric"], verdict["n"], verdict["protocol"]) == ("sliced_w2", 4000, "toy2d-eval/1")
    assert verdict["better"] == (verdict["continued"] < verdict["release"])
    assert (out / "log.txt").is_file() and sorted(p.name for p in out.iterdir()) == sorted(
        ["log.txt", "verdict.json", *verdict["parts"]])
    assert all((out / p).stat().st_size <= campaign.PART for p in verdict["parts"])
    assert (release / "model.safetensors").read_bytes() == before  # the checkout's release is only read
    unpacked = subprocess.run([sys.executable, "scripts/campaign.py", "unpack", str(out)], cwd=tree, capture_output=True,
                              text=True, timeout=300)
    assert unpacked.returncode == 0, unpacked.stderr
    kept = release if verdict["better"] else tree / "runs/campaign/toy2d/ring8/ring8-candidate"
    record = json.loads((kept / "training" / "run.json").read_text())
    assert [s["start"] for s in record["segments"]] == ["scratch", "warm"]
    assert record["segments"][1]["first_step"] == 20000 and (kept / "training" / "state.safetensors").is_file()
    assert ((release / "model.safetensors").read_bytes() == before) != verdict["better"]
