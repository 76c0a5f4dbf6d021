"""Run-time choices made in one place: device, run mode, implementation, seeds.

Environment variables (read on every call, so a notebook can change them):

========================  =====================================================
``MOLPRACTICE_DEVICE``    ``cpu``, ``cuda``, ``cuda:1``, ``mps``; unset = CUDA if
                          available, else CPU.
``MOLPRACTICE_FAST``      ``1`` = fast mode (small epochs, for CI); unset or ``0``
                          = full mode, what a learner runs.
``MOLPRACTICE_IMPL``      ``exercises`` (default: the learner's code) or
                          ``solutions`` (the reference implementations).
``MOLPRACTICE_THREADS``   torch CPU threads set by :func:`configure_threads`
                          (default 1: the curriculum's models are tiny, and two
                          threads on a busy 2-core machine thrash).
``MOLPRACTICE_WORKERS``   processes for independent jobs such as ensemble
                          members (:func:`worker_count`; default the CPUs, at
                          most 2; 1 on a GPU and in fast mode).
========================  =====================================================

Each chapter's fast/full numbers live in one :class:`RunSettings` next to the code that uses them.
Nothing here runs at import: no seeding, no device probing, no thread changes, no downloads.
"""
from __future__ import annotations

import dataclasses
import os
import random
import sys
import types

IMPLEMENTATIONS = ("exercises", "solutions")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def is_fast() -> bool:
    """True when ``MOLPRACTICE_FAST`` asks for fast mode (``1``/``true``/``yes``/``on``).

    Raises:
        ValueError: for any other value than the true/false spellings above.
    """
    raw = os.environ.get("MOLPRACTICE_FAST", "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(f"MOLPRACTICE_FAST={raw!r} is not understood; use 1 (fast) or 0 (full)")


def run_mode() -> str:
    """``"fast"`` or ``"full"``."""
    return "fast" if is_fast() else "full"


def pick(full, fast):
    """Return ``fast`` in fast mode and ``full`` otherwise (e.g. ``pick(200, 20)`` epochs)."""
    return fast if is_fast() else full


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """A chapter's run settings: one value per name for full mode and one for fast mode.

    Args:
        full: ``{name: value}`` used when ``MOLPRACTICE_FAST`` is unset or 0 (what a learner runs; the
            notebook's claims rest on these).
        fast: the same names, small values for CI (``MOLPRACTICE_FAST=1``).
        doc: optional ``{name: what it means, with its unit}``.
    Raises:
        ValueError: if ``full`` and ``fast`` do not have the same names.

    ``settings.current()`` returns the active mode's values with attribute access (``cfg.epochs``).
    """

    full: dict
    fast: dict
    doc: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if set(self.full) != set(self.fast):
            raise ValueError(f"full and fast settings differ in names: {sorted(set(self.full) ^ set(self.fast))}")
        unknown = set(self.doc) - set(self.full)
        if unknown:
            raise ValueError(f"doc describes unknown settings {sorted(unknown)}")

    def current(self, mode: str | None = None) -> types.SimpleNamespace:
        """The values of ``mode`` (``"full"``/``"fast"``; default the active run mode)."""
        mode = mode or run_mode()
        if mode not in ("full", "fast"):
            raise ValueError(f"mode must be 'full' or 'fast', got {mode!r}")
        return types.SimpleNamespace(**(self.fast if mode == "fast" else self.full))

    def table(self):
        """A DataFrame with one row per setting: full, fast, meaning. Its HTML and text displays show every
        ``meaning`` in full (pandas would cut it at ``display.max_colwidth`` = 50 characters)."""
        import pandas as pd

        class FullTextFrame(pd.DataFrame):
            @property
            def _constructor(self):
                return pd.DataFrame

            def _repr_html_(self):
                with pd.option_context("display.max_colwidth", None):
                    return super()._repr_html_()

            def __repr__(self):
                with pd.option_context("display.max_colwidth", None, "display.max_columns", None,
                                       "display.expand_frame_repr", False):
                    return super().__repr__()

        return FullTextFrame({"full": self.full, "fast": self.fast,
                              "meaning": {k: self.doc.get(k, "") for k in self.full}})


def thread_count() -> int:
    """The torch CPU thread count of the policy: ``MOLPRACTICE_THREADS``, default 1.

    The curriculum's graphs and models are small: intra-op threading gains little, and on a busy
    2-core machine two threads were measured 20× slower than one (0.6 s vs 13 s per epoch).
    """
    return _count_from_env("MOLPRACTICE_THREADS") or 1


def _count_from_env(name: str) -> int | None:
    """The whole number >= 1 in environment variable ``name``, or None when it is unset or empty.

    Raises:
        ValueError: naming the variable, for anything else.
    """
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        count = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a whole number") from None
    if count < 1:
        raise ValueError(f"{name} must be >= 1, got {count}")
    return count


def configure_threads() -> int:
    """Apply the thread policy (:func:`thread_count`) to torch in this process; return the count."""
    threads = thread_count()
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


def worker_count(device=None) -> int:
    """Worker processes for independent CPU jobs (:mod:`molpractice.parallel`).

    ``MOLPRACTICE_WORKERS`` overrides (``1`` = everything in this process). Default: the CPUs this
    process may use, at most 2 — each worker runs :func:`thread_count` torch threads, so two workers
    fill a 2-core machine — and 1 when ``device`` is not the CPU (one GPU is shared, not split) or in
    fast mode (spawning workers costs seconds, more than fast mode's jobs).
    """
    workers = _count_from_env("MOLPRACTICE_WORKERS")
    if workers is not None:
        return workers
    if is_fast() or (device is not None and str(device).split(":")[0] != "cpu"):
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cpus = os.cpu_count() or 1
    return max(1, min(2, cpus))


def setup() -> dict:
    """What the setup cell of every notebook calls: set the thread policy, then print :func:`report`."""
    configure_threads()
    return report()


def implementation_name() -> str:
    """Which implementation notebooks and graders use: ``exercises`` (default) or ``solutions``."""
    raw = os.environ.get("MOLPRACTICE_IMPL", "exercises").strip().lower() or "exercises"
    if raw not in IMPLEMENTATIONS:
        raise ValueError(f"MOLPRACTICE_IMPL={raw!r}; choose one of {IMPLEMENTATIONS}")
    return raw


def use(name: str) -> str:
    """Switch the implementation for this process and the graders it starts.

    ``mp.use("solutions")`` in a notebook equals starting it with ``MOLPRACTICE_IMPL=solutions``.
    """
    if name not in IMPLEMENTATIONS:
        raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, got {name!r}")
    os.environ["MOLPRACTICE_IMPL"] = name
    return name


def get_device():
    """The ``torch.device`` every notebook and helper uses.

    ``MOLPRACTICE_DEVICE`` overrides; otherwise CUDA when available, else CPU.

    Raises:
        ValueError: if ``MOLPRACTICE_DEVICE`` names a device that is not available here.
    """
    import torch

    wanted = os.environ.get("MOLPRACTICE_DEVICE", "").strip()
    if wanted:
        try:
            device = torch.device(wanted)
        except RuntimeError as err:
            raise ValueError(f"MOLPRACTICE_DEVICE={wanted!r} is not a device name: {err}") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"MOLPRACTICE_DEVICE={wanted!r} but CUDA is not available on this machine")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError(f"MOLPRACTICE_DEVICE={wanted!r} but MPS is not available on this machine")
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> int:
    """Seed Python's ``random``, NumPy and PyTorch (CPU and every CUDA device).

    Returns the seed, so ``seed = seed_everything(0)`` reads well. Call it explicitly: importing
    molpractice never seeds anything.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return seed


def in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules


def report() -> dict:
    """Print and return a one-line summary: device, run mode, implementation in use, torch threads."""
    import torch

    info = {"device": str(get_device()), "mode": run_mode(), "implementation": implementation_name(),
            "threads": torch.get_num_threads()}
    print("molpractice | " + " | ".join(f"{k}: {v}" for k, v in info.items()))
    return info


def cache_dir():
    """Folder for files the project builds (e.g. 3D conformers): ``MOLPRACTICE_CACHE`` if set, else
    ``<repository>/data/cache`` inside a curriculum checkout, else ``~/.cache/molpractice``.
    Created on first call (not at import)."""
    from pathlib import Path

    env = os.environ.get("MOLPRACTICE_CACHE", "").strip()
    if env:
        path = Path(env).expanduser()
    else:
        try:
            from .repository import find_repo

            path = find_repo() / "data" / "cache"
        except FileNotFoundError:
            path = Path.home() / ".cache" / "molpractice"
    path.mkdir(parents=True, exist_ok=True)
    return path
