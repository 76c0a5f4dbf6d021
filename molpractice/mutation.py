"""Testing graders with wrong implementations (what every ``tests/test_chNN_graders.py`` does).

A grader is itself a test of the learner: it must reject realistic wrong code and accept correct code
written another way. :class:`GraderSuite` loads a chapter's graders and its reference module, builds an
implementation in which some names are replaced (``suite.implementation(gaussian_nll=wrong)``), and runs
the graders of one exercise against it::

    suite = GraderSuite("ch03_uncertainty")
    assert suite.rejections(suite.implementation(gaussian_nll=no_constant), "3.1")
    assert not suite.rejections(suite.implementation(gaussian_nll=scipy_version), "3.1")
"""
from __future__ import annotations

import importlib
import importlib.util
import types
from pathlib import Path

# what a rejecting grader (or the wrong code it runs) may raise
REJECTIONS = (AssertionError, RuntimeError, ValueError, TypeError, IndexError, AttributeError, KeyError,
              FloatingPointError)


class GraderSuite:
    """The graders of one chapter module and its reference implementation.

    Args:
        module: chapter module name, e.g. ``"ch03_uncertainty"``; graders come from
            ``tests/graders/test_<module>.py`` of the repository, the reference from ``solutions/<module>.py``.
        repo: the repository (default: found from the current folder).
    """

    def __init__(self, module: str, repo=None):
        from .implementations import ensure_importable

        root = ensure_importable(repo)
        path = Path(root) / "tests" / "graders" / f"test_{module}.py"
        spec = importlib.util.spec_from_file_location(f"{module}_graders_under_test", path)
        self.graders = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.graders)
        self.module = module
        self.reference = importlib.import_module(f"solutions.{module}")

    def implementation(self, **overrides) -> types.SimpleNamespace:
        """What graders receive as ``impl``: the reference module with ``overrides`` replacing its names."""
        ref = self.reference
        chapter = types.SimpleNamespace(**{k: getattr(ref, k) for k in dir(ref) if not k.startswith("__")})
        for name, value in overrides.items():
            if not hasattr(ref, name):
                raise AttributeError(f"{self.module} has no {name!r} to replace")
            setattr(chapter, name, value)
        return types.SimpleNamespace(**{self.module: chapter})

    def graders_of(self, exercise_id: str) -> list:
        """The grader functions of ``exercise_id``, in file order (AssertionError if there are none)."""
        found = [f for f in vars(self.graders).values()
                 if callable(f) and getattr(f, "molpractice_exercise", (None,))[0] == exercise_id]
        assert found, f"no graders for exercise {exercise_id} in test_{self.module}.py"
        return sorted(found, key=lambda f: f.__code__.co_firstlineno)

    def rejections(self, impl, exercise_id: str, first_only: bool = False) -> list[str]:
        """``"grader: Error: message"`` for every grader of ``exercise_id`` that rejects ``impl`` (empty: accepted)."""
        out = []
        for grader in self.graders_of(exercise_id):
            try:
                grader(impl)
            except REJECTIONS as err:
                out.append(f"{grader.__name__}: {type(err).__name__}: {err}")
                if first_only:
                    break
        return out

    def first_rejection(self, impl, exercise_id: str) -> str | None:
        """The first rejection message, or None when every grader accepts ``impl``."""
        found = self.rejections(impl, exercise_id, first_only=True)
        return found[0] if found else None
