"""``mlp``: a multi-layer perceptron classifier on synthetic, learnable data."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from workloads.base import Preset, Workload


class MlpWorkload(Workload):
    """MLP trained with SGD+momentum on data labelled by a fixed random teacher network.

    The labels come from a teacher, so the loss really falls; all batches are generated once
    on the device before timing starts and cycled, so no data loading enters the measurement.
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
    }

    def build(self, preset: str, device: torch.device, seed: int) -> None:
        p = self.presets[preset].params
        self._params = dict(p)
        gen = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        dims = [p["in_features"]] + [p["hidden"]] * p["layers"]
        blocks: list[nn.Module] = []
        for d_in, d_out in zip(dims[:-1], dims[1:], strict=False):
            blocks += [nn.Linear(d_in, d_out), nn.ReLU()]
        blocks.append(nn.Linear(dims[-1], p["classes"]))
        self.model = nn.Sequential(*blocks).to(device)
        teacher = torch.randn(p["in_features"], p["classes"], generator=gen)
        xs = torch.randn(p["batches"], p["batch_size"], p["in_features"], generator=gen)
        self.inputs = xs.to(device)
        self.targets = (xs @ teacher).argmax(dim=-1).to(device)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=p["lr"], momentum=0.9)
        self.loss_fn = nn.CrossEntropyLoss()
        self.lr = torch.tensor(p["lr"], device=device)

    def step(self, index: int) -> dict[str, torch.Tensor]:
        b = index % self.inputs.shape[0]
        x, y = self.inputs[b], self.targets[b]
        self.optimizer.zero_grad(set_to_none=True)
        logits = self.model(x)
        loss = self.loss_fn(logits, y)
        loss.backward()
        grad_norm = nn.utils.clip_grad_norm_(self.model.parameters(), float("inf"))
        self.optimizer.step()
        accuracy = (logits.detach().argmax(dim=-1) == y).float().mean()
        return {"loss": loss.detach(), "accuracy": accuracy, "lr": self.lr, "grad_norm": grad_norm}

    def config(self) -> dict[str, Any]:
        n_params = sum(p.numel() for p in self.model.parameters())
        return {**self._params, "parameters": n_params}
