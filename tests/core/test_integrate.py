import math

import pytest
import torch

from zoo.core.integrate import dopri5

F64 = torch.float64


@pytest.mark.parametrize("s0, s1", [(0.0, 2.0), (2.0, 0.0)])
def test_harmonic_oscillator_both_directions(s0, s1):
    q0 = torch.tensor([[1.0], [0.5]], dtype=F64)
    p0 = torch.tensor([[0.0], [1.0]], dtype=F64)
    q, p = dopri5(lambda s, ys: [ys[1], -ys[0]], [q0, p0], s0, s1, rtol=1e-10, atol=1e-10)
    dt = s1 - s0
    torch.testing.assert_close(q, q0 * math.cos(dt) + p0 * math.sin(dt), rtol=1e-8, atol=1e-8)
    torch.testing.assert_close(p, -q0 * math.sin(dt) + p0 * math.cos(dt), rtol=1e-8, atol=1e-8)


def test_tolerance_controls_error_and_work():
    calls = []

    def f(s, ys):
        calls.append(s)
        return [-3.0 * ys[0] * s * s]  # y = exp(-s^3)

    errors, work = [], []
    for tol in (1e-4, 1e-8):
        calls.clear()
        (y,) = dopri5(f, [torch.ones(1, 1, dtype=F64)], 0.0, 1.5, rtol=tol, atol=tol)
        errors.append(abs(y.item() - math.exp(-1.5**3)))
        work.append(len(calls))
    assert errors[1] < 1e-7 and errors[1] < errors[0] and work[1] > work[0]


def test_callback_reports_the_fraction_of_the_span_covered():
    seen = []
    (y,) = dopri5(lambda s, ys: [-ys[0]], [torch.ones(1, 1, dtype=F64)], 2.0, 0.5, rtol=1e-6, atol=1e-6,
                  callback=seen.append)
    assert len(seen) > 3 and seen[-1] == 1.0 and all(0 < a < b for a, b in zip(seen, seen[1:]))
    torch.testing.assert_close(y, torch.full((1, 1), math.exp(1.5), dtype=F64), rtol=1e-5, atol=0)
