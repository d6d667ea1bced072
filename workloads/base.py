"""The workload protocol: build a model and data on a device, run one training step.

A workload family (``mlp``, ``resnet``, ``gpt``) supplies its model, its synthetic batches, its
optimiser and learning-rate schedule, its loss, and an analytic count of the model FLOPs of one
training step. This base class owns what every family does the same way: seeding, placing the
data, the optional DataLoader, bf16 autocast and TF32, ``torch.compile``, the backward pass,
gradient-norm measurement and the optimiser step.
"""

from __future__ import annotations

import contextlib
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import torch
    from torch import nn

PRECISIONS = ("fp32", "bf16")
FLOPS_CONVENTION = (
    "analytic model FLOPs: 2 x multiply-adds of every matmul and convolution (attention "
    "scores and weighted sum included, causal mask ignored); a training step counts 3 x the "
    "forward pass; normalisation, activations, pooling and the optimiser are not counted"
)


@dataclass(frozen=True)
class Preset:
    """A size preset: default step counts and the model/data shape parameters.

    ``gpu`` marks a preset meant for a GPU: on a CPU it still runs, but ``trackerbench run``
    warns about the expected time first.
    """

    steps: int
    warmup_steps: int
    params: dict[str, Any]
    note: str = ""
    gpu: bool = False


@dataclass(frozen=True)
class Options:
    """How a workload runs, beyond its preset (all recorded in the run spec).

    ``precision``: ``fp32``, or ``bf16`` = bf16 autocast of the forward pass with TF32 matmuls
    and convolutions (CUDA only). ``compile``: wrap the model in ``torch.compile`` (compilation
    then happens in the first warm-up steps). ``loader_workers``: 0 places every batch on the
    device before timing; N > 0 feeds batches through a ``torch.utils.data.DataLoader`` with N
    worker processes.
    """

    precision: str = "fp32"
    compile: bool = False
    loader_workers: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _CycledBatches:
    """A map-style dataset that returns pre-generated batch ``i mod n`` for index ``i``."""

    def __init__(self, batches: list[tuple[torch.Tensor, ...]]) -> None:
        self.batches = batches

    def __len__(self) -> int:
        return sys.maxsize

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        return self.batches[index % len(self.batches)]


class Workload(ABC):
    """One training workload. ``step()`` returns metric tensors (or floats), not synced numbers.

    The worker materialises them (``.item()``) only at the logging frequency, identically for
    every tracker configuration (``none`` included), so the tracker's cost is the only
    difference between configurations.
    """

    name: ClassVar[str]
    presets: ClassVar[dict[str, Preset]]

    # ------------------------------------------------------------------ what a family supplies

    @abstractmethod
    def make_model(self, params: dict[str, Any]) -> nn.Module:
        """The model, on the CPU (seeded by the caller)."""

    @abstractmethod
    def make_batches(
        self, params: dict[str, Any], generator: torch.Generator
    ) -> list[tuple[torch.Tensor, ...]]:
        """``params["batches"]`` synthetic batches on the CPU, drawn from ``generator``."""

    @abstractmethod
    def make_optimizer(self, params: dict[str, Any], model: nn.Module) -> torch.optim.Optimizer:
        """The optimiser for ``model`` (its learning rate is set every step from ``lr_at``)."""

    @abstractmethod
    def forward(self, batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        """Forward pass and loss on a device batch: ``{"loss": ..., other metrics...}``.

        Calls the model through ``self.module`` (the compiled wrapper under ``--compile``).
        """

    @classmethod
    @abstractmethod
    def forward_flops(cls, params: dict[str, Any]) -> int:
        """Model FLOPs of one forward pass over one batch (see ``FLOPS_CONVENTION``)."""

    @classmethod
    def samples_per_step(cls, params: dict[str, Any]) -> int:
        """Training samples in one step (the batch size)."""
        return int(params["batch_size"])

    @classmethod
    def tokens_per_step(cls, params: dict[str, Any]) -> int | None:
        """Tokens in one step, for language models; ``None`` for other families."""
        return None

    def lr_at(self, index: int) -> float:
        """Learning rate of step ``index`` (constant unless a family schedules it)."""
        return float(self.params["lr"])

    # ------------------------------------------------------------------ shared machinery

    @classmethod
    def flops_per_step(cls, params: dict[str, Any]) -> int:
        """Model FLOPs of one training step: 3 x the forward pass (backward = 2 x forward)."""
        return 3 * cls.forward_flops(params)

    def build(
        self, preset: str, device: torch.device, seed: int, options: Options | None = None
    ) -> None:
        """Create the model, optimiser and all synthetic data (seeded) for ``device``."""
        import torch

        options = options or Options()
        check_precision(options.precision, device)
        self.options = options
        self.device = device
        self.params = dict(self.presets[preset].params)
        self.max_grad_norm = float(self.params.get("max_grad_norm", float("inf")))
        bf16 = options.precision == "bf16"  # autocast, with TF32 matmuls and convolutions
        # resolved once here, not in every step of the measured loop
        self._autocast: Callable[[], contextlib.AbstractContextManager[Any]] = (
            partial(torch.autocast, device_type=device.type, dtype=torch.bfloat16)
            if bf16
            else contextlib.nullcontext
        )
        self._clip = torch.nn.utils.clip_grad_norm_
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = bf16
            torch.backends.cudnn.allow_tf32 = bf16
            torch.backends.cudnn.benchmark = True  # autotunes convolutions during warm-up
        torch.manual_seed(seed)
        model = self.make_model(self.params)
        self.channels_last = device.type == "cuda" and self.uses_channels_last()
        fmt = torch.channels_last if self.channels_last else torch.preserve_format
        self.model = model = model.to(device, memory_format=fmt)
        self.optimizer = self.make_optimizer(self.params, model)
        self.on_device()
        # what ``forward`` calls: the compiled wrapper under --compile (same parameters)
        self.module = torch.compile(model) if options.compile else model
        batches = self.make_batches(self.params, torch.Generator().manual_seed(seed))
        self._loader_iter = None
        if options.loader_workers > 0:
            from torch.utils.data import DataLoader

            loader = DataLoader(
                _CycledBatches(batches),  # type: ignore[arg-type]
                batch_size=None,
                num_workers=options.loader_workers,
                pin_memory=device.type == "cuda",
                persistent_workers=True,
            )
            self._loader_iter = iter(loader)  # starts the worker processes now, in setup
            self._batches: list[tuple[torch.Tensor, ...]] = []
        else:
            self._batches = [tuple(t.to(device) for t in b) for b in batches]

    def on_device(self) -> None:  # noqa: B027 - an optional hook, empty by default
        """Create any constant tensors ``forward`` needs on ``self.device`` (once, in build)."""

    def uses_channels_last(self) -> bool:
        """Whether the model runs in channels-last memory format on CUDA (convolutions)."""
        return False

    def _batch(self, index: int) -> tuple[torch.Tensor, ...]:
        if self._loader_iter is None:
            return self._batches[index % len(self._batches)]
        cpu = next(self._loader_iter)
        return tuple(t.to(self.device, non_blocking=True) for t in cpu)

    def step(self, index: int) -> dict[str, Any]:
        """Run training step ``index``; return its metrics as unsynchronised tensors (lr: float)."""
        lr = self.lr_at(index)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        batch = self._batch(index)
        self.optimizer.zero_grad(set_to_none=True)
        with self._autocast():
            metrics = self.forward(batch)
        metrics["loss"].backward()
        grad_norm = self._clip(self.model.parameters(), self.max_grad_norm)
        self.optimizer.step()
        out = {k: v.detach() for k, v in metrics.items()}
        out.update(lr=lr, grad_norm=grad_norm)
        return out

    def close(self) -> None:
        """Stop DataLoader worker processes, if any (called after the measure window)."""
        self._loader_iter = None

    def config(self) -> dict[str, Any]:
        """The resolved shape of the workload and the figures throughput is computed from."""
        return {
            **self.params,
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "samples_per_step": self.samples_per_step(self.params),
            "tokens_per_step": self.tokens_per_step(self.params),
            "flops_per_step": self.flops_per_step(self.params),
            "flops_convention": FLOPS_CONVENTION,
            "options": self.options.to_dict(),
            "autocast_dtype": "bfloat16" if self.options.precision == "bf16" else None,
            "tf32": self.options.precision == "bf16",
            "channels_last": self.channels_last,
            "cudnn_benchmark": self.device.type == "cuda",
        }


def check_precision(precision: str, device: torch.device) -> None:
    """Raise ``ValueError`` (saying why) unless ``precision`` can run on ``device``."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    if precision == "bf16" and device.type != "cuda":
        raise ValueError("bf16 autocast (with TF32) is for CUDA devices; CPU runs are fp32")
    if precision == "bf16" and not bf16_supported(device):
        raise ValueError(
            f"{device} has no bf16 hardware (compute capability 8.0 or newer is needed); use fp32"
        )


def bf16_supported(device: torch.device) -> bool:
    """Whether ``device`` computes in bf16 natively (CUDA compute capability 8.0 or newer)."""
    import torch

    if device.type != "cuda":
        return False
    return torch.cuda.get_device_capability(device) >= (8, 0)


def materialise(metrics: dict[str, Any]) -> dict[str, float]:
    """Turn metric tensors (and floats) into Python floats (synchronises with the device)."""
    return {key: float(value) for key, value in metrics.items()}
