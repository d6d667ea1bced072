"""Logging profiles: definitions, the TOML file, and scalars derived from real tensors."""

import math

import pytest
import torch

from bench.profiles import (
    BUILTIN_PROFILES,
    HISTOGRAM_BINS,
    Profile,
    ProfileError,
    ScalarSource,
    chunk_norms,
    resolve_profiles,
)


def test_builtin_profiles_are_what_the_issue_defines():
    got = {
        n: (p.scalars, p.every, p.histogram_every, p.artifact_every)
        for n, p in BUILTIN_PROFILES.items()
    }
    assert got == {
        "light": (4, 10, None, None),
        "standard": (20, 1, None, None),
        "heavy": (200, 1, 50, None),
        "artifacts": (20, 1, None, 100),
    }


def test_profiles_file_adds_and_overrides(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(
        "[profiles.sparse]\nscalars = 8\nevery = 25\nhistogram_every = 100\n"
        "[profiles.light]\nscalars = 2\nevery = 5\n"
    )
    sparse, light, heavy = resolve_profiles(("sparse", "light", "heavy"), path)
    assert sparse == Profile("sparse", 8, 25, histogram_every=100)
    assert light == Profile("light", 2, 5)  # the file's definition wins
    assert heavy == BUILTIN_PROFILES["heavy"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[profiles.x]\nscalars = 0\nevery = 1\n", "scalars must be a positive integer"),
        ("[profiles.x]\nscalars = 3\n", "missing every"),
        ("[profiles.x]\nscalars = 3\nevery = 1\ncolour = 2\n", "unknown key(s) colour"),
        ("[profiles.x]\nscalars = 'many'\nevery = 1\n", "positive integer"),
        ("scalars = 3\n", "no [profiles.NAME] tables"),
        ("[profiles.x\n", "not valid TOML"),
    ],
)
def test_bad_profiles_files_name_the_file_and_the_problem(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ProfileError, match="bad.toml") as err:
        resolve_profiles(("x",), path)
    assert message in str(err.value)


def test_unknown_profile_lists_the_valid_ones(tmp_path):
    with pytest.raises(ProfileError, match="valid: light, standard, heavy, artifacts"):
        resolve_profiles(("medium",))
    with pytest.raises(ProfileError, match="cannot read"):
        resolve_profiles(("x",), tmp_path / "missing.toml")


def test_chunk_norms_partition_the_whole_vector():
    torch.manual_seed(0)
    tensors = [torch.randn(7, 3), torch.randn(5), torch.randn(2, 2, 2)]
    norms = chunk_norms(tensors, 6)
    flat = torch.cat([t.reshape(-1) for t in tensors])
    assert norms.shape == (6,)
    assert math.isclose(float(norms.square().sum().sqrt()), float(flat.norm()), rel_tol=1e-5)
    # chunk k is elements [6k, 6k+6) of the 34 laid end to end, across tensor boundaries
    expected = torch.stack([flat[k * 6 : k * 6 + 6].norm() for k in range(6)])
    assert torch.allclose(norms, expected, rtol=1e-5)
    assert chunk_norms(tensors, 100).shape == (100,)  # more chunks than elements: zeros


def _model_with_grads():
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    model(torch.randn(4, 8)).sum().backward()
    return model


@pytest.mark.parametrize("wanted", [2, 4, 20, 200])
def test_scalars_come_to_the_profile_count_from_real_tensors(wanted):
    model = _model_with_grads()
    source = ScalarSource(Profile("p", scalars=wanted, every=1), model)
    base = {"loss": torch.tensor(1.5), "accuracy": torch.tensor(0.5), "lr": 0.1, "grad_norm": 2.0}

    def scalars():
        return source.scalars(*source.materialise(base))

    out = scalars()
    assert out["loss"] == 1.5 and type(out["loss"]) is float  # tensors become floats
    assert len(out) == wanted
    assert list(out)[: min(wanted, 4)] == list(base)[: min(wanted, 4)]
    weights = [v for k, v in out.items() if k.startswith("weights/")]
    grads = [v for k, v in out.items() if k.startswith("grads/")]
    if wanted > 4:
        params = list(model.parameters())
        weight_total = torch.cat([p.detach().reshape(-1) for p in params]).norm()
        grad_total = torch.cat([p.grad.reshape(-1) for p in params]).norm()
        assert math.isclose(math.hypot(*weights), float(weight_total), rel_tol=1e-5)
        assert math.isclose(math.hypot(*grads), float(grad_total), rel_tol=1e-5)
        with torch.no_grad():  # the values follow the tensors: they are not constants
            for p in model.parameters():
                p.mul_(2)
        again = scalars()
        assert math.isclose(
            math.hypot(*[v for k, v in again.items() if k.startswith("weights/")]),
            2 * float(weight_total),
            rel_tol=1e-5,
        )


def test_weight_histogram_counts_every_weight_with_exact_moments():
    model = _model_with_grads()
    hist = ScalarSource(BUILTIN_PROFILES["heavy"], model).weight_histogram()
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    assert len(hist.counts) == HISTOGRAM_BINS and len(hist.edges) == HISTOGRAM_BINS + 1
    assert sum(hist.counts) == flat.numel() == hist.count
    assert hist.edges[0] == pytest.approx(float(flat.min()))
    assert hist.edges[-1] == pytest.approx(float(flat.max()))
    assert hist.sum == pytest.approx(float(flat.sum()), rel=1e-5)
    assert hist.sum_squares == pytest.approx(float(flat.square().sum()), rel=1e-5)


def test_profile_names_stay_inside_the_run_directory(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('[profiles."../escape"]\nscalars = 1\nevery = 1\n')
    with pytest.raises(ProfileError, match="letters, digits"):
        resolve_profiles(("../escape",), path)


def test_measured_calls_count_only_the_measure_window():
    artifacts = BUILTIN_PROFILES["artifacts"]
    # gpt/resnet small: 5 warm-up + 60 steps: the only checkpoint (step 0) is in warm-up
    assert artifacts.measured_calls(5, 60) == {"log": 60, "histogram": 0, "artifact": 0}
    assert BUILTIN_PROFILES["heavy"].measured_calls(50, 1000)["histogram"] == 20
    assert BUILTIN_PROFILES["light"].measured_calls(5, 20) == {
        "log": 2,
        "histogram": 0,
        "artifact": 0,
    }


def test_cli_warns_when_a_profile_makes_no_measured_call(capsys):
    from rich.console import Console

    from bench.cli import _warn_profiles_without_measured_calls
    from bench.matrix import expand
    from tests.test_matrix import _spec
    from workloads.base import Preset

    spec = _spec(
        workloads=("gpt",),
        presets=("small",),
        trackers=("none",),
        profiles=(BUILTIN_PROFILES["artifacts"],),
        reps=1,
    )
    runs = expand(spec, {("gpt", "small"): Preset(60, 5, {})})
    _warn_profiles_without_measured_calls(Console(width=200), runs)
    out = capsys.readouterr().out
    assert "no artifact call falls in the measure window" in out and "Raise --steps" in out
