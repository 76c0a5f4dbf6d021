"""Grading workers: one fresh, isolated process per grading run, started warm.

A learner runs ``check("N.M")`` dozens of times per chapter. Starting a new interpreter and importing torch,
PyTorch Geometric and RDKit costs several seconds per check, so on POSIX the workers are forked from a
*forkserver* (``multiprocessing``'s) that has imported, once per session, the libraries the graded chapter's
graders and solutions import (:func:`modules_for`; a later chapter that needs more restarts it with more).
Each worker is still a new process: it imports the learner's package and the graders afresh (edits are
picked up), runs in its own process group, and is killed after its verdict or its timeout. The first check
of a session pays for starting the forkserver (:func:`warm_up` can do that earlier); later ones only fork.

``MOLPRACTICE_GRADE_WORKER=subprocess`` (or a platform without ``fork``) starts every worker as a new
interpreter instead (the cold path, always correct, slower).

Both kinds of worker report to the parent through a :class:`multiprocessing.connection.Connection`.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import subprocess
import sys
from multiprocessing.connection import Connection

#: Modules a forkserver may import once, by the library a chapter's graders or solutions mention.
LIBRARIES = {
    "numpy": ["numpy"],
    "scipy": ["scipy.stats", "scipy.special"],
    "torch": ["torch"],
    "torch_geometric": ["torch_geometric", "torch_geometric.data", "torch_geometric.nn"],
    "pytest": ["pytest"],
    "networkx": ["networkx"],
    "rdkit": ["rdkit.Chem", "rdkit.Chem.Scaffolds.MurckoScaffold", "rdkit.Chem.rdFingerprintGenerator",
              "rdkit.DataStructs"],
}
BASE = ["molpractice.grading", "molpractice.implementations"]
#: Everything (what :func:`warm_up` preloads).
PRELOAD = BASE + [m for mods in LIBRARIES.values() for m in mods]

_CONTEXT = None
_PRELOADED: set | None = None  # what the forkserver this module started has imported


def modules_for(sources) -> list[str]:
    """The modules worth preloading for graders/solutions whose source texts are ``sources``."""
    text = "\n".join(sources)
    wanted = list(BASE)
    for library, modules in LIBRARIES.items():
        if f"import {library}" in text or f"from {library}" in text:
            wanted += modules
    return wanted


def worker_kind(preferred: str | None = None) -> str:
    """``"forkserver"`` (warm workers) or ``"subprocess"`` (a new interpreter per run).

    ``MOLPRACTICE_GRADE_WORKER`` wins over ``preferred``; the default is ``"forkserver"`` where it exists.
    A one-shot command that starts a single worker (``molpractice grade``) prefers ``"subprocess"``: it
    imports only what its graders need, and there is no later check to be warm for.
    """
    wanted = os.environ.get("MOLPRACTICE_GRADE_WORKER", "").strip().lower() or (preferred or "forkserver")
    if wanted not in ("subprocess", "forkserver"):
        raise ValueError(f"MOLPRACTICE_GRADE_WORKER={wanted!r}; use 'forkserver' or 'subprocess'")
    return wanted if wanted == "subprocess" or _has_forkserver() else "subprocess"


def _has_forkserver() -> bool:
    return sys.platform != "win32" and "forkserver" in multiprocessing.get_all_start_methods()


def _context(modules=None):
    """The forkserver context, its server (re)started lazily with ``modules`` (default: :data:`PRELOAD`)
    preloaded; a running server that lacks some of them is replaced by one that has all."""
    global _CONTEXT, _PRELOADED
    from multiprocessing import forkserver

    if _CONTEXT is None:
        _CONTEXT = multiprocessing.get_context("forkserver")
    wanted = set(modules or PRELOAD)
    server = forkserver._forkserver
    running = getattr(server, "_forkserver_pid", None) is not None
    if running and (_PRELOADED is None or wanted <= _PRELOADED):
        return _CONTEXT  # started by someone else (use it as it is), or already has what we need
    if running:
        shutdown()
    _PRELOADED = wanted | (_PRELOADED or set())
    _CONTEXT.set_forkserver_preload(sorted(_PRELOADED, key=lambda m: PRELOAD.index(m) if m in PRELOAD else 99))
    return _CONTEXT


def warm_up(modules=None) -> None:
    """Start the forkserver now (importing ``modules``, default :data:`PRELOAD`), so the next check is warm."""
    if worker_kind() == "forkserver":
        from multiprocessing import forkserver

        _context(modules)
        forkserver.ensure_running()


def shutdown() -> None:
    """Stop the forkserver (the next check starts a new one: a cold start)."""
    from multiprocessing import forkserver

    server = forkserver._forkserver
    stop = getattr(server, "_stop", None)
    if stop is not None and getattr(server, "_forkserver_pid", None) is not None:
        stop()


class Worker:
    """A started grading worker: ``conn`` receives its events; :meth:`kill` ends it and its children."""

    def __init__(self, conn: Connection, pid: int, proc):
        self.conn, self.pid, self._proc = conn, pid, proc

    def exitcode(self):
        if isinstance(self._proc, subprocess.Popen):
            return self._proc.poll()
        return self._proc.exitcode

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for the worker to exit; True if it did."""
        if isinstance(self._proc, subprocess.Popen):
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        self._proc.join(timeout)
        return self._proc.exitcode is not None

    def kill(self) -> None:
        """SIGKILL the worker's process group (threads, child processes and all), then reap it."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError, OSError):
            pass
        try:
            self._proc.kill()
        except (ProcessLookupError, OSError, ValueError):
            pass
        self.wait(10)

    def close(self) -> None:
        if self.exitcode() is None:
            self.kill()
        else:
            self.wait(1)
        self.conn.close()
        if not isinstance(self._proc, subprocess.Popen):
            try:
                self._proc.close()
            except ValueError:
                pass


def start(job: dict, repo, env_extra: dict, preferred: str | None = None, preload=None) -> Worker:
    """Start a worker for ``job`` (see ``molpractice.grading_worker._child``); stdout/stderr go to ``job["log"]``.

    ``preload``: modules the worker will need (see :func:`modules_for`); the forkserver is started (or
    restarted) with them.
    """
    if worker_kind(preferred) == "forkserver":
        ctx = _context(preload)
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_forkserver_entry, args=(job, env_extra, send), daemon=False)
        with _without_main_module():
            proc.start()
        send.close()
        return Worker(recv, proc.pid, proc)
    read_fd, write_fd = os.pipe()
    env = dict(os.environ, **env_extra)
    env["PYTHONPATH"] = os.pathsep.join([str(repo)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                                                       if p])
    import json

    with open(job["log"], "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", "import json,sys; from molpractice.grading_worker import _child_from_fd; "
                                   "_child_from_fd(json.loads(sys.argv[1]), int(sys.argv[2]))",
             json.dumps(job), str(write_fd)],
            pass_fds=(write_fd,), stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=str(repo), env=env,
            start_new_session=True)
    os.close(write_fd)
    return Worker(Connection(read_fd, writable=False), proc.pid, proc)


@contextlib.contextmanager
def _without_main_module():
    """Workers must not re-run the parent's ``__main__`` (a script, a notebook kernel, ``<stdin>``)."""
    from multiprocessing import spawn

    original = spawn.get_preparation_data

    def preparation_data(name):
        data = original(name)
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
        return data

    spawn.get_preparation_data = preparation_data
    try:
        yield
    finally:
        spawn.get_preparation_data = original


def _forkserver_entry(job, env_extra, conn):
    os.setpgrp()  # own process group: killing it also ends anything the learner's code started
    os.environ.update(env_extra)
    from molpractice.grading_worker import _child

    _child(job, conn)
