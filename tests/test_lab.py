"""Smoke test of ``bash scripts/env.sh lab``: the real Jupyter server, headless, rooted at the repository.

The server is started the way the README says (with the extra arguments a remote machine or a workshop VM
passes: ``--port``, ``--no-browser``, ``--ip``), on a free port, in its own process group. The test asks its
contents API for the root listing (``exercises/``, ``solutions/`` and ``notebooks/`` must be there: a learner
edits ``exercises/`` from Lab), checks that ``/`` leads to the start notebook and that the notebook opens, then
shuts the server down through its API and makes sure no process of the group is left, whatever happened.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
START = "notebooks/00_start_here.ipynb"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _get(url, token, follow=True):
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    opener = urllib.request.build_opener() if follow else urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def _stop(proc, base, token):
    """Ask the server to shut down, then make sure the whole process group is gone."""
    pgid = proc.pid
    if proc.poll() is None:
        try:
            request = urllib.request.Request(f"{base}/api/shutdown", method="POST", data=b"",
                                             headers={"Authorization": f"token {token}"})
            urllib.request.urlopen(request, timeout=10).close()
        except (OSError, urllib.error.URLError):
            pass
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            pass
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not _group_alive(pgid):
            break
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + 10
        while _group_alive(pgid) and time.monotonic() < deadline:
            try:
                proc.wait(0.2)
            except subprocess.TimeoutExpired:
                pass
    if proc.poll() is None:
        proc.wait(5)
    return not _group_alive(pgid)


@pytest.mark.skipif(sys.platform == "win32" or shutil.which("bash") is None,
                    reason="needs bash and POSIX process groups")
@pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="runs scripts/env.sh with this virtual environment; "
                                                          "this Python is not one")
def test_lab_serves_the_repository_and_opens_the_start_notebook(tmp_path):
    port, token = _free_port(), "molpractice-smoke-test"
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, MOLPRACTICE_VENV=sys.prefix, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTER_NO_CONFIG="1", BROWSER="false")
    log = (tmp_path / "lab.log").open("w")
    # exactly the README's command, with the arguments a remote machine passes (space-separated, as a user types)
    proc = subprocess.Popen(["bash", "scripts/env.sh", "lab", "--port", str(port), "--no-browser",
                             "--ip", "127.0.0.1", f"--IdentityProvider.token={token}"],
                            cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    clean = False
    try:
        deadline, status = time.monotonic() + 240, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status = _get(f"{base}/api/status", token)[0]
            except OSError:
                status = None
            if status == 200:
                break
            time.sleep(0.5)
        log_tail = (tmp_path / "lab.log").read_text()[-3000:]
        assert status == 200, f"the server did not come up (exit {proc.poll()}):\n{log_tail}"

        code, _, body = _get(f"{base}/api/contents", token)
        assert code == 200, body[:500]
        root = {item["name"]: item["type"] for item in json.loads(body)["content"]}
        for folder in ("exercises", "solutions", "notebooks"):
            assert root.get(folder) == "directory", f"{folder}/ is not in Lab's root listing: {sorted(root)}"

        code, headers, _ = _get(f"{base}/", token, follow=False)
        location = urllib.parse.urlsplit(headers.get("Location", "")).path
        assert code in (301, 302, 303, 307) and location.endswith(f"/lab/tree/{START}"), (code, location)
        code, _, page = _get(f"{base}/lab/tree/{START}", token)
        assert code == 200 and b"JupyterLab" in page

        code, _, body = _get(f"{base}/api/contents/{START}?content=1", token)
        assert code == 200, body[:500]
        notebook = json.loads(body)
        assert notebook["type"] == "notebook" and notebook["path"] == START
        assert notebook["content"]["cells"], "the start notebook opened empty"
    finally:
        clean = _stop(proc, base, token)
        log.close()
    assert clean, "a process of the server's group was still running after shutdown"
    assert proc.returncode is not None
