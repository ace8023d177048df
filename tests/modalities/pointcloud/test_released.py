"""The released point-cloud models do what their cards say: the classes asked for, and completion.

Checked on 512-point clouds at 8 steps (the network is a set model: it takes any number of points)
so that a CPU runs them in seconds; the cards' numbers are for 2048 points at 32 steps.
"""
import pytest
import torch

import zoo
from modalities.pointcloud import crop, dataset, metrics
from tests.helpers import gen

pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.slow]

POINTS, STEPS = 512, 8


@pytest.fixture(scope="module")
def shapes():
    return zoo.load("pointcloud/shapes", local_files_only=True)


@pytest.fixture(scope="module")
def held_out():
    data = dataset("shapes", test_per_class=6, train_per_class=1, points=POINTS)
    return data.reference("test"), data.labels["test"]


def test_guided_samples_have_the_class_asked_for(shapes, held_out):
    references, labels = held_out
    asked = torch.arange(16) % 8
    accuracy = {}
    for w in (2.0, 0.0):
        x = shapes.sample(16, cond=asked, guidance=w, steps=STEPS, points=POINTS, generator=gen(0))
        accuracy[w] = float((labels[metrics.pairwise_chamfer(x, references).argmin(1)] == asked).double().mean())
    # measured: 0.44 guided (boxes and pyramids are taken for cylinders and cones), 0.06 with the null class
    # alone (w = 0); chance is 1/8
    assert accuracy[2.0] >= 0.3 and accuracy[2.0] > accuracy[0.0] + 0.2


def test_completion_beats_the_partial_cloud_and_keeps_it(shapes, held_out):
    references, labels = held_out
    truth, classes = references[:8], labels[:8]
    partial = crop(truth)
    done = shapes.complete(partial, cond=classes, steps=STEPS, points=POINTS, generator=gen(1))
    torch.testing.assert_close(done[:, :POINTS // 2], partial, rtol=0, atol=1e-6)
    completed, alone = metrics.chamfer(done, truth), metrics.chamfer(partial, truth)
    assert bool((completed < alone).all()) and float(completed.mean()) < 0.25 * float(alone.mean())
