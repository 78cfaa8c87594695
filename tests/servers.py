"""The service as users run it: gunicorn processes on free loopback ports, and plain HTTP calls to them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[1]


class Reply(NamedTuple):
    status: int
    body: Any
    worker: str
    """The ``X-Pose-Worker`` header: the pid of the worker process that answered."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url: str, body: bytes | None = None, content_type: str = "application/json", method: str | None = None,
         timeout: float = 120) -> Reply:
    """One request on a new connection (so that a server with several workers may give it to any of them)."""
    request = urllib.request.Request(url, data=body, method=method,
                                     headers={"Content-Type": content_type} if body else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Reply(response.status, json.loads(response.read()), response.headers.get("X-Pose-Worker", ""))
    except urllib.error.HTTPError as error:
        return Reply(error.code, json.loads(error.read()), error.headers.get("X-Pose-Worker", ""))


def start_gunicorn(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """gunicorn with the project's config and ``env`` on top of this process's environment, on a free port:
    (process, base URL). Output goes to the process's stdout pipe."""
    port = free_port()
    env = os.environ | {"POSE_HOST": "127.0.0.1", "POSE_PORT": str(port)} | env
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    return process, f"http://127.0.0.1:{port}"


def wait_ready(process: subprocess.Popen, base: str, workers: int = 1, timeout: float = 300) -> list[str]:
    """Poll ``/health`` until ``workers`` different workers have said "ready"; the statuses seen, in order."""
    statuses, ready = [], set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "gunicorn exited:\n" + process.stdout.read()
        try:
            reply = call(base + "/health", timeout=10)
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.02)
            continue  # not listening yet
        statuses.append(reply.body["status"])
        if reply.body["status"] == "ready":
            ready.add(reply.worker)
            if len(ready) >= workers:
                return statuses
        time.sleep(0.02)
    raise AssertionError(f"{len(ready)} of {workers} workers ready after {timeout} s")
