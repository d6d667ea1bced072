import hashlib
import json
from collections import Counter

from bench.matrix import MatrixSpec, expand
from bench.profiles import BUILTIN_PROFILES, Profile
from workloads.base import Preset


def _spec(**kw):
    base = dict(
        workloads=("mlp",),
        presets=("tiny",),
        trackers=("none", "a", "b", "c"),
        profiles=(BUILTIN_PROFILES["light"],),
        reps=5,
        seed=7,
        steps=None,
        warmup_steps=None,
        threads=2,
        device="cpu",
        sample_interval_s=0.05,
    )
    base.update(kw)
    return MatrixSpec(**base)


STEPS = {("mlp", "tiny"): Preset(100, 10, {})}


def test_every_block_runs_every_configuration_exactly_once():
    runs = expand(_spec(), STEPS)
    assert len(runs) == 20
    for block in range(5):
        in_block = [r for r in runs if r.block == block]
        assert Counter(r.tracker for r in in_block) == Counter({"none": 1, "a": 1, "b": 1, "c": 1})
        assert [r.position for r in in_block] == [0, 1, 2, 3]
    # blocks run one after another, never interleaved
    assert [r.block for r in runs] == sorted(r.block for r in runs)


def test_order_is_seeded_reproducible_and_varies_between_blocks():
    a = [r.run_id for r in expand(_spec(), STEPS)]
    assert a == [r.run_id for r in expand(_spec(), STEPS)]
    assert a != [r.run_id for r in expand(_spec(seed=8), STEPS)]
    orders = {tuple(r.tracker for r in expand(_spec(), STEPS) if r.block == b) for b in range(5)}
    assert len(orders) > 1


def test_overrides_and_preset_defaults():
    runs = expand(_spec(), STEPS)
    assert {(r.steps, r.warmup_steps) for r in runs} == {(100, 10)}
    runs = expand(_spec(steps=5, warmup_steps=0), STEPS)
    assert {(r.steps, r.warmup_steps) for r in runs} == {(5, 0)}


def test_fingerprint_changes_with_any_axis():
    assert _spec().fingerprint() == _spec().fingerprint()
    assert _spec().fingerprint() != _spec(reps=4).fingerprint()
    assert _spec().fingerprint() != _spec(trackers=("none", "a")).fingerprint()
    # a user profile redefined under the same name is a different comparison
    changed = (Profile("light", scalars=5, every=10),)
    assert _spec().fingerprint() != _spec(profiles=changed).fingerprint()
    assert _spec().fingerprint() != _spec(sysmetrics_interval_s=1.0).fingerprint()


def test_profiles_are_an_axis_inside_each_block():
    profiles = (BUILTIN_PROFILES["light"], BUILTIN_PROFILES["heavy"])
    runs = expand(_spec(trackers=("none", "a"), profiles=profiles, reps=2), STEPS)
    assert len(runs) == 8
    for block in (0, 1):
        got = Counter((r.tracker, r.profile["name"]) for r in runs if r.block == block)
        assert got == Counter({(t, p): 1 for t in ("none", "a") for p in ("light", "heavy")})
    heavy = next(r for r in runs if r.profile["name"] == "heavy")
    assert heavy.profile == BUILTIN_PROFILES["heavy"].to_dict()  # the definition travels
    assert heavy.run_id == f"mlp.tiny.{heavy.tracker}.heavy.r{heavy.rep}"


def test_precision_auto_is_bf16_only_for_gpu_presets_on_cuda():
    presets = {
        ("gpt", "tiny"): Preset(10, 1, {}),
        ("gpt", "full"): Preset(10, 1, {}, gpu=True),
    }

    def precisions(**kw):
        spec = _spec(workloads=("gpt",), presets=("tiny", "full"), trackers=("none",), **kw)
        return {r.preset: r.precision for r in expand(spec, presets)}

    assert precisions(device="cpu") == {"tiny": "fp32", "full": "fp32"}
    assert precisions(device="cuda:1") == {"tiny": "fp32", "full": "bf16"}
    assert precisions(device="cuda", precision="fp32") == {"tiny": "fp32", "full": "fp32"}
    # a GPU without bf16 hardware (V100, T4) stays in fp32 under auto
    assert precisions(device="cuda", bf16_supported=False) == {"tiny": "fp32", "full": "fp32"}


def test_fields_added_later_keep_older_directories_resumable():
    spec = _spec()
    legacy = {
        k: v
        for k, v in spec.to_dict().items()
        if k
        not in ("precision", "compile", "loader_workers", "bf16_supported", "sysmetrics_interval_s")
    }
    # the fingerprint formula of result directories written before these fields existed
    old = hashlib.sha256(json.dumps(legacy, sort_keys=True).encode()).hexdigest()[:16]
    assert spec.fingerprint() == old
    assert _spec(compile=True).fingerprint() != old
    assert _spec(precision="fp32").fingerprint() != old
    assert _spec(loader_workers=2).fingerprint() != old


def test_several_workloads_share_each_block():
    presets = {(w, "tiny"): Preset(10, 1, {}) for w in ("mlp", "gpt", "resnet")}
    spec = _spec(workloads=("mlp", "gpt", "resnet"), trackers=("none", "a"), reps=2)
    runs = expand(spec, presets)
    for block in (0, 1):
        assert Counter(r.workload for r in runs if r.block == block) == Counter(
            {"mlp": 2, "gpt": 2, "resnet": 2}
        )
