"""Smoke test of ``bash scripts/env.sh lab``: the real Jupyter server, headless, rooted at the repository.

The server is started the way the README says (with the extra arguments a remote machine or a workshop VM
passes: ``--port``, ``--no-browser``, ``--ip``), on a free port, in its own process group. The test asks its
contents API for the root listing (``exercises/``, ``solutions/`` and ``notebooks/`` must be there: a learner
edits ``exercises/`` from Lab), checks that ``/`` leads to the start notebook and that the notebook opens, then
shuts the server down through its API and makes sure no process of the group is left, whatever happened.
"""
from __future__ import annotations

import json
import shutil
import sys
import urllib.parse
from pathlib import Path

import pytest
from labserver import get, start_lab, stop

REPO = Path(__file__).resolve().parents[1]
START = "notebooks/00_start_here.ipynb"


@pytest.mark.skipif(sys.platform == "win32" or shutil.which("bash") is None,
                    reason="needs bash and POSIX process groups")
@pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="runs scripts/env.sh with this virtual environment; "
                                                          "this Python is not one")
def test_lab_serves_the_repository_and_opens_the_start_notebook(tmp_path):
    token = "molpractice-smoke-test"
    # exactly the README's command, with the arguments a remote machine passes (space-separated, as a user types)
    proc, base, log = start_lab(REPO, tmp_path, token)
    clean = False
    try:
        code, _, body = get(f"{base}/api/contents", token)
        assert code == 200, body[:500]
        root = {item["name"]: item["type"] for item in json.loads(body)["content"]}
        for folder in ("exercises", "solutions", "notebooks"):
            assert root.get(folder) == "directory", f"{folder}/ is not in Lab's root listing: {sorted(root)}"

        code, headers, _ = get(f"{base}/", token, follow=False)
        location = urllib.parse.urlsplit(headers.get("Location", "")).path
        assert code in (301, 302, 303, 307) and location.endswith(f"/lab/tree/{START}"), (code, location)
        code, _, page = get(f"{base}/lab/tree/{START}", token)
        assert code == 200 and b"JupyterLab" in page

        code, _, body = get(f"{base}/api/contents/{START}?content=1", token)
        assert code == 200, body[:500]
        notebook = json.loads(body)
        assert notebook["type"] == "notebook" and notebook["path"] == START
        assert notebook["content"]["cells"], "the start notebook opened empty"
    finally:
        clean = stop(proc, base, token)
    assert clean, "a process of the server's group was still running after shutdown"
    assert proc.returncode is not None
