#!/usr/bin/env bash
# molpractice environment: create (or reuse) .venv, install the curriculum, then open the lab or test.
#   bash scripts/env.sh lab [ARGS]   -> JupyterLab rooted at the repository, opened on notebooks/00_start_here.ipynb;
#                                       ARGS go to `jupyter lab` (e.g. --port 8899 --no-browser --ip 0.0.0.0)
#   bash scripts/env.sh test [ARGS]  -> every test (units, graders, stub sync, nbval over notebooks in fast mode);
#                                       ARGS go to pytest
# Idempotent: re-running reuses .venv and reinstalls only when pyproject.toml or this script changed.
set -euo pipefail
cd "$(dirname "$0")/.."
action="${1:-}"
case "$action" in lab|test) ;; *) echo "usage: bash scripts/env.sh lab [jupyter lab options] | test [pytest options]" >&2; exit 2 ;; esac

VENV="${MOLPRACTICE_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
TORCH_VERSION="2.13.0"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PY="$VENV/bin/python"

stamp="$VENV/.molpractice-installed"
EXTRAS="test${MOLPRACTICE_EXTRAS:+,$MOLPRACTICE_EXTRAS}"   # MOLPRACTICE_EXTRAS=room: the hub and browser tests' tools
# sha256sum (Linux) or shasum (macOS): the stamp says what the venv was installed from.
if command -v sha256sum >/dev/null 2>&1; then hash=(sha256sum); else hash=(shasum -a 256); fi
want=$( (cat pyproject.toml scripts/env.sh; echo "$EXTRAS") | "${hash[@]}" | cut -c1-16)
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
  "$PY" -m pip install -q -e ".[$EXTRAS]"
  echo "$want" > "$stamp"
fi

if [ "$action" = lab ]; then
  # The server's root is the repository (so exercises/ and solutions/ are in Lab's file browser); the start
  # notebook is Lab's default URL, so the browser opens on it. Later arguments win (e.g. --port, --ip, --no-browser).
  # As root (a container, a fresh VM) Jupyter refuses to start without --allow-root.
  # (${a[@]+"${a[@]}"}: an empty array under `set -u` is an error in macOS's bash 3.2)
  as_root=(); [ "$(id -u)" = 0 ] && as_root=(--allow-root)
  exec "$VENV/bin/jupyter" lab --ServerApp.root_dir="$PWD" \
    --LabApp.default_url=/lab/tree/notebooks/00_start_here.ipynb ${as_root[@]+"${as_root[@]}"} "${@:2}"
fi
export MPLBACKEND=Agg MOLPRACTICE_FAST="${MOLPRACTICE_FAST:-1}" MOLPRACTICE_IMPL="${MOLPRACTICE_IMPL:-solutions}"
# Two worker processes (pytest-xdist) where there are two CPUs: many tests wait on subprocesses (pip, a hub,
# a browser, notebook kernels), so a second worker overlaps those waits with computing. --dist loadfile: the
# tests of one file run on one worker, in order (a notebook's cells share one kernel; a module-scoped fixture is
# built once). MOLPRACTICE_TEST_WORKERS=N sets the number (0: serial); a later `-n N` in ARGS wins; --pdb,
# --trace, -s and -p no:xdist run serially.
workers="${MOLPRACTICE_TEST_WORKERS:-$("$PY" -c 'import os; print(min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))')}"
for arg in "${@:2}"; do case "$arg" in --pdb|--trace|-s|--capture=no|no:xdist) workers=0 ;; esac; done
xdist=()
if [ "$workers" -ge 2 ] && "$PY" -c "import xdist" 2>/dev/null; then xdist=(-n "$workers" --dist loadfile); fi
exec "$PY" -m pytest --nbval-lax -p no:cacheprovider ${xdist[@]+"${xdist[@]}"} "${@:2}"
