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
import os
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


def _file_stamp(module) -> tuple | None:
    """``(mtime_ns, size)`` of a module's source file (None when it has none or it is gone)."""
    path = getattr(module, "__file__", None)
    try:
        st = os.stat(path)
    except (OSError, TypeError):
        return None
    return st.st_mtime_ns, st.st_size


def _reload(module):
    """Re-execute ``module`` from its source file, also when the edit fell within the second of the last one.

    The bytecode cache records the source's mtime in whole seconds, so a quick second save of a file of the same
    size could be served from the stale ``.pyc``: that cache file is removed first. A module that is no longer
    the one in ``sys.modules`` (a grader re-imported the package) is imported afresh instead.
    """
    name = module.__name__
    path = getattr(module, "__file__", None)
    if path:
        try:
            Path(importlib.util.cache_from_source(path)).unlink(missing_ok=True)
        except (NotImplementedError, ValueError, OSError):
            pass
    importlib.invalidate_caches()
    if sys.modules.get(name) is module:
        return importlib.reload(module)
    sys.modules.pop(name, None)
    return importlib.import_module(name)


class _FallbackModule:
    """A learner module whose stubbed functions and classes fall back to the reference.

    The learner's file is watched: when it changed on disk since it was (re)loaded, the next attribute access
    or call reloads it, prints one line saying so, and a stub that still falls back warns again. A function
    taken from this module before the edit (``f = ch00.f``) also runs the new code, because it looks the
    learner's function up at each call.
    """

    def __init__(self, learner, reference):
        self._learner, self._reference = learner, reference
        self._stamp = _file_stamp(learner)

    def _fresh(self):
        """The learner module, reloaded first if its file changed since it was loaded.

        A reload that fails (e.g. a SyntaxError in the file) raises, and is tried again at the next access.
        """
        stamp = _file_stamp(self._learner)
        if stamp is not None and stamp != self._stamp:
            self._learner = _reload(self._learner)
            self._stamp = stamp
            _forget_notes(self._learner.__name__)
            print(f"molpractice: reloaded {self._learner.__file__} (it changed on disk since it was loaded)",
                  flush=True)
        return self._learner

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        learner = self._fresh()
        mine = getattr(learner, attr)
        if not callable(mine) or attr.startswith("_"):
            return mine
        ref = getattr(self._reference, attr, None)
        if ref is None:
            return mine

        if isinstance(mine, type):
            return _fallback_class(lambda: getattr(self._fresh(), attr), ref, learner.__name__)

        @functools.wraps(mine)
        def call(*args, **kwargs):
            current = getattr(self._fresh(), attr)
            try:
                return current(*args, **kwargs)
            except NotImplementedError as err:
                _note_fallback(self._learner.__name__, attr, err)
                return ref(*args, **kwargs)

        return call

    def __dir__(self):
        return dir(self._fresh())

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


def _fallback_class(current, ref, module_name):
    """A class is used whole: the learner's once none of its methods is a stub, else the reference.

    ``current()`` returns the learner's class as it is now (after any reload).
    """
    mine = current()

    def construct(*args, **kwargs):
        cls = current()
        stub = _stubbed_method(cls)
        if stub is not None:
            _note_fallback(module_name, cls.__name__, f"{cls.__name__}.{stub} is a stub")
            return ref(*args, **kwargs)
        return cls(*args, **kwargs)

    construct.__name__ = mine.__name__
    construct.__doc__ = mine.__doc__
    return construct


_NOTED: set = set()


def _forget_notes(module_name) -> None:
    """After a reload, warn again about every stub of ``module_name`` that still falls back."""
    for key in [k for k in _NOTED if k[0] == module_name]:
        _NOTED.discard(key)


def _note_fallback(module_name, attr, err):
    """Warn once per function (and again after each reload of its file) that the reference is used for it.

    ``_NOTED`` decides when a warning is due, so Python's per-line registry of shown warnings is not used
    (it would hide the warning after a reload when the same cell runs again); warning filters still apply.
    """
    key = (module_name, attr)
    if key not in _NOTED:
        _NOTED.add(key)
        caller = sys._getframe(2)  # the code that called the stub (through the fallback wrapper)
        warnings.warn_explicit(
            f"{module_name}.{attr} is not implemented yet ({err}); using the reference solution for now. "
            f"Implement it, save the file, then run the check cell.", UserWarning,
            caller.f_code.co_filename, caller.f_lineno, module=caller.f_globals.get("__name__", "<string>"),
            registry=None, module_globals=caller.f_globals)


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
        learner = _reload(learner)  # pick up edits made since the notebook started
        if fallback:
            return _FallbackModule(learner, importlib.import_module(f"solutions.{module}"))
    return learner
