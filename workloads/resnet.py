"""``resnet``: ResNet-18 / ResNet-50 image classification on synthetic, learnable images.

The networks are written with ``torch.nn`` (torchvision cannot be imported beside every torch
build) and follow torchvision's ResNet v1.5 (stride in the 3x3 convolution of a bottleneck).
Presets at 32 px use the CIFAR stem (one 3x3 convolution, no max-pool), as is usual at that size;
``full`` is ImageNet-shaped (224 px, 1000 classes, 7x7 stem with max-pool).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
from torch import nn

from workloads.base import Preset, Workload

BLOCKS = {18: ("basic", (2, 2, 2, 2)), 50: ("bottleneck", (3, 4, 6, 3))}
EXPANSION = {"basic": 1, "bottleneck": 4}
# ImageNet channel statistics, used to normalise the uint8 images on the device.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def _conv_bn(c_in: int, c_out: int, k: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, k, stride, k // 2, bias=False), nn.BatchNorm2d(c_out)]


class Block(nn.Module):
    """A basic (two 3x3) or bottleneck (1x1, 3x3, 1x1) residual block."""

    def __init__(self, kind: str, c_in: int, width: int, stride: int) -> None:
        super().__init__()
        c_out = width * EXPANSION[kind]
        if kind == "basic":
            layers = [*_conv_bn(c_in, width, 3, stride), nn.ReLU(), *_conv_bn(width, c_out, 3)]
        else:
            layers = [
                *_conv_bn(c_in, width, 1),
                nn.ReLU(),
                *_conv_bn(width, width, 3, stride),
                nn.ReLU(),
                *_conv_bn(width, c_out, 1),
            ]
        self.body = nn.Sequential(*layers)
        self.shortcut = (
            nn.Sequential(*_conv_bn(c_in, c_out, 1, stride))
            if stride != 1 or c_in != c_out
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


def _layout(params: dict[str, Any]):
    """Yield ``(kind, c_in, width, stride)`` of every block, in order."""
    kind, counts = BLOCKS[params["depth"]]
    c_in = params["width"]
    for stage, count in enumerate(counts):
        width = params["width"] * 2**stage
        for i in range(count):
            stride = 2 if stage > 0 and i == 0 else 1
            yield kind, c_in, width, stride
            c_in = width * EXPANSION[kind]


def make_resnet(params: dict[str, Any]) -> nn.Sequential:
    """The ResNet described by ``params`` (depth, width, stem, classes)."""
    if params["stem"] == "imagenet":
        stem = [*_conv_bn(3, params["width"], 7, 2), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    else:
        stem = [*_conv_bn(3, params["width"], 3), nn.ReLU()]
    blocks = [Block(*spec) for spec in _layout(params)]
    kind, _ = BLOCKS[params["depth"]]
    features = params["width"] * 8 * EXPANSION[kind]
    head = [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(features, params["classes"])]
    return nn.Sequential(*stem, *blocks, *head)


def _conv_out(size: int, k: int, stride: int) -> int:
    return (size + 2 * (k // 2) - k) // stride + 1


class ResnetWorkload(Workload):
    """ResNet trained with SGD + momentum + weight decay; top-1 accuracy as a metric.

    Images are stored as uint8 (as a decoded JPEG would be) and normalised on the device; each
    class has its own random low-resolution template, so the loss really falls.
    """

    name = "resnet"
    presets = {
        "tiny": Preset(
            steps=100,
            warmup_steps=10,
            params={
                "depth": 18,
                "width": 16,
                "stem": "cifar",
                "image_size": 32,
                "classes": 10,
                "batch_size": 16,
                "batches": 8,
                "lr": 0.05,
            },
            note="ResNet-18 at a quarter width, 32 px; a few seconds on a 2-core CPU",
        ),
        "small": Preset(
            steps=60,
            warmup_steps=5,
            params={
                "depth": 18,
                "width": 64,
                "stem": "cifar",
                "image_size": 32,
                "classes": 10,
                "batch_size": 32,
                "batches": 8,
                "lr": 0.05,
            },
            note="ResNet-18, 32 px; 30-60 s on a 2-core CPU",
        ),
        "full": Preset(
            steps=500,
            warmup_steps=50,
            params={
                "depth": 50,
                "width": 64,
                "stem": "imagenet",
                "image_size": 224,
                "classes": 1000,
                "batch_size": 256,
                "batches": 4,
                "lr": 0.1,
            },
            note="ResNet-50, ImageNet-shaped (224 px, 1000 classes); meant for a GPU",
            gpu=True,
        ),
    }

    presets["full18"] = replace(
        presets["full"],
        params={**presets["full"].params, "depth": 18},
        note="ResNet-18, ImageNet-shaped (224 px, 1000 classes); meant for a GPU",
    )

    def uses_channels_last(self) -> bool:
        return True

    def on_device(self) -> None:
        # built once: a per-step torch.tensor(..., device=cuda) would synchronise every step
        self.mean = torch.tensor(MEAN, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(STD, device=self.device).view(1, 3, 1, 1)

    def make_model(self, params: dict[str, Any]) -> nn.Module:
        return make_resnet(params)

    def make_batches(
        self, params: dict[str, Any], generator: torch.Generator
    ) -> list[tuple[torch.Tensor, ...]]:
        size, classes = params["image_size"], params["classes"]
        templates = torch.rand(classes, 3, 8, 8, generator=generator)
        out = []
        for _ in range(params["batches"]):
            y = torch.randint(classes, (params["batch_size"],), generator=generator)
            pattern = nn.functional.interpolate(templates[y], size=(size, size), mode="bilinear")
            noise = torch.rand(params["batch_size"], 3, size, size, generator=generator)
            x = (0.3 * pattern + 0.7 * noise) * 255
            out.append((x.to(torch.uint8), y))
        return out

    def make_optimizer(self, params: dict[str, Any], model: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.SGD(model.parameters(), lr=params["lr"], momentum=0.9, weight_decay=5e-5)

    def forward(self, batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        images, y = batch
        x = (images.float() / 255 - self.mean) / self.std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        logits = self.module(x)
        loss = nn.functional.cross_entropy(logits, y)
        accuracy = (logits.detach().argmax(dim=-1) == y).float().mean()
        return {"loss": loss, "accuracy": accuracy}

    @classmethod
    def forward_flops(cls, params: dict[str, Any]) -> int:
        """Convolutions and the classifier: 2 x C_in x C_out x k^2 x H_out x W_out per image."""
        macs = 0
        size = params["image_size"]
        if params["stem"] == "imagenet":
            size = _conv_out(size, 7, 2)
            macs += 3 * params["width"] * 49 * size * size
            size = _conv_out(size, 3, 2)  # max-pool
        else:
            macs += 3 * params["width"] * 9 * size * size
        for kind, c_in, width, stride in _layout(params):
            out = _conv_out(size, 3, stride)
            c_out = width * EXPANSION[kind]
            if kind == "basic":
                macs += (c_in * width * 9 + width * c_out * 9) * out * out
            else:
                macs += c_in * width * size * size + width * width * 9 * out * out
                macs += width * c_out * out * out
            if stride != 1 or c_in != c_out:
                macs += c_in * c_out * out * out
            size = out
        kind, _ = BLOCKS[params["depth"]]
        macs += params["width"] * 8 * EXPANSION[kind] * params["classes"]
        return 2 * params["batch_size"] * macs
