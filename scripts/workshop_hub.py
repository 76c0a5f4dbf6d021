"""A real JupyterHub for a workshop room, on this machine: for a rehearsal before the day, and for the tests.

    python scripts/workshop_hub.py --learners 5            # runs until Ctrl-C, then tears everything down
    python scripts/workshop_hub.py --learners 5 --port 8000

It starts JupyterHub on 127.0.0.1 (a free port unless ``--port``), with the components a small hub uses:
``configurable-http-proxy`` (npm) as the proxy, the DummyAuthenticator (any password, only the listed
learners), and ``SimpleLocalProcessSpawner``, which starts each learner's single-user Jupyter server from
*this* Python environment (so nbgitpuller and molpractice are the ones installed here) in the learner's own
home, ``<room>/home/jupyter-<name>`` — the layout The Littlest JupyterHub uses (``/home/jupyter-<name>``).
An ``instructor`` service token drives the hub's REST API. Not a production hub: every learner runs as the
user who started it, with no isolation.

Teardown is unconditional (``with Room(...)``, Ctrl-C, an exception): the hub is asked to stop (it stops the
learners' servers and the proxy), its process group is killed, and every process that carries this room's
``MOLPRACTICE_ROOM`` id in its environment — hub, proxy, single-user servers, kernels, grading workers —
is killed too; :meth:`Room.leftovers` lists any that survived (none, or the test fails).

From Python (what ``tests/test_hub.py`` does)::

    with Room(learners=["ada", "bo"]) as room:
        room.start_server("ada")
        room.follow_link("ada", link)        # an nbgitpuller link, as in docs/instructors.md
        room.write_file("ada", "molpractice/exercises/ch00_start_here.py", text)
"""
from __future__ import annotations

import argparse
import html
import http.cookiejar
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOM_ENV = "MOLPRACTICE_ROOM"


def missing_components() -> list[str]:
    """What this machine lacks to run a hub (empty when everything is there)."""
    missing = []
    for module, package in (("jupyterhub", "jupyterhub (PyPI)"), ("nbgitpuller", "nbgitpuller (PyPI)")):
        try:
            __import__(module)
        except ImportError:
            missing.append(package)
    if shutil.which("configurable-http-proxy") is None:
        missing.append("configurable-http-proxy (npm: npm install -g configurable-http-proxy)")
    if shutil.which("git") is None:
        missing.append("git")
    if sys.platform == "win32":
        missing.append("a POSIX system")
    return missing


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports free on 127.0.0.1 now (bound all at once, so no two are the same)."""
    sockets = []
    try:
        for _ in range(n):
            sockets.append(socket.socket())
            sockets[-1].bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def processes_with_env(key: str, value: str) -> list[int]:
    """PIDs of processes whose environment holds ``key=value`` (Linux /proc; empty elsewhere)."""
    needle = f"{key}={value}".encode()
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except (OSError, ValueError):
            continue
    return [pid for pid in found if pid != os.getpid()]


class HubError(RuntimeError):
    """The hub or a learner's server did not do what was asked (the message carries the hub's log tail)."""


class Room:
    """A JupyterHub with learner accounts, on 127.0.0.1; use as a context manager.

    Args:
        learners: hub user names (each gets ``<dir>/home/jupyter-<name>``).
        port: the public port (default: a free one).
        directory: where the hub keeps its database, logs and the homes (default: a new temporary folder,
            removed on exit unless ``keep=True``).
        env: extra environment for the learners' servers (e.g. ``{"MOLPRACTICE_FAST": "1"}``).
    """

    def __init__(self, learners, port: int | None = None, directory=None, env=None, keep: bool = False):
        missing = missing_components()
        if missing:
            raise HubError("cannot start a hub here; missing: " + ", ".join(missing))
        self.learners = list(learners)
        if not self.learners or len(set(self.learners)) != len(self.learners):
            raise ValueError(f"learners must be distinct names, got {self.learners}")
        self._given_port = port
        self._pick_ports(port)
        self._own_dir = directory is None
        self.dir = Path(directory or tempfile.mkdtemp(prefix="molpractice-room-")).resolve()
        self.keep = keep
        self.homes = self.dir / "home"
        self.room_id = secrets.token_hex(8)
        self.api_token = secrets.token_hex(24)
        self.extra_env = dict(env or {})
        self.proc = None
        self._tokens: dict[str, str] = {}
        self._browsers: dict = {}
        self.log_path = self.dir / "jupyterhub.log"

    # ------------------------------------------------------------------------------------ lifecycle
    def _pick_ports(self, port: int | None = None) -> None:
        """The public port (``port``, else a free one), the hub's internal port and the proxy's API port."""
        ports = free_ports(3)
        if port is not None:
            ports = [port] + [p for p in ports if p != port][:2]
        self.port, self._hub_port, self._proxy_api_port = ports[:3]
        self.url = f"http://127.0.0.1:{self.port}"

    def home(self, learner: str) -> Path:
        return self.homes / f"jupyter-{learner}"

    def _config(self) -> str:
        bin_dir = Path(sys.executable).parent
        singleuser = bin_dir / "jupyterhub-singleuser"
        env = {ROOM_ENV: self.room_id, "MOLPRACTICE_THREADS": "1", "MPLBACKEND": "Agg", **self.extra_env}
        args = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
        return "\n".join([
            "c = get_config()  # noqa",
            f"c.JupyterHub.bind_url = 'http://127.0.0.1:{self.port}'",
            f"c.JupyterHub.hub_bind_url = 'http://127.0.0.1:{self._hub_port}'",
            f"c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{self._proxy_api_port}'",
            f"c.ConfigurableHTTPProxy.command = [{shutil.which('configurable-http-proxy')!r}]",
            f"c.JupyterHub.db_url = 'sqlite:///{self.dir / 'jupyterhub.sqlite'}'",
            f"c.JupyterHub.cookie_secret_file = {str(self.dir / 'cookie_secret')!r}",
            f"c.JupyterHub.pid_file = {str(self.dir / 'jupyterhub.pid')!r}",
            "c.JupyterHub.authenticator_class = 'dummy'",
            f"c.Authenticator.allowed_users = set({self.learners!r})",
            "c.JupyterHub.spawner_class = 'simple'",
            f"c.SimpleLocalProcessSpawner.home_dir_template = {str(self.homes / 'jupyter-{username}')!r}",
            f"c.Spawner.cmd = [{str(singleuser)!r}]",
            f"c.Spawner.args = {args!r}",
            f"c.Spawner.environment = {env!r}",
            "c.Spawner.env_keep = ['PATH', 'LANG', 'LC_ALL', 'VIRTUAL_ENV', 'MOLPRACTICE_CACHE']",
            "c.Spawner.default_url = '/lab'",
            "c.Spawner.start_timeout = 180",
            "c.Spawner.http_timeout = 180",
            "c.JupyterHub.cleanup_servers = True",
            f"c.JupyterHub.services = [{{'name': 'instructor', 'api_token': {self.api_token!r}}}]",
            "c.JupyterHub.load_roles = [{'name': 'instructor', 'services': ['instructor'], 'scopes': "
            "['admin:users', 'admin:servers', 'tokens', 'access:servers', 'list:users', 'read:users']}]",
        ]) + "\n"

    def start(self, timeout: float = 120, attempts: int = 3) -> "Room":
        """Start the hub and create the learners' accounts (their servers start with :meth:`start_server`).

        Ports chosen here are free when chosen, but another process (a test running next to this one) may take
        one before the hub or its proxy binds it: then the hub exits saying the address is in use, and it is
        started again on new ports (up to ``attempts`` times; a ``port`` the caller gave is kept)."""
        for attempt in range(attempts):
            try:
                return self._start(timeout)
            except HubError as err:
                in_use = re.search(r"address already in use|EADDRINUSE|Errno 98", str(err), re.I)
                if not (in_use and attempt + 1 < attempts):
                    raise
                self.stop_processes()
                self._pick_ports(self._given_port)
        raise AssertionError("unreachable")

    def _start(self, timeout: float) -> "Room":
        self.homes.mkdir(parents=True, exist_ok=True)
        (self.dir / "jupyterhub_config.py").write_text(self._config())
        env = dict(os.environ, **{ROOM_ENV: self.room_id})
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen([str(Path(sys.executable).parent / "jupyterhub"), "-f", "jupyterhub_config.py"],
                                     cwd=self.dir, env=env, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise HubError(f"the hub exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if self.api("GET", "/")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise HubError(f"the hub did not answer within {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.5)
        code, body = self.api("POST", "/users", {"usernames": self.learners})
        if code not in (201, 409):
            raise HubError(f"creating the learners failed ({code}): {body}")
        return self

    def stop(self) -> list[int]:
        """Stop everything this room started; returns the PIDs that had to be killed after the hub's own cleanup."""
        killed = self.stop_processes()
        if self._own_dir and not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        return killed

    def stop_processes(self) -> list[int]:
        """:meth:`stop` without removing the room's folder."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the hub stops the learners' servers and the proxy
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
        if self.proc is not None:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(self.proc.pid, sig)
                except (ProcessLookupError, PermissionError):
                    break
                time.sleep(0.5)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        killed = []
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = processes_with_env(ROOM_ENV, self.room_id)
            for pid in pids:
                try:
                    os.kill(pid, sig)
                    killed.append(pid)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 10
            while pids and processes_with_env(ROOM_ENV, self.room_id) and time.monotonic() < deadline:
                time.sleep(0.2)
        if getattr(self, "_log", None):
            self._log.close()
        return sorted(set(killed))

    def leftovers(self) -> list[int]:
        """Processes of this room still alive (should be none after :meth:`stop`)."""
        return processes_with_env(ROOM_ENV, self.room_id)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()
        return False

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    # ------------------------------------------------------------------------------------ HTTP
    def _request(self, method, url, token, body=None, follow=True, timeout=60):
        data = json.dumps(body).encode() if body is not None else (b"" if method in ("POST", "PUT") else None)
        request = urllib.request.Request(url, data=data, method=method,
                                         headers={"Authorization": f"token {token}",
                                                  "Content-Type": "application/json"})
        handlers = [] if follow else [_NoRedirect()]
        try:
            with urllib.request.build_opener(*handlers).open(request, timeout=timeout) as response:
                return response.status, response.read(), response.geturl()
        except urllib.error.HTTPError as err:
            return err.code, err.read(), err.headers.get("Location", url)

    def api(self, method: str, path: str, body=None):
        """Call the hub's REST API as the instructor: ``(status, decoded JSON or text)``."""
        code, raw, _ = self._request(method, f"{self.url}/hub/api{path}", self.api_token, body)
        try:
            return code, json.loads(raw) if raw else None
        except ValueError:
            return code, raw.decode(errors="replace")

    def token(self, learner: str) -> str:
        """An API token of ``learner`` (created once, through the hub's API)."""
        if learner not in self._tokens:
            code, body = self.api("POST", f"/users/{learner}/tokens", {"note": "workshop test", "expires_in": 7200})
            if code not in (200, 201):
                raise HubError(f"no token for {learner} ({code}): {body}")
            self._tokens[learner] = body["token"]
        return self._tokens[learner]

    def start_server(self, learner: str, timeout: float = 240) -> None:
        """Start ``learner``'s single-user server and wait until it is ready."""
        code, body = self.api("POST", f"/users/{learner}/server")
        if code not in (201, 202, 400):  # 400: already running
            raise HubError(f"starting {learner}'s server failed ({code}): {body}\n{self.log_tail()}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code, user = self.api("GET", f"/users/{learner}")
            server = (user or {}).get("servers", {}).get("", {}) if code == 200 else {}
            if server.get("ready"):
                return
            time.sleep(0.25)
        raise HubError(f"{learner}'s server was not ready within {timeout:.0f} s:\n{self.log_tail()}")

    def start_servers(self, learners, timeout: float = 240) -> None:
        """Start the servers of ``learners`` at the same time (as a room does when everyone opens the hub at
        once) and wait until every one is ready; the first failure is raised."""
        self._each(lambda learner: self.start_server(learner, timeout), learners)

    def follow_links(self, learners, link: str, timeout: float = 300) -> dict[str, list[str]]:
        """:meth:`follow_link` for every learner in ``learners`` at the same time; ``{learner: output lines}``."""
        learners = list(learners)
        return dict(zip(learners, self._each(lambda learner: self.follow_link(learner, link, timeout), learners)))

    @staticmethod
    def _each(task, learners) -> list:
        """``task(learner)`` for every learner, in threads (each waits on the hub or a server, not on the CPU)."""
        from concurrent.futures import ThreadPoolExecutor

        learners = list(learners)
        with ThreadPoolExecutor(max_workers=max(1, len(learners))) as pool:
            return list(pool.map(task, learners))

    def browser(self, learner: str):
        """A cookie-keeping HTTP client logged in to the hub as ``learner`` (the hub's login form: HTML pages
        and the OAuth hand-over to the learner's server take cookies, not API tokens)."""
        if learner not in self._browsers:
            jar = http.cookiejar.CookieJar()
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
            with opener.open(f"{self.url}/hub/login", timeout=60) as response:
                form = response.read().decode(errors="replace")
            xsrf = re.search(r'name="_xsrf"\s+value="([^"]+)"', form)
            data = {"username": learner, "password": "workshop"}
            if xsrf:
                data["_xsrf"] = html.unescape(xsrf.group(1))
            with opener.open(f"{self.url}/hub/login", data=urllib.parse.urlencode(data).encode(),
                             timeout=60) as response:
                response.read()
            if not any(c.name.startswith("jupyterhub-session") for c in jar):
                raise HubError(f"logging in as {learner} failed:\n{self.log_tail()}")
            self._browsers[learner] = opener
        return self._browsers[learner]

    def user_get(self, learner: str, path: str, follow: bool = True):
        """GET ``/user/<learner>/<path>`` (or a hub path starting with ``/hub/``) with the learner's token:
        ``(status, body bytes, final URL or Location)``."""
        url = f"{self.url}{path}" if path.startswith("/") else f"{self.url}/user/{learner}/{path}"
        return self._request("GET", url, self.token(learner), follow=follow)

    def follow_link(self, learner: str, link: str, timeout: float = 300) -> list[str]:
        """Do what a learner's browser does with an nbgitpuller link: follow it (hub → the learner's server →
        nbgitpuller's page), then run the pull that page starts (its event stream) to the end.
        Returns the pull's output lines; raises HubError if the page or the pull failed."""
        browser = self.browser(learner)
        try:
            with browser.open(link, timeout=60) as response:
                code, page, final = response.status, response.read(), response.geturl()
        except urllib.error.HTTPError as err:
            code, page, final = err.code, err.read(), link
        if code != 200 or b"nbgitpuller" not in page.lower():
            raise HubError(f"the link did not lead to nbgitpuller's page for {learner}: {code} {final}\n"
                           f"{page[:500]!r}")
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(final).query)
        api = urllib.parse.urlencode({k: v[0] for k, v in query.items() if k in ("repo", "branch", "targetpath", "depth")})
        lines, phase = [], None
        with browser.open(f"{self.url}/user/{learner}/git-pull/api?{api}", timeout=timeout) as stream:
            for raw in stream:
                raw = raw.decode(errors="replace").strip()
                if not raw.startswith("data:"):
                    continue
                event = json.loads(raw[5:])
                phase = event.get("phase")
                if event.get("output"):
                    lines.append(str(event["output"]).rstrip())
                if phase == "error":
                    raise HubError(f"nbgitpuller failed for {learner}: {event.get('message')}\n"
                                   + "\n".join(lines[-20:]))
                if phase == "finished":
                    break
        if phase != "finished":
            raise HubError(f"nbgitpuller's stream ended without finishing for {learner}: " + "\n".join(lines[-20:]))
        return lines

    def read_file(self, learner: str, path: str) -> str:
        """A file in the learner's home, through their server's contents API."""
        code, body, _ = self.user_get(learner, f"api/contents/{urllib.parse.quote(path)}?type=file&format=text")
        if code != 200:
            raise HubError(f"reading {path} as {learner} failed ({code}): {body[:300]!r}")
        return json.loads(body)["content"]

    def delete_file(self, learner: str, path: str) -> None:
        """Delete a file in the learner's home through their server's contents API (Lab's file browser)."""
        url = f"{self.url}/user/{learner}/api/contents/{urllib.parse.quote(path)}"
        code, body, _ = self._request("DELETE", url, self.token(learner))
        if code != 204:
            raise HubError(f"deleting {path} as {learner} failed ({code}): {body[:300]!r}")

    def write_file(self, learner: str, path: str, text: str) -> None:
        """Save a file in the learner's home through their server's contents API (what Lab's editor does)."""
        url = f"{self.url}/user/{learner}/api/contents/{urllib.parse.quote(path)}"
        code, body, _ = self._request("PUT", url, self.token(learner),
                                      {"type": "file", "format": "text", "content": text})
        if code not in (200, 201):
            raise HubError(f"saving {path} as {learner} failed ({code}): {body[:300]!r}")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", type=int, default=5, help="number of learner accounts (learner1, learner2, …)")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--dir", default=None, help="keep the hub's files and the homes here")
    args = parser.parse_args(argv)
    names = [f"learner{i + 1}" for i in range(args.learners)]
    try:
        room = Room(names, port=args.port, directory=args.dir, keep=bool(args.dir))
    except HubError as err:
        print(f"workshop_hub: {err}", file=sys.stderr)
        return 2
    with room:
        print(f"hub: {room.url}  (log: {room.log_path})")
        print(f"learners: {', '.join(names)} — log in with any password")
        print(f"instructor API token: {room.api_token}")
        print("Ctrl-C stops the hub and every learner's server.")
        try:
            while room.proc.poll() is None:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    print(f"stopped; processes left: {room.leftovers() or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
