"""The learner's module in a notebook (``mp.load_chapter``): stubs fall back to the reference with a warning, and an
edit saved to disk is picked up at the next use without re-running the load cell.

- a stub warns once, then falls back quietly;
- after the file changes on disk (mtime or size), the next attribute access or call reloads it and says so; a stub
  that still falls back warns again; a function taken from the module before the edit runs the new code;
- a file with a syntax error raises at the next use (nothing falls back silently) and works once fixed;
- a class is the learner's once none of its methods is a stub, also after a reload;
- ``load_chapter`` of the real ``exercises`` package reloads, and its result watches the file too.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types
import warnings

import numpy as np
import pytest

from molpractice import implementations
from molpractice.exercisegen import STUB_MARKER
from molpractice.implementations import _FallbackModule, load_chapter

STUB = f'''
def double(x):
    """Twice x."""
    {STUB_MARKER}9.1: then run mp.check")


class Box:
    def __init__(self, x):
        self.x = x

    def value(self):
        {STUB_MARKER}9.2")
'''
DONE = '''
def double(x):
    """Twice x."""
    return 2 * x + 1000   # marks the learner's code (the reference gives 2 * x)


class Box:
    def __init__(self, x):
        self.x = x

    def value(self):
        return self.x + 1000
'''


def _reference():
    ref = types.ModuleType("ref_mod")

    def double(x):
        return 2 * x

    class Box:
        def __init__(self, x):
            self.x = x

        def value(self):
            return self.x

    ref.double, ref.Box = double, Box
    return ref


@pytest.fixture
def learner(tmp_path, monkeypatch):
    """A learner package ``mp_learner_pkg.chapter`` in tmp_path holding the stubs; yields (module, path)."""
    pkg = tmp_path / "mp_learner_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    path = pkg / "chapter.py"
    path.write_text(STUB)
    monkeypatch.syspath_prepend(str(tmp_path))
    for key in [k for k in sys.modules if k.startswith("mp_learner_pkg")]:
        del sys.modules[key]
    module = importlib.import_module("mp_learner_pkg.chapter")
    implementations._forget_notes("mp_learner_pkg.chapter")
    yield module, path
    for key in [k for k in sys.modules if k.startswith("mp_learner_pkg")]:
        del sys.modules[key]
    implementations._forget_notes("mp_learner_pkg.chapter")


def _save(path, text, bump=1):
    """Write ``text`` and move the mtime forward by ``bump`` seconds (a later save, whatever the clock's grain)."""
    st = os.stat(path)
    path.write_text(text)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + bump * 10**9))


def _calls(fn, *args):
    """(result, messages of the fallback warnings raised during the call)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")  # Python's normal setting: the per-line registry would hide repeats
        out = fn(*args)
    return out, [str(w.message) for w in caught if "not implemented yet" in str(w.message)]


def test_stub_warns_once_then_falls_back_quietly(learner):
    module, _ = learner
    fb = _FallbackModule(module, _reference())
    out, notes = _calls(fb.double, 3)
    assert out == 6 and len(notes) == 1 and "mp_learner_pkg.chapter.double" in notes[0]
    out, notes = _calls(fb.double, 4)
    assert out == 8 and notes == []


def test_edit_on_disk_is_reloaded_at_next_use(learner, capsys):
    module, path = learner
    fb = _FallbackModule(module, _reference())
    held = fb.double  # taken before the edit, as `f = ch00.f` in a notebook cell would
    assert _calls(held, 1)[0] == 2
    _save(path, DONE)
    out, notes = _calls(held, 1)
    assert out == 1002 and notes == [], "a function taken before the edit must run the learner's new code"
    assert "reloaded" in capsys.readouterr().out
    assert fb.double(2) == 1004
    assert capsys.readouterr().out == "", "an unchanged file is not reloaded again"


def test_stub_still_falling_back_after_a_reload_warns_again(learner, capsys):
    module, path = learner
    fb = _FallbackModule(module, _reference())
    for _ in range(2):  # the same line each time: Python's registry alone would show the warning only once
        out, notes = _calls(fb.double, 1)
        assert out == 2
    _save(path, STUB + "\n# edited, still a stub\n")
    out, notes = _calls(fb.double, 1)
    assert out == 2 and len(notes) == 1, "after a reload a stub that still falls back must warn again"
    assert "reloaded" in capsys.readouterr().out


def test_same_size_save_in_the_same_second_is_seen(learner, monkeypatch):
    """The bytecode cache keys on whole seconds and size: a quick same-size edit must not run the stale .pyc."""
    module, path = learner
    monkeypatch.setattr(sys, "dont_write_bytecode", False)  # as on a learner's machine
    module = importlib.reload(module)  # writes the .pyc of the stub
    assert os.path.exists(importlib.util.cache_from_source(str(path)))
    fb = _FallbackModule(module, _reference())
    assert _calls(fb.double, 1)[0] == 2
    done = DONE.replace("1000", "2000")
    same_size = done + " " * (len(STUB) - len(done)) if len(done) < len(STUB) else done
    st = os.stat(path)
    path.write_text(same_size)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1))  # 1 ns later: same second for the .pyc check
    assert fb.double(1) == 2002


def test_syntax_error_raises_then_recovers(learner):
    module, path = learner
    fb = _FallbackModule(module, _reference())
    _save(path, "def double(x):\n    return (\n")
    with pytest.raises(SyntaxError):
        fb.double(1)
    with pytest.raises(SyntaxError):  # tried again, never a silent fallback
        fb.double(1)
    _save(path, DONE, bump=2)
    assert fb.double(1) == 1002


def test_class_falls_back_while_a_method_is_a_stub_and_follows_reloads(learner):
    module, path = learner
    fb = _FallbackModule(module, _reference())
    make = fb.Box
    box, notes = _calls(make, 5)
    assert box.value() == 5 and len(notes) == 1
    _save(path, DONE)
    box, notes = _calls(make, 5)
    assert box.value() == 1005 and notes == []


def test_non_callables_and_missing_names(learner):
    module, _ = learner
    fb = _FallbackModule(module, _reference())
    assert "double" in dir(fb)
    with pytest.raises(AttributeError):
        fb.no_such_name
    assert "stubs fall back" in repr(fb)


def test_load_chapter_of_exercises_watches_the_file(monkeypatch):
    """The real chapter-0 stub: falls back with a warning; the result of load_chapter re-checks the file."""
    monkeypatch.delenv("MOLPRACTICE_IMPL", raising=False)
    implementations._forget_notes("exercises.ch00_start_here")
    ch00 = load_chapter("ch00_start_here")
    assert isinstance(ch00, _FallbackModule)
    (probs, _, _), notes = _calls(ch00.softmax_energy_stats, np.array([0.0, 0.0]), 1.0)
    assert np.allclose(probs, 0.5) and len(notes) == 1
    assert ch00._stamp == implementations._file_stamp(ch00._learner)
    implementations._forget_notes("exercises.ch00_start_here")
