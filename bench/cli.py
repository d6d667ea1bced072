"""The ``trackerbench`` command line: ``env``, ``run``, ``report``, ``compare`` and ``regress``."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

EXIT_USAGE = 2
DEFAULT_TRACKERS = "none,wandb-offline,mlflow-sqlite"
DEFAULT_PROFILES = "standard"
DEFAULT_LOADER_WORKERS = 2


class UsageError(Exception):
    """Bad input from the user: printed as an error, exit status 2."""


def split_list(value: str) -> tuple[str, ...]:
    """A comma-separated list, stripped, duplicates dropped; :class:`UsageError` when empty."""
    items = tuple(dict.fromkeys(x.strip() for x in value.split(",") if x.strip()))
    if not items:
        raise UsageError("an empty list was given")
    return items


def int_at_least(minimum: int):
    """An argparse type: an integer no smaller than ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


_positive_int = int_at_least(1)
_non_negative_int = int_at_least(0)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {value}")
    return value


def _percent(text: str) -> float:
    try:
        value = float(text.rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a percentage") from None
    if not 0 <= value < 100:
        raise argparse.ArgumentTypeError(f"must be from 0 to 100 (%), got {value}")
    return value


def _sysmetrics_intervals(text: str) -> list[float | None]:
    """``default,1,5`` -> ``[None, 1.0, 5.0]``: the periods of the trackers' own samplers."""
    out: list[float | None] = []
    for item in (x.strip() for x in text.split(",") if x.strip()):
        value = None if item == "default" else _positive_float(item)
        if value is not None and value < 0.1:  # W&B refuses shorter (x_stats_sampling_interval)
            raise argparse.ArgumentTypeError(f"must be at least 0.1 s (W&B's minimum), got {value}")
        if value not in out:
            out.append(value)
    if not out:
        raise argparse.ArgumentTypeError("give at least one period (seconds or default)")
    return out


def _expand_intervals(trackers: tuple[str, ...], intervals: list[float | None]) -> tuple[str, ...]:
    """Each tracker that samples system metrics of its own once per period (``NAME:1s``;
    ``NAME`` alone for ``default``); the others once. Names that carry a period keep it."""
    from bench.trackers import has_own_sampler, parse_name, split_interval, with_interval

    out: list[str] = []
    sampling = False
    for name in trackers:
        cls, addons = parse_name(name)
        if split_interval(name)[1] is None and has_own_sampler(cls, addons):
            sampling = True
            out += [with_interval(name, value) for value in intervals]
        else:
            out.append(name)
    if not sampling:
        raise UsageError(
            "--sysmetrics-interval lists several periods, but no tracker in --tracker runs a "
            "system-metrics sampler of its own (e.g. wandb-offline, mlflow-sqlite+sysmetrics, "
            "trackio, NAME+codecarbon)"
        )
    return tuple(dict.fromkeys(out))


def _add_bootstrap_options(parser: argparse.ArgumentParser, seed: bool = True) -> None:
    """``--seed`` and ``--resamples``, shared by ``report``, ``compare`` and ``regress`` (whose
    ``--seed`` is the matrix's: its bootstrap keeps the fixed seed)."""
    if seed:
        parser.add_argument(
            "--seed", type=int, default=None, help="bootstrap seed (default: a fixed constant)"
        )
    parser.add_argument(
        "--resamples",
        type=int_at_least(999),
        default=None,
        help="bootstrap resamples per interval (default: 9999)",
    )


def _add_matrix_options(run: argparse.ArgumentParser, reps: int = 3) -> None:
    """The options that describe and execute a matrix (``run`` and ``regress``)."""
    run.add_argument("--workload", default="mlp", help="comma-separated (default: mlp)")
    run.add_argument("--preset", default="tiny", help="comma-separated (default: tiny)")
    run.add_argument(
        "--profile",
        default=DEFAULT_PROFILES,
        help="logging profiles, comma-separated: light, standard, heavy, artifacts, or names "
        f"from --profiles-file (default: {DEFAULT_PROFILES})",
    )
    run.add_argument(
        "--profiles-file", type=Path, help="TOML file of user profiles ([profiles.NAME] tables)"
    )
    run.add_argument(
        "--sysmetrics-interval",
        type=_sysmetrics_intervals,
        help="period in seconds of every tracker's own system-metrics sampler (W&B, MLflow "
        "+sysmetrics, trackio, codecarbon); default: each tracker's shipped default. A list "
        "(default,1) makes it an axis: each such tracker runs once per period, as NAME:1s",
    )
    run.add_argument("--reps", type=_positive_int, default=reps, help=f"blocks (default: {reps})")
    run.add_argument("--out", type=Path, required=True, help="result directory")
    run.add_argument("--steps", type=_positive_int, help="measured steps (default: preset's)")
    run.add_argument("--warmup", type=_non_negative_int, help="warm-up steps (default: preset's)")
    run.add_argument("--seed", type=int, default=0, help="seed of data, model and run order")
    run.add_argument(
        "--threads", type=_positive_int, help="torch threads (default: CPUs this process may use)"
    )
    run.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    run.add_argument(
        "--timeout", type=_positive_float, default=900.0, help="seconds per run (default: 900)"
    )
    run.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16"),
        default="auto",
        help="bf16 = bf16 autocast + TF32 on CUDA; auto (default) = bf16 for GPU presets "
        "(full) on CUDA, fp32 otherwise",
    )
    run.add_argument(
        "--compile", action="store_true", help="torch.compile the model (compiles in warm-up)"
    )
    run.add_argument(
        "--dataloader",
        action="store_true",
        help="feed batches through a torch DataLoader with worker processes "
        "(default: all batches placed on the device before timing)",
    )
    run.add_argument(
        "--loader-workers",
        type=_positive_int,
        help=f"DataLoader worker processes with --dataloader (default: {DEFAULT_LOADER_WORKERS})",
    )
    run.add_argument(
        "--service-timeout",
        type=_positive_float,
        default=120.0,
        help="seconds a tracker's service (mlflow server) may take to become healthy "
        "(default: 120)",
    )
    run.add_argument(
        "--sample-interval",
        type=_positive_float,
        default=0.05,
        help="sampler period in seconds (default: 0.05, i.e. 20 Hz)",
    )
    run.add_argument(
        "--env-cache",
        type=Path,
        help="where NAME@VERSION environments are cached (default: $TRACKERBENCH_ENV_CACHE or "
        "~/.cache/trackerbench/envs)",
    )
    run.add_argument(
        "--find-links",
        action="append",
        default=[],
        metavar="DIR_OR_URL",
        help="extra place pip looks for NAME@VERSION packages (repeatable)",
    )
    run.add_argument(
        "--no-index",
        action="store_true",
        help="install NAME@VERSION packages from --find-links only, not from the package index",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trackerbench",
        description="Measure what experiment trackers cost a training run.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    env = sub.add_parser("env", help="show this host, its samplers and tracker versions")
    env.add_argument("--json", action="store_true", help="print JSON")

    report = sub.add_parser(
        "report",
        help="statistics, tables and plots of a result directory (written to DIR/report/)",
    )
    report.add_argument("dir", type=Path, help="result directory (holds runs.jsonl)")
    report.add_argument(
        "--skip-corrupt",
        action="store_true",
        help="skip corrupt lines of runs.jsonl (counted in the report) instead of failing",
    )
    report.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="what to print: the headline tables (text) or every number (json)",
    )
    report.add_argument(
        "--grid-intensity",
        type=float,
        metavar="G",
        help="carbon intensity of the electricity, gCO2e/kWh (adds the carbon columns)",
    )
    report.add_argument(
        "--region",
        metavar="CODE",
        help="take the grid intensity of a country (ISO 3166 alpha-3, e.g. USA, FRA) from the "
        "bundled table, whose source and year the report prints",
    )
    report.add_argument(
        "--pue",
        type=float,
        default=1.0,
        help="data-centre PUE the carbon figures use (default 1.0)",
    )
    _add_bootstrap_options(report)

    comp = sub.add_parser(
        "compare",
        help="is B worse than A? two pytest-benchmark JSON files or two result directories",
        description="Compare B with A (unpaired: separate sessions) with the report's "
        "significance-gated verdict. Exit status: 0 no regression, 1 regression, 2 bad input.",
    )
    comp.add_argument("a", type=Path, help="the reference: pytest-benchmark JSON or result dir")
    comp.add_argument("b", type=Path, help="the candidate, of the same kind")
    comp.add_argument(
        "--metric",
        default=None,
        help="comma-separated metric keys to compare (default: all; time_s is a plain "
        "benchmark's time per round)",
    )
    comp.add_argument(
        "--threshold",
        type=_percent,
        default=2.0,
        help="noise threshold in %% of A's mean: a change is called only when its whole 95 %% "
        "CI lies beyond it (default: 2)",
    )
    comp.add_argument(
        "--format",
        choices=("text", "markdown", "json"),
        default="text",
        help="output: tables, a markdown pull-request comment, or every number",
    )
    _add_bootstrap_options(comp)

    run = sub.add_parser("run", help="run a comparison matrix")
    run.add_argument(
        "--tracker",
        default=DEFAULT_TRACKERS,
        help=f"comma-separated (default: {DEFAULT_TRACKERS}); NAME@VERSION runs that release of "
        "the tracker's package from its own cached environment",
    )
    _add_matrix_options(run)

    reg = sub.add_parser(
        "regress",
        help="did a tracker release get worse? versions interleaved in one matrix",
        description="Run the configuration in each version (cached environments, interleaved in "
        "the same randomised blocks, with `none`), then call each later version against the "
        "first: regressed only when p (Holm) < 0.05 and the whole 95 %% CI lies beyond "
        "--threshold. Writes DIR/regress.md, DIR/regress.json and the full report. Exit status: "
        "0 no regression, 1 regression or failed runs, 2 bad input.",
    )
    reg.add_argument(
        "--tracker",
        action="append",
        required=True,
        help="configuration(s), comma-separated; repeat --tracker with its own --versions for "
        "another package",
    )
    reg.add_argument(
        "--versions",
        action="append",
        required=True,
        help="comma-separated versions of the tracker's package, the reference first (one "
        "--versions for all --tracker options, or one per --tracker)",
    )
    _add_matrix_options(reg, reps=10)
    reg.add_argument(
        "--threshold",
        type=_percent,
        default=2.0,
        help="noise threshold in %% of the reference's mean (default: 2)",
    )
    reg.add_argument("--metric", default=None, help="comma-separated metric keys (default: all)")
    reg.add_argument(
        "--format",
        choices=("text", "markdown", "json"),
        default="text",
        help="what to print (DIR/regress.md and DIR/regress.json are written either way)",
    )
    _add_bootstrap_options(reg, seed=False)
    return parser


# --------------------------------------------------------------------------- env


def cmd_env(args: argparse.Namespace, console: Console) -> int:
    from bench import environment

    facts = environment.collect()
    facts["torch_cuda"] = _torch_cuda()
    facts["workloads"] = _workload_presets()
    if args.json:
        print(json.dumps(facts, indent=2, sort_keys=True))
        return 0
    host = facts["host"]
    console.print(
        f"[bold]Host[/]: {host['cpu_model']} ({host['cpu_logical']} logical CPUs), "
        f"{host['memory_bytes'] / 2**30:.1f} GiB, {host['os']}"
    )
    console.print(
        f"Python {facts['python']}; torch {facts['packages']['torch']} "
        f"(CUDA: {facts['torch_cuda']})"
    )
    table = Table(title="Samplers")
    table.add_column("sampler")
    table.add_column("works here")
    table.add_column("detail / reason")
    for name, info in facts["samplers"].items():
        detail = info.get("reason") or ", ".join(
            f"{k}={v}" for k, v in info.items() if k not in ("available", "reason")
        )
        table.add_row(name, "yes" if info.get("available") else "no", str(detail))
    console.print(table)
    if not any(facts["samplers"][n].get("available") for n in ("nvml", "rapl")):
        console.print(
            "Energy on this host: not measured (no NVML, no RAPL); records carry "
            "energy_j = null with the reason."
        )
    trackers = Table(
        title="Trackers (+codecarbon wraps any of them: e.g. mlflow-sqlite+codecarbon)"
    )
    for col in ("tracker", "also as", "usable", "version", "reason"):
        trackers.add_column(col)
    for name, info in facts["trackers"].items():
        trackers.add_row(
            name,
            ", ".join(info.get("variants") or []),
            "yes" if info["usable"] else "no",
            str(info.get("version") or "-"),
            info.get("reason") or "",
        )
    console.print(trackers)
    from bench.profiles import BUILTIN_PROFILES

    profiles = Table(title="Logging profiles (--profile; more from --profiles-file)")
    for col in ("profile", "scalars", "every (steps)", "histogram every", "artifact every"):
        profiles.add_column(col)
    for p in BUILTIN_PROFILES.values():
        profiles.add_row(
            p.name,
            str(p.scalars),
            str(p.every),
            str(p.histogram_every or "-"),
            str(p.artifact_every or "-"),
        )
    console.print(profiles)
    workloads = Table(title="Workloads")
    for col in ("workload", "preset", "steps", "warm-up", "meant for", "note"):
        workloads.add_column(col)
    for name, presets in facts["workloads"].items():
        if "error" in presets:
            workloads.add_row(name, "-", "-", "-", "-", f"[red]cannot load:[/] {presets['error']}")
            continue
        for preset, info in presets.items():
            workloads.add_row(
                name,
                preset,
                str(info["steps"]),
                str(info["warmup_steps"]),
                "GPU" if info["gpu"] else "CPU or GPU",
                info["note"],
            )
    console.print(workloads)
    return 0


def _workload_presets() -> dict[str, Any]:
    """Every registered workload's presets (or the error that stops it from loading)."""
    from bench.plugins import PluginError
    from workloads.registry import load_workload, workload_names

    out: dict[str, Any] = {}
    for name in workload_names():
        try:
            presets = load_workload(name).presets
        except PluginError as exc:  # a broken third-party plugin must not hide the others
            out[name] = {"error": str(exc)}
            continue
        out[name] = {
            preset: {"steps": p.steps, "warmup_steps": p.warmup_steps, "gpu": p.gpu, "note": p.note}
            for preset, p in presets.items()
        }
    return out


def _torch_cuda() -> str:
    try:
        import torch
    except ImportError as exc:
        return f"torch not importable: {exc}"
    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        return f"available ({', '.join(names)})"
    return f"not available (torch build {torch.__version__})"


# --------------------------------------------------------------------------- run


def _resolve_matrix(args: argparse.Namespace):
    """The matrix the flags describe, the presets it uses, and the workload classes."""
    import torch

    from bench.environment import usable_cpus
    from bench.matrix import MatrixSpec
    from bench.plugins import PluginError
    from bench.profiles import ProfileError, resolve_profiles
    from bench.trackers import unavailable_reason
    from bench.versions import VersionEnvError, requested_packages
    from workloads.base import bf16_supported, check_precision
    from workloads.registry import choose_presets, load_workload

    workloads = split_list(args.workload)
    trackers = split_list(args.tracker)
    presets = split_list(args.preset)
    try:  # the registries' own errors name the valid choices, or the broken plugin
        classes = {w: load_workload(w) for w in workloads}
        for name in trackers:
            reason = unavailable_reason(name)
            if reason:
                raise UsageError(f"tracker {name!r} cannot run here: {reason}")
        requested_packages(trackers)  # NAME@VERSION: a valid version of a real package
        intervals = args.sysmetrics_interval or [None]
        matrix_interval = intervals[0] if len(intervals) == 1 else None
        if len(intervals) > 1:
            trackers = _expand_intervals(trackers, intervals)
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None
    except (PluginError, VersionEnvError) as exc:
        raise UsageError(str(exc)) from exc
    try:
        profiles = resolve_profiles(split_list(args.profile), args.profiles_file)
    except ProfileError as exc:
        raise UsageError(str(exc)) from None
    try:
        chosen = choose_presets(classes, presets)
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None
    device = _resolve_device(args.device)
    if args.precision != "auto":
        try:
            check_precision(args.precision, torch.device(device))
        except ValueError as exc:
            raise UsageError(f"--precision {args.precision}: {exc}") from None
    if args.loader_workers is not None and not args.dataloader:
        raise UsageError("--loader-workers applies to --dataloader runs; add --dataloader")
    matrix = MatrixSpec(
        workloads=workloads,
        presets=presets,
        trackers=trackers,
        profiles=profiles,
        reps=args.reps,
        seed=args.seed,
        steps=args.steps,
        warmup_steps=args.warmup,
        threads=args.threads or usable_cpus(),
        device=device,
        sample_interval_s=args.sample_interval,
        precision=args.precision,
        compile=args.compile,
        loader_workers=(args.loader_workers or DEFAULT_LOADER_WORKERS) if args.dataloader else 0,
        bf16_supported=not device.startswith("cuda") or bf16_supported(torch.device(device)),
        sysmetrics_interval_s=matrix_interval,
    )
    return matrix, chosen, classes


def _resolve_device(requested: str) -> str:
    if not (requested in ("auto", "cpu", "cuda") or requested.startswith("cuda:")):
        raise UsageError(f"unknown device {requested!r}; valid: auto, cpu, cuda, cuda:N")
    if requested == "cpu":
        return requested
    import torch

    if torch.cuda.is_available():
        if requested.startswith("cuda:"):
            index = requested.partition(":")[2]
            if not index.isdigit() or int(index) >= torch.cuda.device_count():
                raise UsageError(
                    f"no device {requested!r}; this host has cuda:0..cuda:"
                    f"{torch.cuda.device_count() - 1}"
                )
        return "cuda" if requested == "auto" else requested
    if requested == "auto":
        return "cpu"
    raise UsageError(
        f"device {requested!r} requested but CUDA is not available "
        f"(torch {torch.__version__}); use --device cpu"
    )


def _warn_gpu_presets_on_cpu(
    console: Console, runs: list[Any], classes: dict[str, Any], timeout_s: float
) -> None:
    """Before a GPU preset runs on a CPU, say how long it should take (an estimate)."""
    gpu_runs = {
        (r.workload, r.preset): r
        for r in runs
        if r.device == "cpu" and classes[r.workload].presets[r.preset].gpu
    }
    if not gpu_runs:
        return
    from workloads.throughput import probe_cpu_flops_per_s

    threads = next(iter(gpu_runs.values())).threads
    rate = probe_cpu_flops_per_s(threads)
    for (workload, preset), run in sorted(gpu_runs.items()):
        cls = classes[workload]
        flops = cls.flops_per_step(cls.presets[preset].params) * (run.steps + run.warmup_steps)
        seconds = flops / rate
        console.print(
            f"[yellow]warning:[/] {workload}/{preset} is meant for a GPU. On this CPU expect "
            f"at least {seconds / 60:.0f} min per run (an estimate: {flops / 1e12:.1f} TFLOP of "
            f"model FLOPs at {rate / 1e9:.0f} GFLOP/s, measured by a short matrix-product "
            f"probe with {threads} threads; the other work of a step comes on top)."
        )
        if seconds > timeout_s:
            console.print(
                f"[yellow]warning:[/] that is longer than the per-run timeout "
                f"(--timeout {timeout_s:.0f} s): these runs will end as 'timeout'. Lower "
                "--steps or raise --timeout."
            )


def _warn_profiles_without_measured_calls(console: Console, runs: list[Any]) -> None:
    """Say when a profile's histograms, artifacts or logs never fall in the measure window."""
    from bench.profiles import Profile

    seen: set[tuple[str, str, str, int, int]] = set()
    for run in runs:
        key = (run.workload, run.preset, run.profile["name"], run.warmup_steps, run.steps)
        if key in seen:
            continue
        seen.add(key)
        profile = Profile(**run.profile)
        calls = profile.measured_calls(run.warmup_steps, run.steps)
        wanted = {
            "log": profile.every,
            "histogram": profile.histogram_every,
            "artifact": profile.artifact_every,
        }
        for kind, every in wanted.items():
            if every and not calls[kind]:
                console.print(
                    f"[yellow]warning:[/] profile {profile.name!r} on {run.workload}/"
                    f"{run.preset}: no {kind} call falls in the measure window (steps "
                    f"{run.warmup_steps}..{run.warmup_steps + run.steps - 1}, one every "
                    f"{every}); its cost is then not in the measured figures. Raise --steps."
                )


def _prepare_version_envs(args: argparse.Namespace, console: Console, trackers: Any) -> Any:
    """Build or find the environment of every ``NAME@VERSION`` configuration, all before any
    run starts; a version that does not install is a usage error naming it."""
    from bench.versions import VersionEnvError, prepare_envs, split_version

    if all(split_version(t)[1] is None for t in trackers):  # checked in _resolve_matrix
        return {}
    pip_args = [  # a local directory as an absolute path: pip may run elsewhere
        f"--find-links={link if '://' in link else Path(link).resolve()}"
        for link in args.find_links
    ]
    pip_args += ["--no-index"] if args.no_index else []
    try:
        with console.status("Preparing tracker version environments ...", spinner="line"):
            return prepare_envs(
                trackers, args.env_cache, pip_args, lambda line: console.print(line, markup=False)
            )
    except VersionEnvError as exc:
        raise UsageError(str(exc)) from exc


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    from analysis.summary import summarise
    from bench import environment
    from bench.matrix import expand
    from bench.results import ResultsError, latest_records
    from bench.runner import Interrupted, RunnerOptions, prepare_directory, run_matrix

    matrix, presets, classes = _resolve_matrix(args)
    runs = expand(matrix, presets)
    if matrix.compile and any(r.warmup_steps == 0 for r in runs):
        raise UsageError("--compile compiles during warm-up; it needs at least 1 warm-up step")
    envs = _prepare_version_envs(args, console, matrix.trackers)
    command = shlex.join(["trackerbench", *args.argv])

    def meta_facts() -> dict[str, Any]:
        facts = environment.collect()
        if envs:  # what each version's environment holds, and from where (no secrets)
            facts["version_envs"] = {
                name: {
                    "package": e.package,
                    "version": e.version,
                    "overlay": e.overlay,
                    "hidden_shared": e.facts.get("hidden", {}),
                }
                for name, e in envs.items()
            }
        return facts

    try:
        done = prepare_directory(args.out, matrix, meta_facts, command)
    except ResultsError as exc:
        raise UsageError(str(exc)) from exc
    todo = [r for r in runs if done.get(r.run_id, {}).get("status") != "ok"]
    console.print(
        f"{len(runs)} runs in {matrix.reps} randomised blocks; {len(runs) - len(todo)} already "
        f"done in {args.out}, {len(todo)} to run."
    )
    _warn_gpu_presets_on_cpu(console, todo, classes, args.timeout)
    _warn_profiles_without_measured_calls(console, runs)
    opts = RunnerOptions(
        out_dir=args.out,
        timeout_s=args.timeout,
        sample_interval_s=args.sample_interval,
        service_start_timeout_s=args.service_timeout,
        tracker_pythons={name: str(e.python) for name, e in envs.items()},
    )
    t0 = time.monotonic()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    interrupted = False
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("runs", total=len(todo))

        def on_start(spec: Any) -> None:
            progress.update(task, description=f"{spec.run_id}")

        def on_done(spec: Any, rec: dict[str, Any]) -> None:
            if rec["status"] != "ok":
                first = (rec["error"] or "").splitlines()[0][:200] if rec["error"] else ""
                progress.console.print(f"[red]{spec.run_id}: {rec['status']}[/] {first}")
            progress.advance(task)

        try:
            run_matrix(runs, done, opts, on_start, on_done)
        except (Interrupted, KeyboardInterrupt):
            interrupted = True
    elapsed = time.monotonic() - t0
    records = list(latest_records(args.out).values())
    _print_summary(console, summarise(records))
    console.print(f"Wall time of this command: {elapsed:.1f} s. Results: {args.out}/runs.jsonl")
    if interrupted:
        console.print("[yellow]Interrupted.[/] Rerun the same command to resume.")
        return 130
    return 0 if all(r["status"] == "ok" for r in records) else 1


def _print_summary(console: Console, rows: list[Any]) -> None:
    table = Table(
        title="Medians of ok runs (ratio: measure window / none's; log: per-call p50; "
        "cpu: worker tree + service)",
        box=box.SIMPLE_HEAD,
    )
    for col in ("workload", "profile"):
        table.add_column(col, no_wrap=True)
    table.add_column("tracker", overflow="fold", min_width=14)
    columns = (
        "ok",
        "measure s",
        "ratio",
        "init s",
        "finish s",
        "log ms",
        "cpu s",
        "lost",
    )
    for col in columns:
        table.add_column(col, justify="right", no_wrap=True, min_width=len(col))

    def fmt(value: float | None, spec: str, scale: float = 1.0) -> str:
        return "-" if value is None else format(value * scale, spec)

    for r in rows:
        if r.data_loss_runs:
            lost = f"[red]{r.data_loss_runs} runs[/]"
        elif r.checked_runs:
            lost = "no"
        else:  # nothing checked: not applicable (stores nothing), or unknown
            lost = "?" if r.unchecked_runs else "n/a"
        if r.unchecked_runs and (r.data_loss_runs or r.checked_runs):
            lost += f" ({r.unchecked_runs} unchecked)"
        table.add_row(
            f"{r.workload}/{r.preset}",
            r.profile,
            r.tracker,
            f"{r.ok_runs}/{r.ok_runs + r.other_runs}",
            fmt(r.measure_wall_s_median, ".3f"),
            fmt(r.ratio_to_none, ".3f"),
            fmt(r.init_s_median, ".2f"),
            fmt(r.finish_s_median, ".2f"),
            fmt(r.log_call_p50_s_median, ".3f", 1e3),
            fmt(r.cpu_s_median, ".2f"),
            lost,
        )
    console.print(table)
    if any(r.data_loss_runs for r in rows):
        console.print(
            "[red]Data loss:[/] a tracker stored less than it was sent in the runs counted "
            "above; see tracker.recorded.missing in runs.jsonl."
        )
    if any(r.unchecked_runs for r in rows):
        console.print(
            "[yellow]Unchecked:[/] '?' or 'unchecked' runs had no recorded-data check "
            "(tracker.recorded.reason in runs.jsonl says why)."
        )


def _print_table(console: Console, table: Any) -> None:
    """An :class:`analysis.render.Table` as a rich table."""
    out = Table(title=escape(table.title), box=box.SIMPLE_HEAD, title_justify="left")
    for name, numeric in zip(table.columns, table.numeric, strict=True):
        out.add_column(escape(name), justify="right" if numeric else "left")
    for row in table.rows:
        out.add_row(*(escape(c) for c in row))
    console.print(out)


def cmd_report(args: argparse.Namespace, console: Console) -> int:
    """Write ``DIR/report/`` and print its headline (or, with ``--format json``, every number)."""
    from analysis.carbon import CarbonInputError, resolve_carbon
    from analysis.output import write_report
    from analysis.render import carbon_lines, energy_sections, headline_table, render_json
    from analysis.report import DEFAULT_RESAMPLES, DEFAULT_SEED, ReportInputError

    try:
        carbon = resolve_carbon(args.grid_intensity, args.region, args.pue)
    except CarbonInputError as exc:
        raise UsageError(str(exc)) from exc
    try:
        with console.status(f"Computing the report of {args.dir} ...", spinner="line"):
            report, written = write_report(
                args.dir,
                skip_corrupt=args.skip_corrupt,
                seed=DEFAULT_SEED if args.seed is None else args.seed,
                n_resamples=DEFAULT_RESAMPLES if args.resamples is None else args.resamples,
                carbon=carbon,
            )
    except ReportInputError as exc:
        raise UsageError(str(exc)) from exc
    if args.format == "json":
        sys.stdout.write(render_json(report))
        return 0
    for group in report.groups:
        _print_table(console, headline_table(group))
        for note in group.notes:
            console.print(f"[yellow]{note}[/]")
    for line in carbon_lines(report):
        console.print(line, markup=False)
    for table, notes in energy_sections(report):
        _print_table(console, table)
        for line in notes:
            console.print(line, markup=False)
    if report.excluded:
        console.print(
            f"[yellow]{len(report.excluded)} runs left out of the statistics[/] (failed, timed "
            "out, interrupted or data loss): listed in report.md."
        )
    if report.skipped_lines:
        console.print(f"[yellow]{len(report.skipped_lines)} corrupt lines skipped.[/]")
    console.print(f"Wrote {len(written)} files to {args.dir / 'report'}")
    return 0


def _print_change_tables(console: Console, rows: list[Any], a: str, b: str) -> None:
    """``compare``'s and ``regress``'s rows as one rich table per entry; long reasons as
    numbered notes below."""
    from analysis.compare import CHANGE_COLUMNS, numbered_cells

    cells_of, notes = numbered_cells(rows)
    by_entry: dict[str, list[Any]] = {}
    for row, cells in zip(rows, cells_of, strict=True):
        by_entry.setdefault(row.label, []).append((row, cells))
    for label, entry_rows in by_entry.items():
        table = Table(title=escape(label), box=box.SIMPLE_HEAD, title_justify="left")
        for i, name in enumerate([*CHANGE_COLUMNS, "verdict"]):
            table.add_column(name.format(a=a, b=b), justify="right" if 0 < i < 6 else "left")
        for row, cells in entry_rows:
            mark = "[red]" if row.regression else "[green]" if row.significant else ""
            table.add_row(*cells[:-1], f"{mark}{escape(cells[-1])}")
        console.print(table)
    for text, number in notes.items():
        console.print(f"[{number}] {text}", markup=False)


def cmd_compare(args: argparse.Namespace, console: Console) -> int:
    """B against A; exit 1 when a metric regressed (a significant change in its costly way)."""
    from analysis.compare import (
        CompareInputError,
        compare_sides,
        load_side,
        metric_keys,
        to_json,
        to_markdown,
    )
    from analysis.report import DEFAULT_RESAMPLES, DEFAULT_SEED, ReportInputError

    try:
        metrics = metric_keys(args.metric) if args.metric is not None else None
        with console.status("Comparing ...", spinner="line"):
            result = compare_sides(
                load_side(args.a),
                load_side(args.b),
                metrics,
                seed=DEFAULT_SEED if args.seed is None else args.seed,
                n_resamples=DEFAULT_RESAMPLES if args.resamples is None else args.resamples,
                threshold=args.threshold / 100,
            )
    except (CompareInputError, ReportInputError) as exc:
        raise UsageError(str(exc)) from exc
    except OSError as exc:  # unreadable input: bad input (2), never "regression" (1)
        raise UsageError(str(exc)) from exc
    if not result.rows:
        raise UsageError(f"nothing to compare: no entry of A and B has the metrics {args.metric}")
    if not any(r.comparison and r.comparison.estimate is not None for r in result.rows):
        reasons = sorted({r.verdict for r in result.rows})
        raise UsageError("nothing could be compared: " + "; ".join(reasons[:3]))
    regressions = result.regressions
    if args.format == "json":
        sys.stdout.write(json.dumps(to_json(result), indent=2, sort_keys=True) + "\n")
        return 1 if regressions else 0
    if args.format == "markdown":
        sys.stdout.write(to_markdown(result))
        return 1 if regressions else 0
    for warning in result.warnings:
        console.print(f"Warning: {warning}", markup=False, style="yellow")
    console.print(
        f"B ({args.b}) against A ({args.a}): unpaired (separate sessions); Holm over every "
        "row; a change is called when p (Holm) < 0.05 and the whole 95 % CI lies beyond the "
        f"noise threshold ({args.threshold:g} % of A's mean).",
        markup=False,
    )
    _print_change_tables(console, result.rows, "A", "B")
    for note in result.notes:
        console.print(f"Note: {note}", markup=False, style="yellow")
    if any(r.batched for r in result.rows):
        console.print("* more than 2000 rounds a side: compared as 2000 batch means")
    for side, names in (("A", result.only_a), ("B", result.only_b)):
        if names:
            console.print(f"[yellow]Only in {side} (not compared):[/] {escape(', '.join(names))}")
    if regressions:
        console.print(
            f"[red]{len(regressions)} regression(s):[/] "
            + escape("; ".join(f"{r.name} {r.metric.key} {r.verdict}" for r in regressions))
        )
        return 1
    console.print("No regression.")
    return 0


def _regress_configurations(args: argparse.Namespace) -> list[str]:
    """``--tracker``/``--versions`` pairs as ``NAME@VERSION`` configurations (checked)."""
    from bench.versions import SEPARATOR, VersionEnvError, check_version, with_version

    trackers = [split_list(t) for t in args.tracker]
    versions = [split_list(v) for v in args.versions]
    if len(versions) == 1:
        versions = versions * len(trackers)
    elif len(versions) != len(trackers):
        raise UsageError(
            f"{len(trackers)} --tracker options and {len(versions)} --versions options: give one "
            "--versions for all of them, or one per --tracker"
        )
    configs: list[str] = []
    for names, vs in zip(trackers, versions, strict=True):
        if len(vs) < 2:
            raise UsageError(f"--versions {','.join(vs)}: give at least two versions to compare")
        for v in vs:
            try:
                check_version(v)
            except VersionEnvError as exc:
                raise UsageError(f"--versions: {exc}") from None
        for name in names:
            if SEPARATOR in name:
                raise UsageError(f"--tracker {name}: give versions with --versions, not @")
            if name == "none":
                raise UsageError("--tracker none: the baseline has no versions (it always runs)")
            configs += [with_version(name, v) for v in vs]
    return list(dict.fromkeys(configs))


def cmd_regress(args: argparse.Namespace, console: Console) -> int:
    """Run every version interleaved (``cmd_run``), then call each later version against the
    first; exit 1 on a regression or on failed runs of a version."""
    from analysis.compare import metric_keys
    from analysis.metrics import METRICS_BY_KEY
    from analysis.output import write_report
    from analysis.regress import build_regression, headline, method_line, to_json, to_markdown
    from analysis.report import DEFAULT_RESAMPLES, DEFAULT_SEED, ReportInputError

    configs = _regress_configurations(args)
    try:
        metrics = metric_keys(args.metric) if args.metric is not None else None
    except ReportInputError as exc:
        raise UsageError(str(exc)) from None
    if metrics is not None and not set(metrics) <= set(METRICS_BY_KEY):
        raise UsageError(f"--metric: valid keys: {', '.join(METRICS_BY_KEY)}")
    args.tracker = ",".join(["none", *configs])
    # --format markdown/json print only the verdict on stdout: the runs' progress goes to stderr
    progress = console if args.format == "text" else Console(stderr=True, width=console.width)
    code = cmd_run(args, progress)
    if code == 130:
        return code
    resamples = DEFAULT_RESAMPLES if args.resamples is None else args.resamples
    try:
        with console.status("Comparing versions ...", spinner="line"):
            result = build_regression(
                args.out, metrics, args.threshold / 100, DEFAULT_SEED, resamples
            )
    except ReportInputError as exc:
        raise UsageError(str(exc)) from exc
    from bench.jsonio import write_json_atomic, write_text_atomic

    write_text_atomic(args.out / "regress.md", to_markdown(result))
    write_json_atomic(args.out / "regress.json", to_json(result), indent=2)
    try:
        with console.status("Writing the full report ...", spinner="line"):
            _, written = write_report(args.out, seed=DEFAULT_SEED, n_resamples=resamples)
        report_line = f"full report: {args.out / 'report'} ({len(written)} files)"
    except ReportInputError as exc:  # e.g. every none run failed: the verdicts still stand
        report_line = f"no full report: {exc}"
    if args.format == "json":
        sys.stdout.write(json.dumps(to_json(result), indent=2, sort_keys=True) + "\n")
    elif args.format == "markdown":
        sys.stdout.write(to_markdown(result))
    else:
        console.print(method_line(result), markup=False)
        _print_change_tables(console, result.rows, "ref", "new")
        for f in result.failed:
            console.print(
                f"[red]{escape(f'{f.group} {f.tracker} {f.version}')}: {f.failed} of {f.total} "
                f"runs failed:[/] {escape(f.error)}"
            )
        style = "red" if result.regressions or result.failed else "green"
        console.print(f"[{style}]Verdict: {escape(headline(result))}[/]")
        console.print(
            f"Wrote {args.out / 'regress.md'}, {args.out / 'regress.json'}; {report_line}"
        )
    return 1 if result.regressions or result.failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    # Piped output (CI logs, files) gets a wide console instead of rich's 80 columns.
    console = Console(width=None if sys.stdout.isatty() else 132)
    try:
        if args.command == "env":
            return cmd_env(args, console)
        if args.command == "report":
            return cmd_report(args, console)
        if args.command == "compare":
            return cmd_compare(args, console)
        if args.command == "regress":
            return cmd_regress(args, console)
        return cmd_run(args, console)
    except UsageError as exc:
        print(f"trackerbench: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except OSError as exc:  # disk full, read-only result file, ...: say so, no traceback
        print(f"trackerbench: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
