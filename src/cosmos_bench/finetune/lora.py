"""Low-rank adapters (LoRA, Hu et al. 2021) on an image encoder's attention projections.

A wrapped projection computes W x + (alpha / r) B A x with W frozen, A (r x in) initialised like
a linear layer and B (out x r) zero, so training starts from the base model's exact outputs.
After training the update is merged into W (`merge_lora`): the fine-tuned model is a plain
state dict of the base architecture, which the inference engine loads unchanged.
"""

from __future__ import annotations

import math

import torch
from torch import nn

#: attention projections of SAM's ViT, TinyViT (LiteMedSAM) and Hiera (SAM 2): `attn.qkv`,
#: `attn.proj`
ATTENTION_PROJECTIONS = ("attn.qkv", "attn.proj")


class LoRALinear(nn.Module):
    """A frozen nn.Linear plus a trainable rank-r update."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        if rank < 1:
            raise ValueError(f"LoRA rank must be >= 1, got {rank}")
        self.base = base
        self.rank = rank
        self.scaling = alpha / rank
        for p in base.parameters():
            p.requires_grad_(False)
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        update = (x @ self.lora_a.T) @ self.lora_b.T
        return self.base(x) + self.scaling * update

    def merged(self) -> nn.Linear:
        """The base layer with the update folded into its weight (a new module)."""
        layer = nn.Linear(self.base.in_features, self.base.out_features, self.base.bias is not None)
        with torch.no_grad():
            delta = self.scaling * (self.lora_b @ self.lora_a)
            layer.weight.copy_(self.base.weight + delta.to(self.base.weight.dtype))
            if self.base.bias is not None:
                layer.bias.copy_(self.base.bias)
        return layer.to(self.base.weight.device)


def _targets(module: nn.Module, suffixes: tuple[str, ...]) -> list[str]:
    return [
        name
        for name, child in module.named_modules()
        if isinstance(child, nn.Linear) and name.endswith(suffixes)
    ]


def _replace(module: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(module.get_submodule(parent_name) if parent_name else module, child, new)


def add_lora(
    module: nn.Module, rank: int, alpha: float, suffixes: tuple[str, ...] = ATTENTION_PROJECTIONS
) -> list[str]:
    """Wrap every nn.Linear whose name ends with one of `suffixes`; returns their names.

    Raises if none matches: a LoRA arm that adapts nothing would silently train nothing."""
    names = _targets(module, suffixes)
    if not names:
        raise ValueError(f"no linear layer named *{'/'.join(suffixes)} to put LoRA adapters on")
    for name in names:
        _replace(module, name, LoRALinear(module.get_submodule(name), rank, alpha))
    return names


def lora_parameter_count(module: nn.Module, rank: int, suffixes=ATTENTION_PROJECTIONS) -> int:
    """The parameters add_lora adds: r (in + out) per wrapped layer (no LoRA on biases)."""
    return sum(
        rank * (layer.in_features + layer.out_features)
        for layer in (module.get_submodule(n) for n in _targets(module, suffixes))
    )


def merge_lora(module: nn.Module) -> int:
    """Replace every LoRALinear in `module` by its merged nn.Linear; returns how many."""
    names = [n for n, child in module.named_modules() if isinstance(child, LoRALinear)]
    for name in names:
        _replace(module, name, module.get_submodule(name).merged())
    return len(names)
