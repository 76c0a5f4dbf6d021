"""Importing an implementation: the learner's ``exercises`` or the reference ``solutions``.

Names used across the package:

* an *implementation name* is the string ``"exercises"`` or ``"solutions"``;
* an :class:`Implementation` is what graders receive as ``impl``: ``impl.ch01_solubility_gnn`` imports that
  chapter module of the named package;
* a *chapter module* is one such module; ``load_chapter("ch01_solubility_gnn")`` gives notebooks and
  benchmarks the one chosen by ``MOLPRACTICE_IMPL``. Functions that are still stubs fall back to the
  reference, with a visible note, so a notebook can be read end to end before every exercise is done.

``exercises`` and ``solutions`` are not installed into site-packages (they would collide with any other
project's packages of those names): :func:`ensure_importable` puts the repository on ``sys.path`` first.
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import sys
import warnings
from pathlib import Path

from .exercisegen import STUB_MARKER
from .repository import find_repo
from .runtime import IMPLEMENTATIONS, implementation_name


def ensure_importable(repo: str | Path | None = None) -> Path:
    """Put the curriculum repository first on ``sys.path`` so ``exercises``/``solutions`` import from it.

    Returns the repository folder. Raises FileNotFoundError outside a curriculum checkout.
    """
    root = str(find_repo(repo))
    if root not in sys.path:
        sys.path.insert(0, root)
    return Path(root)


def import_package_from(name: str, folder: Path):
    """Import the package ``name`` from ``folder`` (a directory with ``__init__.py``), replacing any
    already imported package of that name. Used to grade a learner's copy of ``exercises/``."""
    folder = Path(folder).resolve()
    init = folder / "__init__.py"
    if not init.is_file():
        raise FileNotFoundError(f"{folder} is not a Python package (no __init__.py)")
    for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
        del sys.modules[key]
    spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class Implementation:
    """Attribute access to the chapter modules of one implementation (what graders receive as ``impl``).

    Args:
        name: ``"exercises"`` or ``"solutions"``.
    Example:
        ``Implementation("solutions").ch00_start_here.softmax_energy_stats``
    """

    def __init__(self, name: str):
        if name not in IMPLEMENTATIONS:
            raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, got {name!r}")
        self.name = name

    def __getattr__(self, module: str):
        if module.startswith("_"):
            raise AttributeError(module)
        return importlib.import_module(f"{self.name}.{module}")

    def __repr__(self):
        return f"Implementation({self.name!r})"


class _FallbackModule:
    """A learner module whose stubbed functions and classes fall back to the reference."""

    def __init__(self, learner, reference):
        self._learner, self._reference = learner, reference

    def __getattr__(self, attr):
        mine = getattr(self._learner, attr)
        if not callable(mine) or attr.startswith("_"):
            return mine
        ref = getattr(self._reference, attr, None)
        if ref is None:
            return mine

        if isinstance(mine, type):
            return _fallback_class(mine, ref, self._learner.__name__)

        @functools.wraps(mine)
        def call(*args, **kwargs):
            try:
                return mine(*args, **kwargs)
            except NotImplementedError as err:
                _note_fallback(self._learner.__name__, attr, err)
                return ref(*args, **kwargs)

        return call

    def __dir__(self):
        return dir(self._learner)

    def __repr__(self):
        return f"<{self._learner.__name__} (stubs fall back to solutions)>"


def _stubbed_method(cls) -> str | None:
    """Name of a method of ``cls`` whose body is still a generated stub, if any."""
    for name, member in vars(cls).items():
        if callable(member):
            try:
                if STUB_MARKER in inspect.getsource(member):
                    return name
            except (OSError, TypeError):
                continue
    return None


def _fallback_class(mine, ref, module_name):
    """A class is used whole: the learner's once none of its methods is a stub, else the reference."""
    def construct(*args, **kwargs):
        stub = _stubbed_method(mine)
        if stub is not None:
            _note_fallback(module_name, mine.__name__, f"{mine.__name__}.{stub} is a stub")
            return ref(*args, **kwargs)
        return mine(*args, **kwargs)

    construct.__name__ = mine.__name__
    construct.__doc__ = mine.__doc__
    return construct


_NOTED: set = set()


def _note_fallback(module_name, attr, err):
    key = (module_name, attr)
    if key not in _NOTED:
        _NOTED.add(key)
        warnings.warn(f"{module_name}.{attr} is not implemented yet ({err}); using the reference "
                      f"solution for now. Implement it, then run the check cell.", stacklevel=3)


def load_chapter(module: str, name: str | None = None, fallback: bool = True):
    """The chapter module notebooks and benchmarks use.

    Args:
        module: chapter module name, e.g. ``"ch01_solubility_gnn"``.
        name: implementation name, ``"exercises"`` or ``"solutions"``; default from ``MOLPRACTICE_IMPL``.
        fallback: with the learner's code, call the reference where a function is still a stub.
    """
    name = name or implementation_name()
    if name not in IMPLEMENTATIONS:
        raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, got {name!r}")
    ensure_importable()
    learner = importlib.import_module(f"{name}.{module}")
    if name == "exercises":
        importlib.reload(learner)  # pick up edits made since the notebook started
        if fallback:
            return _FallbackModule(learner, importlib.import_module(f"solutions.{module}"))
    return learner
