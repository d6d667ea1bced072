"""``gpt``: a GPT-2-style decoder-only language model on synthetic, learnable token streams.

Pre-LayerNorm blocks (causal self-attention through ``scaled_dot_product_attention``, a 4x GELU
MLP), learned positions, and an output head tied to the token embedding, as in GPT-2. ``full``
is GPT-2 small: 12 layers, 768 wide, 12 heads, 1024 context, 50257-token vocabulary.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from workloads.base import Preset, Workload


class Attention(nn.Module):
    """Multi-head causal self-attention."""

    def __init__(self, d_model: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=-1)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        y = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(b, t, d))


class DecoderBlock(nn.Module):
    def __init__(self, d_model: int, heads: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = Attention(d_model, heads)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class Gpt(nn.Module):
    """GPT-2-style decoder; ``forward(tokens)`` returns logits ``(batch, context, vocab)``."""

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__()
        d, vocab = params["d_model"], params["vocab"]
        self.tokens = nn.Embedding(vocab, d)
        self.positions = nn.Embedding(params["context"], d)
        self.blocks = nn.ModuleList(
            DecoderBlock(d, params["heads"]) for _ in range(params["layers"])
        )
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        self.head.weight = self.tokens.weight  # tied, as in GPT-2
        self.apply(self._init)
        for name, p in self.named_parameters():  # GPT-2's scaled init of residual projections
            if name.endswith(("attn.proj.weight", "mlp.2.weight")):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * params["layers"]))

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.tokens(idx) + self.positions(pos)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


class GptWorkload(Workload):
    """GPT trained with AdamW, linear learning-rate warm-up then cosine decay, clip at 1.0.

    Token streams come from a fixed random process with learnable structure: each token is, with
    probability 1/2, a fixed successor of the previous token, and otherwise a draw from a Zipf
    distribution over the vocabulary, so the loss falls well below log(vocab).
    """

    name = "gpt"
    presets = {
        "tiny": Preset(
            steps=200,
            warmup_steps=10,
            params={
                "layers": 2,
                "d_model": 128,
                "heads": 4,
                "context": 64,
                "vocab": 512,
                "batch_size": 8,
                "batches": 8,
                "lr": 3e-3,
                "lr_warmup_steps": 20,
                "lr_decay_steps": 2000,
                "max_grad_norm": 1.0,
            },
            note="a few seconds on a 2-core CPU",
        ),
        "small": Preset(
            steps=60,
            warmup_steps=5,
            params={
                "layers": 4,
                "d_model": 256,
                "heads": 4,
                "context": 256,
                "vocab": 8192,
                "batch_size": 8,
                "batches": 8,
                "lr": 1e-3,
                "lr_warmup_steps": 20,
                "lr_decay_steps": 2000,
                "max_grad_norm": 1.0,
            },
            note="30-60 s on a 2-core CPU",
        ),
        "full": Preset(
            steps=300,
            warmup_steps=30,
            params={
                "layers": 12,
                "d_model": 768,
                "heads": 12,
                "context": 1024,
                "vocab": 50257,
                "batch_size": 16,
                "batches": 4,
                "lr": 6e-4,
                "lr_warmup_steps": 100,
                "lr_decay_steps": 5000,
                "max_grad_norm": 1.0,
            },
            note="GPT-2 small (124 M parameters), 1024 context; meant for a GPU",
            gpu=True,
        ),
    }

    def make_model(self, params: dict[str, Any]) -> nn.Module:
        if params["d_model"] % params["heads"]:
            raise ValueError("d_model must be a multiple of heads")
        return Gpt(params)

    def make_batches(
        self, params: dict[str, Any], generator: torch.Generator
    ) -> list[tuple[torch.Tensor, ...]]:
        vocab, n = params["vocab"], params["batches"] * params["batch_size"]
        successor = torch.randperm(vocab, generator=generator)
        zipf = 1.0 / torch.arange(1, vocab + 1, dtype=torch.float64)
        ranks = torch.randperm(vocab, generator=generator)  # which token has which Zipf rank
        length = params["context"] + 1
        draws = ranks[torch.multinomial(zipf, n * length, replacement=True, generator=generator)]
        draws = draws.view(n, length)
        follow = torch.rand(n, length, generator=generator) < 0.5
        stream = torch.empty(n, length, dtype=torch.long)
        stream[:, 0] = draws[:, 0]
        for i in range(1, length):
            stream[:, i] = torch.where(follow[:, i], successor[stream[:, i - 1]], draws[:, i])
        stream = stream.view(params["batches"], params["batch_size"], length)
        return [(s[:, :-1].contiguous(), s[:, 1:].contiguous()) for s in stream]

    def make_optimizer(self, params: dict[str, Any], model: nn.Module) -> torch.optim.Optimizer:
        decay = [p for p in model.parameters() if p.dim() >= 2]
        no_decay = [p for p in model.parameters() if p.dim() < 2]
        groups = [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=params["lr"], betas=(0.9, 0.95))

    def lr_at(self, index: int) -> float:
        """Linear warm-up to ``lr``, then cosine decay to a tenth of it at ``lr_decay_steps``."""
        p = self.params
        if index < p["lr_warmup_steps"]:
            return p["lr"] * (index + 1) / p["lr_warmup_steps"]
        progress = min(1.0, (index - p["lr_warmup_steps"]) / p["lr_decay_steps"])
        return p["lr"] * (0.1 + 0.45 * (1 + math.cos(math.pi * progress)))

    def forward(self, batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        x, y = batch
        logits = self.module(x)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1).float(), y.flatten())
        return {"loss": loss, "perplexity": torch.exp(loss.detach())}

    @classmethod
    def tokens_per_step(cls, params: dict[str, Any]) -> int | None:
        return int(params["batch_size"] * params["context"])

    @classmethod
    def forward_flops(cls, params: dict[str, Any]) -> int:
        """Per token: 2 x (12 d^2 per layer + d x vocab for the head) + 4 x context x d per layer.

        The second term is the attention scores and weighted sum (PaLM's 12 L H Q T for a
        training step); embeddings are lookups and not counted.
        """
        d, layers, t = params["d_model"], params["layers"], params["context"]
        per_token = 2 * (12 * d * d * layers + d * params["vocab"]) + 4 * layers * t * d
        return per_token * cls.tokens_per_step(params)
