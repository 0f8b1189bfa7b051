"""SAM v1's mask decoder (SAM, MedSAM, LiteMedSAM) evaluated for many prompts of one image.

`MaskDecoder` copies the image embedding once per prompt and runs every projection of the
two-way transformer over all 4096 image tokens for each. Without a mask prompt the dense prompt
embedding is one learned vector, so the image side of the first two-way layer is the same for
every prompt of an image: the keys and values of its token-to-image attention and the queries of
its image-to-token attention are computed once per call and broadcast. The final
token-to-image attention only feeds the IoU and mask tokens, so only they query it. Where a
prompt has few tokens (heads x tokens < the attention's width: a box, a point, box + point) the
cross attentions fold the image-side projections into the tokens' (`_folds`). The result is
`MaskDecoder.forward`'s up to float rounding (tests/test_sam_decoder.py); LiteMedSAM's compiled
bf16 decoder runs 18 instead of 26 ms per box prompt at 4 per call (about equal at 1 per call).
Mask prompts (a dense embedding per prompt) go through the original.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, N, C) -> (B, heads, N, C / heads), as segment-anything's Attention splits them."""
    b, n, c = x.shape
    return x.reshape(b, n, heads, c // heads).transpose(1, 2)


def _attend(
    attention: nn.Module, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor
) -> torch.Tensor:
    """segment-anything's `Attention.forward` after its input projections; q, k and v
    broadcast over the batch, so a shared side can stay at batch 1."""
    q, k, v = (_heads(x, attention.num_heads) for x in (q, k, v))
    scores = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    out = scores @ v
    b, h, n, c = out.shape
    return attention.out_proj(out.transpose(1, 2).reshape(b, n, h * c))


def _folds(attention: nn.Module, tokens: int) -> bool:
    """Whether folding the image-side projections into the tokens' is cheaper: per head the
    image's N x C meets T x C token products instead of C x C/heads weights."""
    return attention.num_heads * tokens < attention.internal_dim


def _token_to_image(attention: nn.Module, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor):
    """`Attention(q=tokens, k=image, v=image)`. With few tokens the image's key and value
    projections are folded into the queries (exact: softmax rows sum to one), so the N image
    tokens meet heads x T vectors instead of two C x C/2 weight matrices."""
    if not _folds(attention, q.shape[1]):
        return attention(q=q, k=k, v=v)
    heads = attention.num_heads
    c = k.shape[-1]
    wk = attention.k_proj.weight.view(heads, -1, c)  # (H, d, C)
    wv = attention.v_proj.weight.view(heads, -1, c)
    qh = _heads(attention.q_proj(q), heads) / math.sqrt(wk.shape[1])  # (B, H, T, d)
    b, _, t, _ = qh.shape
    folded = torch.einsum("bhtd,hdc->bhtc", qh, wk).reshape(b, heads * t, c)
    bias = torch.einsum("bhtd,hd->bht", qh, attention.k_proj.bias.view(heads, -1))
    scores = torch.softmax(folded @ k.transpose(1, 2) + bias.reshape(b, heads * t, 1), dim=-1)
    mixed = (scores @ v).view(b, heads, t, c)  # (B, H, T, C): the image averaged per head
    out = torch.einsum("bhtc,hdc->bhtd", mixed, wv) + attention.v_proj.bias.view(heads, 1, -1)
    return attention.out_proj(out.transpose(1, 2).reshape(b, t, -1))


def _image_to_token(attention: nn.Module, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor):
    """`Attention(q=image, k=tokens, v=tokens)`. With few tokens the image's query projection
    and the output projection are folded into the tokens' keys and values, so the N image
    tokens meet heads x T vectors twice instead of two C x C/2 weight matrices."""
    if not _folds(attention, k.shape[1]):
        return attention(q=q, k=k, v=v)
    heads = attention.num_heads
    c = q.shape[-1]
    wq = attention.q_proj.weight.view(heads, -1, c)  # (H, d, C)
    kh = _heads(attention.k_proj(k), heads) / math.sqrt(wq.shape[1])  # (B, H, T, d)
    b, _, t, _ = kh.shape
    folded = torch.einsum("hdc,bhtd->bcht", wq, kh).reshape(b, c, heads * t)
    bias = torch.einsum("hd,bhtd->bht", attention.q_proj.bias.view(heads, -1), kh)
    n = q.shape[1]
    scores = (q @ folded + bias.reshape(b, 1, heads * t)).view(b, n, heads, t)
    scores = torch.softmax(scores, dim=-1).reshape(b, n, heads * t)
    wo = attention.out_proj.weight.view(c, heads, -1)  # (C, H, d)
    values = torch.einsum("bhtd,chd->bhtc", _heads(attention.v_proj(v), heads), wo)
    return scores @ values.reshape(b, heads * t, c) + attention.out_proj.bias


class ImageSharedDecoder(nn.Module):
    """A `MaskDecoder` whose per-image work is done once for all prompts of a call."""

    def __init__(self, decoder: nn.Module) -> None:
        super().__init__()
        self.decoder = decoder

    def forward(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
        multimask_output: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`MaskDecoder.forward`'s arguments and answer: (B, C, 256, 256) logits, (B, C) IoU.
        A dense embedding of batch 1 is shared by every prompt; one per prompt falls back."""
        d = self.decoder
        if dense_prompt_embeddings.shape[0] != 1 or image_embeddings.shape[0] != 1:
            return d(
                image_embeddings=image_embeddings,
                image_pe=image_pe,
                sparse_prompt_embeddings=sparse_prompt_embeddings,
                dense_prompt_embeddings=dense_prompt_embeddings,
                multimask_output=multimask_output,
            )
        batch = sparse_prompt_embeddings.shape[0]
        outputs = torch.cat([d.iou_token.weight, d.mask_tokens.weight], dim=0)
        tokens = torch.cat([outputs.expand(batch, -1, -1), sparse_prompt_embeddings], dim=1)
        src = image_embeddings + dense_prompt_embeddings
        _, c, h, w = src.shape
        keys = src.flatten(2).transpose(1, 2)  # (1, N, C), shared
        key_pe = image_pe.flatten(2).transpose(1, 2)
        queries, keys = self._first_layer(tokens, keys, key_pe)
        transformer = d.transformer
        for block in transformer.layers[1:]:
            queries, keys = _block(block, queries, keys, tokens, key_pe)
        # only the IoU and mask tokens are read after the final attention
        n_out = outputs.shape[0]
        final = transformer.final_attn_token_to_image
        attn_out = _token_to_image(final, (queries + tokens)[:, :n_out], keys + key_pe, keys)
        out_tokens = transformer.norm_final_attn(queries[:, :n_out] + attn_out)

        upscaled = d.output_upscaling(keys.transpose(1, 2).reshape(batch, c, h, w))
        # only the candidates asked for are projected: mask token 0 alone without multimask
        chosen = range(1, d.num_mask_tokens) if multimask_output else range(1)
        mlps = d.output_hypernetworks_mlps
        hyper_in = torch.stack([mlps[i](out_tokens[:, 1 + i]) for i in chosen], dim=1)
        b, c, h, w = upscaled.shape
        masks = (hyper_in @ upscaled.view(b, c, h * w)).view(b, -1, h, w)
        iou = d.iou_prediction_head(out_tokens[:, 0])
        return masks, iou[:, chosen.start : chosen.stop]

    def _first_layer(
        self, tokens: torch.Tensor, keys: torch.Tensor, key_pe: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`TwoWayAttentionBlock.forward` with skip_first_layer_pe, keys at batch 1."""
        block = self.decoder.transformer.layers[0]
        queries = block.norm1(block.self_attn(q=tokens, k=tokens, v=tokens))
        t2i, i2t = block.cross_attn_token_to_image, block.cross_attn_image_to_token
        image = keys + key_pe
        attn_out = _attend(t2i, t2i.q_proj(queries + tokens), t2i.k_proj(image), t2i.v_proj(keys))
        queries = block.norm2(queries + attn_out)
        queries = block.norm3(queries + block.mlp(queries))
        q = queries + tokens
        attn_out = _attend(i2t, i2t.q_proj(image), i2t.k_proj(q), i2t.v_proj(queries))
        return queries, block.norm4(keys + attn_out)


def _block(
    block: nn.Module,
    queries: torch.Tensor,
    keys: torch.Tensor,
    tokens: torch.Tensor,
    key_pe: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`TwoWayAttentionBlock.forward` (positional embeddings on), its cross attentions folded
    where that is cheaper."""
    q = queries + tokens
    queries = block.norm1(queries + block.self_attn(q=q, k=q, v=queries))
    attn_out = _token_to_image(
        block.cross_attn_token_to_image, queries + tokens, keys + key_pe, keys
    )
    queries = block.norm2(queries + attn_out)
    queries = block.norm3(queries + block.mlp(queries))
    attn_out = _image_to_token(
        block.cross_attn_image_to_token, keys + key_pe, queries + tokens, queries
    )
    return queries, block.norm4(keys + attn_out)
