"""The workload families on a CPU: shapes, learning, determinism, FLOPs, data loading."""

from __future__ import annotations

import psutil
import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from workloads.base import Options, materialise
from workloads.gpt import GptWorkload
from workloads.mlp import MlpWorkload
from workloads.registry import load_workload, workload_names
from workloads.resnet import ResnetWorkload, make_resnet

CPU = torch.device("cpu")
FAMILIES = ["gpt", "mlp", "resnet"]


@pytest.fixture(autouse=True)
def _two_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


def _built(name: str, seed: int = 0, options: Options | None = None, preset: str = "tiny"):
    workload = load_workload(name)()
    workload.build(preset, CPU, seed, options)
    return workload


def _losses(workload, steps: int) -> list[float]:
    return [materialise(workload.step(i))["loss"] for i in range(steps)]


def test_every_family_is_registered_with_the_three_presets():
    assert set(FAMILIES) <= set(workload_names())
    for name in FAMILIES:
        presets = load_workload(name).presets
        assert {"tiny", "small", "full"} <= set(presets)
        assert presets["full"].gpu and not presets["tiny"].gpu and not presets["small"].gpu


def test_full_presets_have_the_real_shapes():
    gpt = GptWorkload.presets["full"].params
    assert (gpt["layers"], gpt["d_model"], gpt["heads"], gpt["context"], gpt["vocab"]) == (
        12,
        768,
        12,
        1024,
        50257,
    )
    resnet = ResnetWorkload.presets["full"].params
    assert (resnet["depth"], resnet["image_size"], resnet["classes"]) == (50, 224, 1000)
    assert ResnetWorkload.presets["full18"].params["depth"] == 18
    # GPT-2 small has 124 M parameters (tied head); ResNet-50 25.6 M.
    assert sum(p.numel() for p in GptWorkload().make_model(gpt).parameters()) == 124_439_808
    assert sum(p.numel() for p in make_resnet(resnet).parameters()) == 25_557_032


def test_output_shapes_of_the_tiny_presets():
    gpt = _built("gpt")
    x, y = gpt._batches[0]
    p = gpt.params
    assert x.shape == y.shape == (p["batch_size"], p["context"])
    assert x.dtype == torch.long and int(x.max()) < p["vocab"]
    assert torch.equal(x[:, 1:], y[:, :-1])  # targets are the inputs shifted by one
    assert gpt.model(x).shape == (p["batch_size"], p["context"], p["vocab"])

    resnet = _built("resnet")
    images, labels = resnet._batches[0]
    p = resnet.params
    assert images.shape == (p["batch_size"], 3, 32, 32) and images.dtype == torch.uint8
    assert labels.shape == (p["batch_size"],) and int(labels.max()) < p["classes"]
    assert resnet.model(images.float()).shape == (p["batch_size"], p["classes"])

    mlp = _built("mlp")
    x, y = mlp._batches[0]
    p = mlp.params
    assert x.shape == (p["batch_size"], p["in_features"]) and y.shape == (p["batch_size"],)
    assert mlp.model(x).shape == (p["batch_size"], p["classes"])


@pytest.mark.parametrize("name", FAMILIES)
def test_step_reports_the_metrics_a_real_run_logs(name):
    metrics = materialise(_built(name).step(0))
    expected = {"loss", "lr", "grad_norm"} | ({"perplexity"} if name == "gpt" else {"accuracy"})
    assert set(metrics) == expected
    assert metrics["loss"] > 0 and metrics["grad_norm"] > 0 and metrics["lr"] > 0
    if name == "gpt":
        assert metrics["perplexity"] == pytest.approx(torch.tensor(metrics["loss"]).exp().item())
    else:
        assert 0.0 <= metrics["accuracy"] <= 1.0


@pytest.mark.parametrize("name", FAMILIES)
def test_loss_falls_over_a_few_dozen_steps(name):
    losses = _losses(_built(name), 40)
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.8 * first, losses


@pytest.mark.parametrize("name", FAMILIES)
def test_same_seed_same_losses_other_seed_other_losses(name):
    a = _losses(_built(name, seed=3), 6)
    assert a == _losses(_built(name, seed=3), 6)
    assert a != _losses(_built(name, seed=4), 6)


def test_gpt_learning_rate_warms_up_then_decays():
    gpt = _built("gpt")
    p = gpt.params
    lrs = [gpt.lr_at(i) for i in range(p["lr_warmup_steps"] + p["lr_decay_steps"] + 10)]
    warm = lrs[: p["lr_warmup_steps"]]
    assert warm == sorted(warm) and warm[0] == pytest.approx(p["lr"] / p["lr_warmup_steps"])
    assert lrs[p["lr_warmup_steps"]] == pytest.approx(p["lr"])
    decay = lrs[p["lr_warmup_steps"] :]
    assert decay == sorted(decay, reverse=True)
    assert lrs[-1] == pytest.approx(0.1 * p["lr"])
    metrics = materialise(gpt.step(0))
    assert metrics["lr"] == pytest.approx(lrs[0])
    assert gpt.optimizer.param_groups[0]["lr"] == pytest.approx(lrs[0])


# ----------------------------------------------------------------------------- FLOPs


def test_flops_against_hand_counts_for_small_shapes():
    # MLP 3 -> 4 -> 2, batch 5: (3*4 + 4*2) multiply-adds per sample.
    mlp = {"in_features": 3, "hidden": 4, "layers": 1, "classes": 2, "batch_size": 5}
    assert MlpWorkload.forward_flops(mlp) == 2 * 5 * (3 * 4 + 4 * 2) == 200
    assert MlpWorkload.flops_per_step(mlp) == 600
    # GPT, 1 layer, d=8, vocab 16, context 4, batch 2 (8 tokens). Per token: qkv 3*64,
    # proj 64, MLP 2*4*64 = 12*64 weights, head 8*16; attention 2 x (4 x 8) per layer.
    gpt = {"layers": 1, "d_model": 8, "heads": 2, "context": 4, "vocab": 16, "batch_size": 2}
    per_token = 2 * (12 * 64 + 8 * 16) + 2 * 2 * 4 * 8
    assert per_token == 1920
    assert GptWorkload.forward_flops(gpt) == 8 * 1920
    assert GptWorkload.tokens_per_step(gpt) == 8
    # ResNet-18, width 2, CIFAR stem, 4 px, 3 classes, batch 1; multiply-adds per layer:
    resnet = {"depth": 18, "width": 2, "stem": "cifar", "image_size": 4, "classes": 3}
    stem = 3 * 2 * 9 * 16  # 3x3 conv 3->2 at 4x4
    stage0 = 2 * (2 * 2 * 9 + 2 * 2 * 9) * 16  # two basic blocks 2->2 at 4x4
    stage1 = (2 * 4 * 9 + 4 * 4 * 9) * 4 + 2 * 4 * 4 + (4 * 4 * 9 * 2) * 4  # 2x2, shortcut
    stage2 = (4 * 8 * 9 + 8 * 8 * 9) + 4 * 8 + 8 * 8 * 9 * 2  # 1x1
    stage3 = (8 * 16 * 9 + 16 * 16 * 9) + 8 * 16 + 16 * 16 * 9 * 2  # stays 1x1
    fc = 16 * 3
    macs = stem + stage0 + stage1 + stage2 + stage3 + fc
    assert macs == 15504
    assert ResnetWorkload.forward_flops({**resnet, "batch_size": 1}) == 2 * macs
    assert ResnetWorkload.forward_flops({**resnet, "batch_size": 7}) == 7 * 2 * macs


def _counted_forward_flops(model, *inputs) -> int:
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as fc:
        model(*inputs)
    return fc.get_total_flops()


@pytest.mark.parametrize("name", FAMILIES)
def test_flops_formula_matches_torch_flop_counter_on_the_tiny_preset(name):
    workload = _built(name)
    x = workload._batches[0][0]
    model_input = x.float() if name == "resnet" else x
    counted = _counted_forward_flops(workload.model, model_input)
    assert type(workload).forward_flops(workload.params) == counted
    assert workload.config()["flops_per_step"] == 3 * counted


def test_resnet50_bottleneck_and_imagenet_stem_flops_match_the_flop_counter():
    params = {**ResnetWorkload.presets["full"].params, "width": 8, "image_size": 64}
    params.update(classes=10, batch_size=2)
    counted = _counted_forward_flops(make_resnet(params), torch.randn(2, 3, 64, 64))
    assert ResnetWorkload.forward_flops(params) == counted
    # At full size, ResNet-50 is the well-known 4.1 G multiply-adds per 224 px image.
    per_image = ResnetWorkload.forward_flops(
        {**ResnetWorkload.presets["full"].params, "batch_size": 1}
    )
    assert per_image / 2 == pytest.approx(4.09e9, rel=0.01)


def test_gpt2_small_flops_per_token_follow_the_6n_rule():
    params = GptWorkload.presets["full"].params
    per_token = GptWorkload.flops_per_step(params) / GptWorkload.tokens_per_step(params)
    matmul_weights = 12 * 768**2 * 12 + 768 * 50257  # non-embedding + tied head
    attention = 12 * 12 * 1024 * 768  # PaLM's 12 x layers x context x d_model
    assert per_token == 6 * matmul_weights + attention


# ----------------------------------------------------------------------------- options


def test_bf16_is_refused_on_a_cpu():
    with pytest.raises(ValueError, match="CUDA"):
        _built("mlp", options=Options(precision="bf16"))
    with pytest.raises(ValueError, match="precision"):
        _built("mlp", options=Options(precision="fp8"))


def test_dataloader_mode_gives_the_same_batches_and_its_workers_stop_on_close():
    on_device = _losses(_built("resnet", seed=1), 10)
    me = psutil.Process()
    before = {c.pid for c in me.children()}
    workload = _built("resnet", seed=1, options=Options(loader_workers=2))
    workers = [c for c in me.children() if c.pid not in before]
    assert len(workers) == 2  # started in build (setup), not on the first step
    assert _losses(workload, 10) == on_device
    workload.close()
    gone, alive = psutil.wait_procs(workers, timeout=20)
    assert not alive
    assert workload.config()["options"]["loader_workers"] == 2


@pytest.mark.slow
def test_compile_gives_the_eager_losses():
    eager = _losses(_built("mlp", seed=2), 4)
    compiled = _built("mlp", seed=2, options=Options(compile=True))
    assert compiled.module is not compiled.model
    assert _losses(compiled, 4) == pytest.approx(eager, rel=1e-4)
    assert compiled.config()["options"]["compile"] is True
