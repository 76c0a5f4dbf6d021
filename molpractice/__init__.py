"""molpractice — helper package of the curriculum (data, runtime, training, plots, grading).

Importing it is cheap and has no side effects: heavy modules (torch, RDKit) load on first use.

Typical notebook use::

    import molpractice as mp
    mp.report()                      # device, run mode, implementation
    ch01 = mp.load_impl("ch01_solubility_gnn")   # your exercises/ (or solutions/)
    mp.check("1.2")                  # grade one exercise
"""
from __future__ import annotations

import importlib
from pathlib import Path

from .runtime import (  # noqa: F401  (cheap: no torch at import)
    get_device,
    impl_name,
    in_colab,
    is_fast,
    pick,
    report,
    run_mode,
    seed_everything,
    use,
)

__version__ = "0.1.0"

_LAZY_FUNCS = {
    "check": "molpractice.grading",
    "load_impl": "molpractice.impl",
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
