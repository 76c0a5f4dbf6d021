"""What runs inside a grading worker: import the learner's package, run one exercise's graders, report.

See :mod:`molpractice.grading` for the rules (reference blocked, arguments watched for in-place changes,
messages clipped) and :mod:`molpractice.grading_pool` for how workers start.
"""
from __future__ import annotations

import os
import sys
import time
import traceback
from pathlib import Path

from .graders import Grader, load_graders
from .implementations import Implementation, import_package_from


MESSAGE_LIMIT = 600  # characters of a verdict's message (learner text can be megabytes)


def clip(text, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, saying how much was cut."""
    text = str(text)
    if len(text) <= limit:
        return text
    return text[:limit] + f" … [{len(text) - limit} more characters cut]"


def describe(value) -> str:
    """A short description of a returned value: type, and shape/dtype for arrays and tensors."""
    if value is None:
        return "None"
    if isinstance(value, tuple):
        return "a tuple (" + ", ".join(describe(v) for v in value[:4]) + (", …" if len(value) > 4 else "") + ")"
    name = type(value).__module__.split(".")[0] + "." + type(value).__qualname__ \
        if type(value).__module__ not in ("builtins",) else type(value).__qualname__
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is not None and dtype is not None:
        return f"{name} of shape {tuple(shape)} and dtype {dtype}"
    if value is None or isinstance(value, (bool, int, float)):
        return f"{name} {value!r}"
    return name


class _Snapshot:
    """Copies of the array/tensor arguments of a call, to report when the learner's code changes them."""

    def __init__(self, func, args, kwargs):
        self.items = []
        names, star = None, None
        for k, v in list(enumerate(args)) + list(kwargs.items()):
            copy = _copy_array(v)
            if copy is None:
                continue
            if isinstance(k, str):
                label = k
            else:
                if names is None:
                    names, star = _parameters(func)
                label = names[k] if k < len(names) else f"{star or 'args'}[{k - len(names)}]"
            self.items.append((label, v, copy))

    def changed(self):
        for label, original, copy in self.items:
            if not _same_array(original, copy):
                return label
        return None


_PARAMETERS: dict = {}


def _parameters(func):
    """(names of the positional parameters before ``*args``, the name of ``*args`` or None), once per function."""
    import inspect

    if func not in _PARAMETERS:
        names, star = [], None
        try:
            for p in inspect.signature(func).parameters.values():
                if p.kind == p.VAR_POSITIONAL:
                    star = p.name
                    break
                names.append(p.name)
        except (TypeError, ValueError):
            pass
        _PARAMETERS[func] = (names, star)
    return _PARAMETERS[func]


def _copy_array(v):
    mod = type(v).__module__
    if mod == "numpy" and hasattr(v, "copy") and hasattr(v, "shape"):
        return v.copy()
    if mod.startswith("torch") and hasattr(v, "clone") and hasattr(v, "detach"):
        return v.detach().clone()
    return None


def _same_array(a, b):
    try:
        if type(a).__module__ == "numpy":
            import numpy as np

            return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
        import torch

        return a.shape == b.shape and bool(torch.equal(a.detach(), b) or torch.allclose(
            a.detach(), b, rtol=0, atol=0, equal_nan=True))
    except Exception:  # exotic dtypes: do not judge
        return True


class _Recorder:
    """What the learner's functions last returned (for messages), and whether they changed their inputs."""

    def __init__(self):
        self.last = None  # (function name, description of the returned value)


class _RecordingModule:
    """A learner chapter module whose public functions record their return value and guard their inputs."""

    def __init__(self, module, recorder):
        self._module, self._recorder = module, recorder

    def __getattr__(self, attr):
        import functools
        import inspect

        obj = getattr(self._module, attr)
        if attr.startswith("_") or getattr(obj, "__module__", None) != self._module.__name__:
            return obj
        if isinstance(obj, type):
            return _recording_class(obj, self._recorder)
        if not inspect.isfunction(obj):
            return obj
        recorder = self._recorder

        @functools.wraps(obj)
        def call(*args, **kwargs):
            snap = _Snapshot(obj, args, kwargs)
            recorder.last = None
            out = obj(*args, **kwargs)
            recorder.last = (attr, describe(out))
            changed = snap.changed()
            if changed is not None:
                raise AssertionError(
                    f"{attr} changed its argument `{changed}` in place: do not modify the inputs "
                    f"(e.g. write `x = x - c`, not `x -= c`, or work on a copy)")
            return out

        return call

    def __dir__(self):
        return dir(self._module)


_RECORDING_CLASSES: dict = {}


def _recording_class(cls, recorder):
    """A subclass of a learner's ``nn.Module`` whose ``forward`` records what it returned and fails when it
    changed a tensor argument in place (other classes are returned unchanged)."""
    if not callable(getattr(cls, "register_forward_hook", None)):
        return cls
    key = (cls, id(recorder))
    if key in _RECORDING_CLASSES:
        return _RECORDING_CLASSES[key]
    name = cls.__name__

    def pre_hook(module, args):
        module._molpractice_snapshot = _Snapshot(cls.forward, (module,) + tuple(args), {})
        recorder.last = None

    def post_hook(module, args, output):
        recorder.last = (f"{name}.forward", describe(output))
        snap = getattr(module, "_molpractice_snapshot", None)
        changed = snap.changed() if snap is not None else None
        if changed is not None:
            raise AssertionError(f"{name}.forward changed its argument `{changed}` in place: do not modify the "
                                 "inputs (e.g. write `pos = pos + shift`, not `pos += shift`)")

    def __init__(self, *args, **kwargs):
        cls.__init__(self, *args, **kwargs)
        try:
            self.register_forward_pre_hook(pre_hook)
            self.register_forward_hook(post_hook)
        except Exception:  # a module the hooks cannot attach to is graded without them
            pass

    sub = type(name, (cls,), {"__init__": __init__, "__doc__": cls.__doc__, "__module__": cls.__module__,
                              "__qualname__": cls.__qualname__})
    _RECORDING_CLASSES[key] = sub
    return sub


class _RecordingImplementation:
    """``impl`` as graders see it inside the worker: chapter modules wrapped by :class:`_RecordingModule`."""

    def __init__(self, impl: Implementation, recorder: _Recorder):
        self._impl, self._recorder = impl, recorder
        self.name = impl.name

    def __getattr__(self, module):
        if module.startswith("_"):
            raise AttributeError(module)
        return _RecordingModule(getattr(self._impl, module), self._recorder)

    def __repr__(self):
        return repr(self._impl)


class _ReferenceBlocker:
    """A meta-path finder that refuses to import the reference package while learner code is graded."""

    def __init__(self, name: str = "solutions"):
        self.name = name

    def find_spec(self, fullname, path=None, target=None):
        if fullname == self.name or fullname.startswith(self.name + "."):
            raise ModuleNotFoundError(
                f"the reference package '{self.name}' is not available while grading exercises "
                f"(import of '{fullname}' refused): your code must not use the reference solutions",
                name=fullname)
        return None


def block_reference(name: str = "solutions") -> None:
    """Make ``import solutions`` (and its submodules) fail in this process, with a message saying why."""
    for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
        del sys.modules[key]
    if not any(isinstance(f, _ReferenceBlocker) for f in sys.meta_path):
        sys.meta_path.insert(0, _ReferenceBlocker(name))


def _learner_frame(tb_exc: traceback.TracebackException, impl_dir: str) -> str:
    """The deepest traceback line inside the learner's package, as 'file:line in func'."""
    where = ""
    for frame in tb_exc.stack:
        if frame.filename.startswith(impl_dir):
            where = f"{Path(frame.filename).name}:{frame.lineno} in {frame.name}"
    return where


def _in_learner_code(tb_exc: traceback.TracebackException, impl_dir: str) -> bool:
    """True when the exception was raised inside the learner's package (or code it called)."""
    return any(frame.filename.startswith(impl_dir) for frame in tb_exc.stack)


def _run_one(graders: list[Grader], impl, impl_dir: str, recorder: _Recorder | None = None) -> dict:
    """Run the graders of one exercise in this process and summarise them."""
    points, problems = 0.0, []  # problems: (status, message) per grader that did not pass
    for g in graders:
        if recorder is not None:
            recorder.last = None
        try:
            g.func(impl)
            points += g.points
            continue
        except NotImplementedError as err:
            problems.append(("not started", str(err) or f"{g.name}: raises NotImplementedError"))
        except AssertionError as err:
            problems.append(("failed", f"{g.name}: {clip((str(err) or 'an assertion failed').strip())}"))
        except SyntaxError as err:
            problems.append(("error", f"SyntaxError in {Path(err.filename or '?').name} line {err.lineno}: "
                                      f"{clip(err.msg, 200)}"))
        except BaseException as err:  # learner code may raise anything, even SystemExit
            tb_exc = traceback.TracebackException.from_exception(err)
            text = f"{type(err).__name__}: {clip(err, 300)}"
            last = recorder.last if recorder is not None else None
            if last is not None and not _in_learner_code(tb_exc, impl_dir):
                # the learner's function returned, then the grader could not use what it returned
                problems.append(("failed", f"{g.name}: your {last[0]} returned {last[1]}, which the grader could "
                                           f"not use ({text}); see the Returns section of its docstring"))
                continue
            where = _learner_frame(tb_exc, impl_dir)
            problems.append(("error", f"{g.name}: {text}" + (f" (at {where})" if where else "")))
    if not problems:
        return {"status": "passed", "points": points, "message": ""}
    kinds = {kind for kind, _ in problems}
    if "not started" in kinds:
        points = 0.0  # graders that pass on a stub (e.g. argument validation) earn nothing yet
    status = "error" if "error" in kinds else "failed" if "failed" in kinds else "not started"
    message = next(msg for kind, msg in problems if kind == status)
    return {"status": status, "points": points, "message": clip(message)}


def _worker(job: dict, conn) -> None:
    """Grade ``job["ids"]`` one after another, sending one event dict per step through ``conn``."""
    def emit(**event):
        conn.send(event)

    impl_dir = str(Path(job["impl_dir"]).resolve())
    if job.get("block_reference"):
        block_reference("solutions")
    import_package_from(job["implementation"], Path(impl_dir))
    graders = load_graders(Path(job["graders_dir"]), {int(i.split(".")[0]) for i in job["ids"]}, job.get("compiled"))
    recorder = _Recorder()
    impl = _RecordingImplementation(Implementation(job["implementation"]), recorder)
    _freeze_heap()
    emit(event="ready")
    for ex_id in job["ids"]:
        emit(event="start", id=ex_id)
        mine = [g for g in graders if g.exercise == ex_id]
        t0, c0 = time.perf_counter(), time.process_time()
        result = _run_one(mine, impl, impl_dir, recorder)
        # seconds: wall time of the graders; cpu_seconds: their CPU time; worker_cpu_seconds: this process's CPU
        # time so far (since the fork: imports of the learner's package and the graders included)
        emit(event="result", id=ex_id, seconds=round(time.perf_counter() - t0, 3),
             cpu_seconds=round(time.process_time() - c0, 3), worker_cpu_seconds=round(time.process_time(), 3),
             **result)
    emit(event="done")


def _freeze_heap() -> None:
    """Move every object alive now (torch, RDKit, networkx, the graders, the learner's modules: ~400 000
    objects) out of the garbage collector's reach before grading.

    Without it, a grader that allocates many containers (a 100 000-node graph's adjacency lists) triggers
    full collections that traverse that whole preloaded heap again and again: they cost more than the
    grader's own work (5.2's long-path check: 0.46 → 0.27 CPU s). Objects created while grading are still
    collected as usual; the worker exits after its verdicts, so nothing frozen needs freeing.
    """
    import gc

    gc.freeze()  # O(1): no collection first (a short-lived worker need not free the garbage it froze)


class _CappedStream:
    """A text stream that writes to ``fd`` until ``limit`` characters, then drops the rest (a learner's
    ``while True: print(...)`` must not fill the disk before its timeout)."""

    def __init__(self, fd: int, limit: int = 1_000_000):
        self.fd, self.left = fd, limit
        self.encoding, self.errors = "utf-8", "replace"

    def write(self, text):
        text = str(text)
        if self.left > 0:
            chunk = text[: self.left]
            self.left -= len(chunk)
            try:
                os.write(self.fd, chunk.encode("utf-8", "replace"))
            except OSError:
                self.left = 0
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False

    def fileno(self):
        return self.fd

    def writable(self):
        return True

    @property
    def buffer(self):  # code that writes bytes to sys.stdout.buffer
        stream = self

        class _Bytes:
            def write(self, data):
                stream.write(bytes(data).decode("utf-8", "replace"))
                return len(data)

            def flush(self):
                pass

        return _Bytes()

    @property
    def closed(self):
        return False


def _child(job: dict, conn) -> None:
    """Body of a worker process: isolate, grade, report, and exit at once (even if threads linger)."""
    code = 0
    try:
        log = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        sys.stdout, sys.stderr = _CappedStream(1), _CappedStream(2)
        os.environ.setdefault("MPLBACKEND", "Agg")
        os.chdir(job["repo"])
        if job["repo"] not in sys.path:
            sys.path.insert(0, job["repo"])
        from .runtime import configure_threads, thread_count

        os.environ["OMP_NUM_THREADS"] = str(thread_count())  # read by torch when a grader imports it
        if "torch" in sys.modules:  # preloaded by the forkserver
            configure_threads()
        _worker(job, conn)
    except BaseException:  # reported to the parent through the log's last line
        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
            conn.close()
        finally:
            os._exit(code)  # never wait for non-daemon threads the learner's code left behind


def _child_from_fd(job: dict, fd: int) -> None:
    """Entry point of a worker started as a new interpreter (``MOLPRACTICE_GRADE_WORKER=subprocess``)."""
    from multiprocessing.connection import Connection

    _child(job, Connection(fd, readable=False))


# ----------------------------------------------------------------------------------------- runner
