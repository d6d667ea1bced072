"""``mlp``: a multi-layer perceptron classifier on synthetic, learnable data."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from workloads.base import Preset, Workload


def _dims(params: dict[str, Any]) -> list[int]:
    return [params["in_features"]] + [params["hidden"]] * params["layers"] + [params["classes"]]


class MlpWorkload(Workload):
    """MLP trained with SGD+momentum on data labelled by a fixed random teacher network.

    The labels come from a teacher, so the loss really falls.
    """

    name = "mlp"
    presets = {
        "tiny": Preset(
            steps=1000,
            warmup_steps=50,
            params={
                "in_features": 256,
                "hidden": 512,
                "layers": 2,
                "classes": 10,
                "batch_size": 64,
                "batches": 16,
                "lr": 0.05,
            },
            note="a few seconds on a 2-core CPU",
        ),
        "small": Preset(
            steps=400,
            warmup_steps=50,
            params={
                "in_features": 1024,
                "hidden": 2048,
                "layers": 4,
                "classes": 100,
                "batch_size": 128,
                "batches": 16,
                "lr": 0.02,
            },
            note="30-60 s on a 2-core CPU",
        ),
        "full": Preset(
            steps=2000,
            warmup_steps=100,
            params={
                "in_features": 4096,
                "hidden": 8192,
                "layers": 8,
                "classes": 1000,
                "batch_size": 1024,
                "batches": 8,
                "lr": 0.01,
            },
            note="0.5 G parameters; meant for a GPU",
            gpu=True,
        ),
    }

    def make_model(self, params: dict[str, Any]) -> nn.Module:
        dims = _dims(params)
        blocks: list[nn.Module] = []
        for d_in, d_out in zip(dims[:-2], dims[1:-1], strict=True):
            blocks += [nn.Linear(d_in, d_out), nn.ReLU()]
        blocks.append(nn.Linear(dims[-2], dims[-1]))
        return nn.Sequential(*blocks)

    def make_batches(
        self, params: dict[str, Any], generator: torch.Generator
    ) -> list[tuple[torch.Tensor, ...]]:
        teacher = torch.randn(params["in_features"], params["classes"], generator=generator)
        shape = (params["batches"], params["batch_size"], params["in_features"])
        xs = torch.randn(shape, generator=generator)
        ys = (xs @ teacher).argmax(dim=-1)
        return list(zip(xs, ys, strict=True))

    def make_optimizer(self, params: dict[str, Any], model: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.SGD(model.parameters(), lr=params["lr"], momentum=0.9)

    def forward(self, batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        x, y = batch
        logits = self.module(x)
        loss = nn.functional.cross_entropy(logits, y)
        accuracy = (logits.detach().argmax(dim=-1) == y).float().mean()
        return {"loss": loss, "accuracy": accuracy}

    @classmethod
    def forward_flops(cls, params: dict[str, Any]) -> int:
        dims = _dims(params)
        macs = sum(a * b for a, b in zip(dims[:-1], dims[1:], strict=False))
        return 2 * params["batch_size"] * macs
