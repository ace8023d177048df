import pytest

from zoo import runs


def segment(device, first, steps, seconds, **more):
    return {"device": device, "processes": 1, "precision": "fp32", "first_step": first, "last_step": first + steps,
            "steps": steps, "seconds": seconds, "date": "2026-12-02T00:00:00Z", "commit": None, **more}


H100 = "NVIDIA H100 80GB HBM3"


def test_segments_add_up_by_device_with_the_cpus_together():
    record = None
    for part in (segment("CPU, 2 threads", 0, 5000, 1800.0), segment(H100, 5000, 12000, 1260.0),
                 segment("CPU, 1 thread", 17000, 3000, 2700.0), segment(H100, 20000, 3000, 0.0)):
        record = runs.record(record, part)
    assert record["totals"] == {"segments": 4, "steps": 23000, "seconds": 5760.0,
                                "by_device": {"CPU": 4500.0, H100: 1260.0}}
    assert runs.summary(record) == f"trained 21 min on {H100} and 75 min on CPU in 4 segments, 23,000 steps"
    assert runs.gpu_trained(record) and not runs.gpu_trained(runs.record(None, segment("CPU, 2 threads", 0, 10, 30.0)))


def test_a_record_from_before_segments_reads_as_one_segment():
    legacy = {"device": "CPU, 1 thread", "processes": 1, "precision": "fp32", "steps": 1000, "seconds": 1012.4,
              "final_loss": 0.5, "torch": "2.14.1"}
    (part,) = runs.segments(legacy)
    assert (part["first_step"], part["last_step"], part["start"], part["final_loss"]) == (0, 1000, "scratch", 0.5)
    grown = runs.record(legacy, segment("CPU, 2 threads", 1000, 500, 30.0))
    assert [p["first_step"] for p in grown["segments"]] == [0, 1000] and grown["totals"]["steps"] == 1500
    assert runs.summary(legacy) == "trained 17 min on CPU in one segment, 1,000 steps"
    assert runs.segments(None) == [] and runs.summary(None) == ""


def test_releases_are_kept_when_segments_are_added_and_a_record_needs_every_key():
    released = runs.with_release(runs.record(None, segment(H100, 0, 10, 50.0)), {"metric": "sliced_w2"})
    assert released["releases"] == [{"metric": "sliced_w2"}]
    assert runs.record(released, segment(H100, 10, 10, 50.0))["releases"] == [{"metric": "sliced_w2"}]
    assert runs.with_release(None, {"metric": "x"}) == {"releases": [{"metric": "x"}]}
    with pytest.raises(ValueError, match=r"needs \['commit'\]"):
        runs.record(None, {k: v for k, v in segment(H100, 0, 1, 1.0).items() if k != "commit"})


def test_the_project_commit_is_this_checkout_s():
    import subprocess
    from pathlib import Path

    top = Path(runs.__file__).resolve().parent.parent
    if not (top / ".git").exists():
        pytest.skip("not run from a git checkout")
    head = subprocess.run(["git", "-C", str(top), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert runs.project_commit().removesuffix("-dirty") == head
