"""HTTP(S) downloads that cannot hang: a limit on connecting, on every wait for data, and on the whole download.

A host that drops packets, or accepts the connection and never answers, would otherwise hold the set-up forever.
Here each connection (TCP, and TLS for https) must be made within ``Timeouts.connect`` seconds, each wait for data
(the response's headers, then every read of its body) ends after ``Timeouts.read`` seconds, and the whole download,
redirects included, after ``Timeouts.total``; every failure is a :class:`DownloadError` that names the host and the
limit that was hit. A download goes to ``<dest>.part`` and resumes from it with an HTTP range request; the size
received must match the server's before the file is renamed to ``dest``. Standard library only.
"""

from __future__ import annotations

import http.client
import logging
import socket
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
_REDIRECT_STATUSES = (301, 302, 303, 307, 308)
_CHUNK = 1 << 20
_PROGRESS_EVERY_S = 5.0


class DownloadError(RuntimeError):
    """The download failed or was given up; the message names the host and why."""


@dataclass(frozen=True)
class Timeouts:
    """Limits in seconds: ``connect`` for making each connection, ``read`` for each wait for data, ``total`` for
    the whole download (a 2.5 GB file at 2 Mbit/s takes under 3 hours)."""

    connect: float = 15.0
    read: float = 60.0
    total: float = 3 * 3600.0


class _Clock:
    """The total limit: every wait is the smaller of its own limit and the time left."""

    def __init__(self, total: float) -> None:
        self.total = total
        self.end = time.monotonic() + total

    def limit(self, seconds: float) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise DownloadError(self.gave_up())
        return min(seconds, left)

    def expired(self) -> bool:
        return time.monotonic() >= self.end

    def gave_up(self) -> str:
        return f"gave up after {self.total:g} s in all (the total time limit)"


class _Reply(NamedTuple):
    connection: http.client.HTTPConnection
    sock: socket.socket  # kept: http.client drops its own reference once a reply says "Connection: close"
    response: http.client.HTTPResponse
    where: str  # "host port N", for messages


def _connect(url: str, timeouts: Timeouts, clock: _Clock) -> tuple[http.client.HTTPConnection, str]:
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise DownloadError(f"{url}: bad port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DownloadError(f"{url}: not an http(s) URL")
    where = f"{parts.hostname} port {port}"
    seconds = clock.limit(timeouts.connect)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = kind(parts.hostname, port, timeout=seconds)  # the port given, so an IPv6 host is not parsed
    try:
        connection.connect()
    except TimeoutError:
        connection.close()
        raise DownloadError(clock.gave_up() if clock.expired() else
                            f"could not connect to {where} within {seconds:g} s (no answer to the connection "
                            f"request: the address is unreachable or the host is down)") from None
    except OSError as exc:  # refused, no route, unknown name, TLS failure
        connection.close()
        raise DownloadError(f"could not connect to {where}: {exc}") from None
    return connection, where


def _request(url: str, offset: int, timeouts: Timeouts, clock: _Clock) -> _Reply:
    """GET ``url`` from byte ``offset`` on, following redirects; the reply's headers have been read."""
    for _ in range(MAX_REDIRECTS + 1):
        connection, where = _connect(url, timeouts, clock)
        sock = connection.sock
        parts = urllib.parse.urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = {"User-Agent": "pose-service-setup"} | ({"Range": f"bytes={offset}-"} if offset else {})
        try:
            seconds = clock.limit(timeouts.read)
            sock.settimeout(seconds)
            connection.request("GET", target, headers=headers)
            response = connection.getresponse()
        except TimeoutError:
            connection.close()
            raise DownloadError(clock.gave_up() if clock.expired() else
                                f"{where} accepted the connection but sent no answer within {seconds:g} s") from None
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise DownloadError(f"{where}: the request failed ({exc!r})") from None
        location = response.getheader("Location")
        if response.status in _REDIRECT_STATUSES and location:
            response.close()
            connection.close()
            url = urllib.parse.urljoin(url, location)
            continue
        return _Reply(connection, sock, response, where)
    raise DownloadError(f"{url}: more than {MAX_REDIRECTS} redirects")


def _full_size(response: http.client.HTTPResponse) -> int | None:
    """The whole file's size as the reply states it: Content-Range's total (206) or Content-Length (200)."""
    if response.status == 206:
        total = (response.getheader("Content-Range") or "").rpartition("/")[2]
        return int(total) if total.isdigit() else None
    length = response.getheader("Content-Length")
    return int(length) if length and length.isdigit() else None


def _close(reply: _Reply) -> None:
    reply.response.close()
    reply.connection.close()


def _receive(reply: _Reply, out: BinaryIO, done: int, size: int | None, timeouts: Timeouts, clock: _Clock) -> int:
    """Append the reply's body to ``out``; the byte count so far (``done`` before)."""
    last_report = time.monotonic()
    while True:
        seconds = clock.limit(timeouts.read)
        reply.sock.settimeout(seconds)
        try:
            chunk = reply.response.read1(_CHUNK)
        except TimeoutError:
            raise DownloadError(clock.gave_up() if clock.expired() else
                                f"{reply.where} sent nothing for {seconds:g} s") from None
        except (OSError, http.client.HTTPException) as exc:
            raise DownloadError(f"{reply.where}: the connection broke ({exc!r})") from None
        if not chunk:
            return done
        out.write(chunk)
        done += len(chunk)
        if time.monotonic() - last_report > _PROGRESS_EVERY_S:
            last_report = time.monotonic()
            log.info("[SETUP] %d bytes%s", done, f" ({100 * done / size:.0f} %)" if size else "")


def download(url: str, dest: Path, timeouts: Timeouts = Timeouts()) -> Path:
    """Download ``url`` to ``dest`` through ``dest.part``, resuming a previous part; raises :class:`DownloadError`
    when a limit is hit, the server refuses, or fewer bytes arrive than it announced (what came is kept in the
    part: run again to resume)."""
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    clock = _Clock(timeouts.total)
    have = part.stat().st_size if part.exists() else 0
    reply = _request(url, have, timeouts, clock)
    if reply.response.status == 416 and have:  # the part is longer than the server's file: start again
        _close(reply)
        part.unlink()
        have = 0
        reply = _request(url, 0, timeouts, clock)
    try:
        if reply.response.status not in (200, 206):
            raise DownloadError(f"{url}: HTTP {reply.response.status} {reply.response.reason}")
        resumed = bool(have) and reply.response.status == 206
        size = _full_size(reply.response)
        log.info("[SETUP] %s %s from %s (%s bytes)", "resuming" if resumed else "downloading", dest.name, url,
                 size if size is not None else "unknown")
        with part.open("ab" if resumed else "wb") as out:
            try:
                done = _receive(reply, out, have if resumed else 0, size, timeouts, clock)
            except DownloadError as exc:
                out.flush()
                raise DownloadError(f"{exc}; {part.stat().st_size} bytes kept in {part}: run again to resume") from None
    finally:
        _close(reply)
    if size is not None and done != size:
        raise DownloadError(f"{url}: got {done} of {size} bytes; run again to resume")
    part.replace(dest)
    return dest
