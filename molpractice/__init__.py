"""molpractice — helper package of the curriculum (data, runtime, training, plots, grading).

Importing it is cheap and has no side effects: heavy modules (torch, RDKit) load on first use.

Typical notebook use::

    import molpractice as mp
    mp.setup()                       # thread policy; prints device, run mode, implementation
    ch01 = mp.load_chapter("ch01_solubility_gnn")   # your exercises/ (or solutions/)
    mp.show_spec("1.2")              # the exercise's spec (its docstring)
    mp.check("1.2")                  # grade one exercise
    mp.save_work()                   # your exercises/ in one .zip (on Colab: offered for download)
"""
from __future__ import annotations

import importlib
from pathlib import Path

from .runtime import (  # noqa: F401  (cheap: no torch at import)
    RunSettings,
    get_device,
    implementation_name,
    in_colab,
    is_fast,
    pick,
    report,
    run_mode,
    seed_everything,
    setup,
    use,
)

__version__ = "0.1.0"

_LAZY_FUNCS = {
    "check": "molpractice.grading",
    "load_chapter": "molpractice.implementations",
    "show_spec": "molpractice.chapters",
    "save_work": "molpractice.work",
    "restore_work": "molpractice.work",
}
_SUBMODULES = {p.stem for p in Path(__file__).parent.glob("*.py") if not p.stem.startswith("_")}


def __getattr__(name):
    if name in _LAZY_FUNCS:
        return getattr(importlib.import_module(_LAZY_FUNCS[name]), name)
    if name in _SUBMODULES:  # e.g. mp.data, mp.plots: imported on first use
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'molpractice' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY_FUNCS) | _SUBMODULES)
