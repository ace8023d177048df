from PIL import Image

from modalities.toy2d import animate, dataset
from tests.test_hub import tiny


def test_frames_gif_and_strip(tmp_path):
    frames = animate.trajectories(tiny(), dataset("moons"), n=200, forward_frames=5, steps=4, sampler="ddim")
    assert len(frames) == 9
    assert frames[0][1].startswith("forward process   t = 0.00") and frames[4][1].endswith("t = 1.00")
    assert frames[-1][1].startswith("reverse: ddim, step 4/4")
    animate.save_gif(frames, tmp_path / "a.gif")
    with Image.open(tmp_path / "a.gif") as gif:
        assert gif.n_frames == 9
    animate.save_strip(frames, tmp_path / "a.png", panels=3)
    with Image.open(tmp_path / "a.png") as strip:
        assert strip.size == (3 * 300, 330)
