#!/usr/bin/env bash
# Create .venv and install trackerbench into it.
# Where no NVIDIA GPU is present, the CPU build of torch is installed first (TORCH_SPEC,
# default torch==2.13.0), so that pip does not pull a multi-GB CUDA build. Set
# TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu on hosts whose default index only has
# CUDA builds. With a GPU (nvidia-smi works), torch comes from the default index (CUDA build).
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip install --disable-pip-version-check -q)

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "setup: NVIDIA GPU found; torch (CUDA build) comes with the project's dependencies"
else
  echo "setup: no NVIDIA GPU; installing the CPU build of torch first ($TORCH_SPEC)"
  if [ -n "${TORCH_INDEX_URL:-}" ]; then
    "${PIP[@]}" "$TORCH_SPEC" --index-url "$TORCH_INDEX_URL"
  else
    "${PIP[@]}" "$TORCH_SPEC"
  fi
fi
"${PIP[@]}" -e ".[dev,trackers]"
.venv/bin/python - <<'PY'
import importlib.metadata as md
print("setup: trackerbench", md.version("trackerbench"), "with torch", md.version("torch"),
      "wandb", md.version("wandb"), "mlflow", md.version("mlflow"))
PY
