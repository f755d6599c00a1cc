"""nlpt.models.layers: the one attention every family composes, its masks, and the one RMSNorm."""

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402

from nlpt.models.layers import (  # noqa: E402
    Attention,
    RMSNorm,
    attention,
    causal_padding_mask,
    padding_mask,
)


def test_grouped_query_attention_written_out_equals_sdpa():
    """With `own_dropout` and a negligible p, grouped-query attention runs the written-out arithmetic (K, V
    repeated per group): it must give SDPA's `enable_gqa` result, with and without causality."""
    torch.manual_seed(0)
    q = torch.randn(2, 6, 5, 4, dtype=torch.float64)
    k, v = (torch.randn(2, 2, 5, 4, dtype=torch.float64) for _ in range(2))
    for causal in (False, True):
        plain = F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)
        mine = attention(q, k, v, dropout_p=1e-12, training=True, causal=causal, own_dropout=True)
        torch.testing.assert_close(mine, plain, atol=1e-9, rtol=0)


def test_masks_fast_path_and_causality():
    """No padding: no mask at all (SDPA's causal fast path); padding: additive, future and padding masked."""
    assert padding_mask(torch.ones(2, 4, dtype=torch.long), torch.float32) is None
    assert causal_padding_mask(None, torch.float32) is None
    am = torch.tensor([[1, 1, 1, 0]])
    mask = causal_padding_mask(am, torch.float32)
    assert mask.shape == (1, 1, 4, 4)
    blocked = mask[0, 0] < -1e30
    expected = torch.ones(4, 4, dtype=torch.bool).triu(1) | (am[0] == 0)[None, :]
    assert torch.equal(blocked, expected)


def test_padded_causal_attention_equals_the_unpadded_sequence():
    """A decoder's padded batch row gives, at its real positions, what the row alone gives."""
    torch.manual_seed(0)
    attn = Attention(16, 4, kv_heads=2, head_dim=4).eval()
    x = torch.randn(1, 6, 16)
    alone = attn(x[:, :4], causal=True)
    mask = causal_padding_mask(torch.tensor([[1, 1, 1, 1, 0, 0]]), torch.float32)
    padded = attn(x, mask, causal=True)
    torch.testing.assert_close(padded[:, :4], alone, atol=1e-6, rtol=0)


def test_projection_views_write_through_and_out_name():
    """`projection` gives views of the fused Q/K/V (grouped: K and V narrower); the output projection is
    registered under the family's name, so parameter names stay the family's."""
    attn = Attention(16, 4, kv_heads=2, head_dim=4, bias=True, out_name="o")
    names = [n for n, _ in attn.named_parameters()]
    assert names == ["qkv.weight", "qkv.bias", "o.weight", "o.bias"]
    shapes = [tuple(attn.projection(n)[0].shape) for n in "qkv"]
    assert shapes == [(16, 16), (8, 16), (8, 16)]
    with torch.no_grad():
        attn.projection("v")[0].fill_(3.0)
    assert bool((attn.qkv.weight[24:] == 3.0).all()) and not bool((attn.qkv.weight[:24] == 3.0).any())
    cross = Attention(16, 4, cross=True, bias=False)
    assert [n for n, _ in cross.named_parameters()] == ["q.weight", "kv.weight", "out.weight"]
    assert cross.projection("k")[1] is None and tuple(cross.projection("k")[0].shape) == (16, 16)


def test_rms_norm_float32_and_other_dtypes_agree():
    """The written-out float32 path and the upcasting path (autocast's dtypes) compute the same norm."""
    torch.manual_seed(0)
    norm = RMSNorm(8, eps=1e-5)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
    x = torch.randn(3, 8)
    ref = norm.weight * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5)
    torch.testing.assert_close(norm(x), ref, atol=1e-6, rtol=0)
    torch.testing.assert_close(norm(x.double()).float(), ref, atol=1e-6, rtol=0)
