"""Tracker versions as a matrix axis: ``mlflow-sqlite@3.18.0`` and its cached environment.

A configuration name may end in ``@VERSION``: the run uses that release of the adapter's
package instead of the one installed with trackerbench. Each ``package==version`` gets one
environment, built once and cached:

- a virtual environment (``python -m venv --without-pip``) whose ``site-packages`` holds a
  ``.pth`` file adding *this* environment's ``site-packages`` after its own. The heavy shared
  stack (torch, numpy, trackerbench's own dependencies) is therefore found, not reinstalled;
- ``pip install package==version`` run by that environment's interpreter: pip sees the shared
  packages as installed and puts into the overlay only what the release needs and the shared
  stack lacks or has at another version (``Not uninstalling ... outside environment``: the
  shared environment is never modified). The overlay comes first on ``sys.path``, so the
  release's own dependencies win;
- ``pip check``: a shared distribution whose requirements the release's dependencies broke
  (wandb 0.17.9 brings protobuf 5, the shared tensorboard needs 6) is *hidden* from the
  overlay (importing it raises ``ModuleNotFoundError`` saying why), so that the release sees
  an environment it is compatible with; torch, numpy and psutil are never hidden (a release
  that breaks them is refused);
- a check that the overlay's interpreter imports the requested version from the overlay,
  then a marker file (``trackerbench-env.json``, written last). An environment without its
  marker (an interrupted or failed build) is deleted and rebuilt, never reused. A lock file
  serialises two trackerbench processes building the same environment.

The cache lives in ``$TRACKERBENCH_ENV_CACHE``, else ``$XDG_CACHE_HOME/trackerbench/envs``
(``~/.cache/trackerbench/envs``). Its key holds the package, the version, the Python version
and a hash of the shared environment's path, so a cache never mixes interpreters.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import site
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from bench.jsonio import read_json_or_none, write_json_atomic

SEPARATOR = "@"
MARKER = "trackerbench-env.json"
PTH_NAME = "_trackerbench_shared.pth"
ENV_SCHEMA = 2


class VersionEnvError(Exception):
    """A requested version cannot be used: bad version string, no package, failed install."""


def split_version(config: str) -> tuple[str, str | None]:
    """``"mlflow-sqlite+sysmetrics@3.18.0"`` -> ``("mlflow-sqlite+sysmetrics", "3.18.0")``."""
    base, sep, version = config.partition(SEPARATOR)
    return base, (version if sep else None)


def with_version(config: str, version: str) -> str:
    """The configuration name that runs ``config`` with its package at ``version``."""
    return f"{config}{SEPARATOR}{version}"


def check_version(text: str) -> str:
    """``text`` if it is a PEP 440 version that pins one release, else :class:`VersionEnvError`."""
    try:
        Version(text)
    except InvalidVersion:
        raise VersionEnvError(f"{text!r} is not a valid version (e.g. 3.18.0)") from None
    return text


def same_version(a: str | None, b: str | None) -> bool:
    """Whether two version strings name one release (``3.18`` == ``3.18.0``)."""
    if a is None or b is None:
        return False
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def cache_root() -> Path:
    """Where version environments are cached (see the module docstring)."""
    chosen = os.environ.get("TRACKERBENCH_ENV_CACHE")
    if chosen:
        return Path(chosen).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "trackerbench" / "envs"


def shared_site_dirs() -> list[str]:
    """This environment's ``site-packages`` directories (what every overlay falls back on)."""
    dirs = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    dirs += site.getsitepackages()
    return list(dict.fromkeys(d for d in dirs if Path(d).is_dir()))


def env_key(package: str, version: str) -> str:
    """Directory name of ``package==version``'s environment for this interpreter."""
    shared = hashlib.sha256("\n".join([sys.prefix, *shared_site_dirs()]).encode()).hexdigest()
    py = f"py{sys.version_info[0]}{sys.version_info[1]}"
    return f"{canonicalize_name(package)}-{version}-{py}-{shared[:8]}"


@dataclass(frozen=True)
class VersionEnv:
    """A built environment: its interpreter and what it was checked to import."""

    package: str
    version: str
    root: Path
    python: Path
    facts: dict[str, Any]

    @property
    def overlay(self) -> list[str]:
        """``name==version`` of every distribution the overlay installed (shared ones not)."""
        return list(self.facts.get("overlay", []))


def _venv_site(root: Path) -> Path:
    """The overlay environment's ``site-packages`` (POSIX layout of ``venv``)."""
    py = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    return root / "lib" / py / "site-packages"


_PROBE = r"""
import importlib.metadata as md, json, sys
pkg, site_dir, broken = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
dist = md.distribution(pkg)
overlay = sorted(
    f"{d.metadata['Name']}=={d.version}" for d in md.distributions(path=[site_dir])
)
modules = {}
for name in broken:
    files = [str(f) for f in md.distribution(name).files or []]
    tops = {f.split("/")[0] for f in files if "/" in f and ".dist-info" not in f}
    found = set()
    for top in tops:
        if top + "/__init__.py" in files:
            found.add(top)
        elif top not in {"bin", ".."}:  # a namespace package (google/...): its sub-packages
            found |= {"/".join(f.split("/")[:2]).replace("/", ".") for f in files
                      if f.startswith(top + "/") and f.count("/") >= 2}
    found |= {f[:-3] for f in files if "/" not in f and f.endswith(".py")}
    modules[name] = sorted(found)
print(json.dumps({
    "version": dist.version,
    "location": str(dist.locate_file("")),
    "overlay": overlay,
    "python": sys.version.split()[0],
    "hidden_modules": modules,
}))
"""

# Never hidden: what the worker itself stands on. A release that breaks these cannot be run.
PROTECTED = frozenset({"torch", "numpy", "psutil"})

_HIDER = '''"""Written by trackerbench (bench.versions): shared packages this release's dependencies
broke are hidden here, so that importing them fails cleanly instead of half-working."""
import sys

HIDDEN = {hidden!r}


class _Hidden:
    def find_spec(self, name, path=None, target=None):
        for prefix, why in HIDDEN.items():
            if name == prefix or name.startswith(prefix + "."):
                raise ModuleNotFoundError(
                    f"No module named {{name!r}} (hidden by trackerbench: {{why}})", name=name
                )
        return None


sys.meta_path.insert(0, _Hidden())
'''


def broken_shared(python: Path, env: dict[str, str]) -> dict[str, str]:
    """``{distribution: pip check's complaint}`` for the shared distributions whose requirements
    the overlay broke (trackerbench's own pin on the tracker excepted: that is the point)."""
    done = subprocess.run(
        [str(python), "-m", "pip", "check", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    broken: dict[str, str] = {}
    for line in done.stdout.splitlines():
        name = line.split(" ", 1)[0]
        if not name or " " not in line or canonicalize_name(name) == "trackerbench":
            continue
        if "has requirement" not in line and "requires" not in line:
            continue
        broken[name] = line.strip().rstrip(".")
    return broken


def ensure_env(
    package: str,
    version: str,
    cache: Path | None = None,
    pip_args: Sequence[str] = (),
    log: Callable[[str], None] = lambda line: None,
    timeout_s: float = 1800.0,
) -> VersionEnv:
    """The cached environment of ``package==version``, built first when missing.

    ``pip_args`` go to ``pip install`` (``--find-links DIR``, ``--no-index``, ...); ``log``
    receives progress lines. Raises :class:`VersionEnvError` naming the version when it does not
    install or does not import as that version; nothing half-built is left to be reused.
    """
    check_version(version)
    cache = Path(cache) if cache is not None else cache_root()
    cache.mkdir(parents=True, exist_ok=True)
    key = env_key(package, version)
    root = cache / key
    with open(cache / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another trackerbench may be building the same one
        marker = read_json_or_none(root / MARKER)
        if (
            isinstance(marker, dict)
            and marker.get("schema") == ENV_SCHEMA
            and (root / "bin" / "python").exists()
        ):
            return VersionEnv(package, version, root, root / "bin" / "python", marker)
        if root.exists():
            log(f"{package}=={version}: removing an incomplete or outdated environment ({root})")
            shutil.rmtree(root)
        try:
            return _build(package, version, root, pip_args, log, timeout_s)
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)  # never reused: it has no marker anyway
            raise


def _build(
    package: str,
    version: str,
    root: Path,
    pip_args: Sequence[str],
    log: Callable[[str], None],
    timeout_s: float,
) -> VersionEnv:
    log(f"{package}=={version}: creating an environment in {root}")
    made = subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if made.returncode != 0:
        raise VersionEnvError(
            f"{package}=={version}: python -m venv failed: {made.stderr.strip()[-400:]}"
        )
    site_dir = _venv_site(root)
    if not site_dir.is_dir():
        raise VersionEnvError(f"{root}: venv made no {site_dir}")
    lines = [f"import site; site.addsitedir({d!r})" for d in shared_site_dirs()]
    (site_dir / PTH_NAME).write_text("\n".join(lines) + "\n")
    python = root / "bin" / "python"
    pip_log = root.parent / f"{root.name}.pip.log"
    argv = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
    argv += ["--no-warn-script-location", f"{package}=={version}", *pip_args]
    log(f"{package}=={version}: pip install (log: {pip_log})")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PIP_NO_PYTHON_VERSION_WARNING"] = "1"
    with open(pip_log, "wb") as fh:
        try:
            done = subprocess.run(
                argv, stdout=fh, stderr=subprocess.STDOUT, env=env, timeout=timeout_s
            )
        except subprocess.TimeoutExpired:
            raise VersionEnvError(
                f"cannot install {package}=={version}: pip ran longer than {timeout_s:g} s "
                f"(log: {pip_log})"
            ) from None
    if done.returncode != 0:
        raise VersionEnvError(
            f"cannot install {package}=={version}: {pip_error(pip_log)} (pip log: {pip_log})"
        )
    broken = broken_shared(python, env)
    if any(canonicalize_name(name) in PROTECTED for name in broken):
        raise VersionEnvError(
            f"{package}=={version} breaks what the benchmark worker needs: "
            + "; ".join(v for k, v in broken.items() if canonicalize_name(k) in PROTECTED)
        )
    probe = subprocess.run(
        [str(python), "-c", _PROBE, package, str(site_dir), json.dumps(sorted(broken))],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    if probe.returncode != 0:
        tail = (probe.stderr or probe.stdout).strip().splitlines()[-3:]
        raise VersionEnvError(
            f"{package}=={version} installed but its metadata cannot be read: " + " | ".join(tail)
        )
    facts = json.loads(probe.stdout)
    hidden = {
        module: f"{why}; the version's environment hides {name}"
        for name, why in broken.items()
        for module in facts["hidden_modules"].get(name, [])
    }
    if hidden:
        (site_dir / "_trackerbench_hide.py").write_text(_HIDER.format(hidden=hidden))
        with open(site_dir / PTH_NAME, "a") as pth:
            pth.write("import _trackerbench_hide\n")
        log(
            f"{package}=={version}: hiding shared {', '.join(sorted(broken))} ({len(hidden)} "
            "modules): the release's dependencies break them"
        )
    facts["hidden"] = broken
    if not same_version(facts["version"], version):
        raise VersionEnvError(
            f"{package}=={version}: the environment resolves {package} {facts['version']} "
            f"from {facts['location']}, not the requested version"
        )
    facts.update(
        schema=ENV_SCHEMA,
        package=package,
        requested=version,
        shared_site_packages=shared_site_dirs(),
        pip_args=list(pip_args),
        built_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    write_json_atomic(root / MARKER, facts, indent=2)  # last: the environment is complete
    log(
        f"{package}=={version}: ready ({len(facts['overlay'])} distributions in the overlay, "
        "the rest shared)"
    )
    return VersionEnv(package, version, root, python, facts)


def pip_error(log_path: Path) -> str:
    """The ``ERROR:`` lines of a pip log (the last lines when there are none)."""
    try:
        text = Path(log_path).read_text(errors="replace")
    except OSError:
        return "no pip output"
    errors = [line.strip() for line in text.splitlines() if line.startswith("ERROR:")]
    lines = errors or [line.strip() for line in text.splitlines() if line.strip()][-3:]
    message = " ".join(lines) or "pip failed without output"
    return re.sub(r"\s+", " ", message)[:600]


def requested_packages(configs: Iterable[str]) -> dict[str, tuple[str, str]]:
    """``{config: (package, version)}`` for every ``NAME@VERSION`` configuration.

    :class:`VersionEnvError` for a bad version or an adapter without a package (``none``).
    """
    from bench.trackers import parse_name

    out: dict[str, tuple[str, str]] = {}
    for config in configs:
        base, version = split_version(config)
        if version is None:
            continue
        check_version(version)
        cls, _ = parse_name(base)
        if cls.distribution is None:
            raise VersionEnvError(
                f"{config!r}: {cls.name!r} uses no tracker package, so it has no versions"
            )
        out[config] = (cls.distribution, version)
    return out


def prepare_envs(
    configs: Iterable[str],
    cache: Path | None = None,
    pip_args: Sequence[str] = (),
    log: Callable[[str], None] = lambda line: None,
) -> dict[str, VersionEnv]:
    """Build (or find) the environment of every ``NAME@VERSION`` configuration, all of them
    before anything runs; ``{config: env}``."""
    wanted = requested_packages(configs)
    built: dict[tuple[str, str], VersionEnv] = {}
    out: dict[str, VersionEnv] = {}
    for config, (package, version) in wanted.items():
        if (package, version) not in built:
            built[(package, version)] = ensure_env(package, version, cache, pip_args, log)
        out[config] = built[(package, version)]
    return out
