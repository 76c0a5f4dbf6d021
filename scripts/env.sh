#!/usr/bin/env bash
# molpractice environment: create (or reuse) .venv, install the curriculum, then open the lab or test.
#   bash scripts/env.sh lab    -> JupyterLab on notebooks/00_start_here.ipynb
#   bash scripts/env.sh test   -> every test (units, graders, stub sync, nbval over notebooks in fast mode)
# Idempotent: re-running reuses .venv and reinstalls only when pyproject.toml or this script changed.
set -euo pipefail
cd "$(dirname "$0")/.."
action="${1:-}"
case "$action" in lab|test) ;; *) echo "usage: bash scripts/env.sh lab|test" >&2; exit 2 ;; esac

VENV="${MOLPRACTICE_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
TORCH_VERSION="2.13.0"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PY="$VENV/bin/python"

stamp="$VENV/.molpractice-installed"
want=$(cat pyproject.toml scripts/env.sh | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[env] installing into $VENV (first run, or pyproject.toml changed)"
  # torch first, so that nothing else pulls a multi-GB CUDA build on a machine without a GPU.
  if ! "$PY" -c "import torch" 2>/dev/null; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
      "$PY" -m pip install "torch==$TORCH_VERSION"                       # CUDA machine: the default build
    elif "$PY" -m pip install "torch==$TORCH_VERSION+cpu" 2>/dev/null; then
      :                                                   # a CPU wheel the configured indexes/find-links offer
    elif [ "$(uname -s)" = "Linux" ]; then
      "$PY" -m pip install "torch==$TORCH_VERSION+cpu" --index-url https://download.pytorch.org/whl/cpu
    else
      "$PY" -m pip install "torch==$TORCH_VERSION"                       # macOS/Windows wheels are CPU builds
    fi
  fi
  "$PY" -m pip install -q -e ".[test]"
  echo "$want" > "$stamp"
fi

if [ "$action" = lab ]; then
  exec "$VENV/bin/jupyter" lab notebooks/00_start_here.ipynb
fi
export MPLBACKEND=Agg MOLPRACTICE_FAST="${MOLPRACTICE_FAST:-1}" MOLPRACTICE_IMPL="${MOLPRACTICE_IMPL:-solutions}"
exec "$PY" -m pytest --nbval-lax -p no:cacheprovider "${@:2}"
