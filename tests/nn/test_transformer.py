import pytest
import torch

from tests.helpers import gen
from zoo.nn import AdaLNZeroBlock, attention

pytestmark = pytest.mark.usefixtures("one_thread")


def test_attention_matches_the_definition():
    qkv = torch.randn(2, 5, 3 * 8, generator=gen(0), dtype=torch.float64)
    q, k, v = qkv.reshape(2, 5, 3, 2, 4).permute(2, 0, 3, 1, 4)
    weights = torch.softmax(q @ k.transpose(-1, -2) / 2.0, dim=-1)  # sqrt(d) = sqrt(4)
    expected = (weights @ v).transpose(1, 2).reshape(2, 5, 8)
    torch.testing.assert_close(attention(qkv, heads=2), expected)


def test_padding_changes_nothing_for_the_real_tokens():
    block = AdaLNZeroBlock(16, 4, 2.0).double()
    with torch.no_grad():
        for p in block.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=gen(p.numel()), dtype=torch.float64))
    x = torch.randn(1, 6, 16, generator=gen(1), dtype=torch.float64)
    c = torch.randn(1, 16, generator=gen(2), dtype=torch.float64)
    padded = torch.cat([x, torch.randn(1, 3, 16, generator=gen(3), dtype=torch.float64)], dim=1)
    mask = torch.tensor([[1] * 6 + [0] * 3])
    torch.testing.assert_close(block(padded, c, mask)[:, :6], block(x, c))
    assert not torch.allclose(block(padded, c)[:, :6], block(x, c))  # without the mask the padding is seen
