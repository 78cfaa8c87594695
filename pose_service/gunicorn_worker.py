"""The gunicorn worker the service runs (``gunicorn.conf.py``): gunicorn's threaded worker, except that no idle or
slow client can hold one of its threads while sending a request head, and that gunicorn's own error answers are
JSON like the application's.

Why: gunicorn's ``gthread`` worker hands a connection to a thread as soon as its first byte arrives, and the thread
then blocks reading the rest of the head with no time limit: ``POSE_THREADS`` clients that send half a head and stop
(slowloris) hold every thread, and nothing answers, ``/health`` included, while they stay. More threads, or a
deadline on the thread's read, only raise the number of such clients needed or make them reconnect. Here the event
loop reads the head, without blocking, into the connection's parser buffer, and a thread only ever gets a complete
head: an idle or slow head costs a socket and at most ``MAX_HEAD_BYTES``, never a thread, and is closed
``client_timeout_s`` after its connection (or, kept alive, its next request) began. Bodies are read by the thread,
each read waiting at most ``client_timeout_s`` (like nginx's ``client_body_timeout``); a client that trickles its
body within that still holds a thread while it lasts, which a request-buffering proxy in front removes (README).

Weighed and not taken: gevent or eventlet workers (monkey-patching the process the models' native threads run in);
waitress, which buffers whole requests but is one process, without gunicorn's per-worker models and supervision.
Plain HTTP only: TLS belongs to the proxy in front.
"""

from __future__ import annotations

import errno
import json
import selectors
import socket
import time
from functools import partial
from http import HTTPStatus
from typing import Any, Optional

from gunicorn import http, util
from gunicorn.http.errors import (ConfigurationProblem, ForbiddenProxyRequest, LimitRequestHeaders, LimitRequestLine,
                                  ParseException, UnsupportedTransferCoding)
from gunicorn.workers.gthread import TConn, ThreadWorker

MAX_HEAD_BYTES = 64 * 1024
"""Longest request head (request line and headers) buffered before a 414 or 431; nginx's default allows 32 KiB."""

# gunicorn's errors as (status, code) of the service's JSON errors; the first class that matches wins.
_ERRORS: tuple[tuple[type[Exception], int, str], ...] = (
    (LimitRequestLine, 414, "uri_too_long"),
    (LimitRequestHeaders, 431, "headers_too_large"),
    (ForbiddenProxyRequest, 403, "forbidden"),
    (UnsupportedTransferCoding, 501, "unsupported_transfer_coding"),
    (ConfigurationProblem, 500, "internal_error"),
    (ParseException, 400, "bad_request"),
)


def _buffered(conn: TConn) -> bytes:
    """What has been received on ``conn`` and not parsed yet."""
    return conn.parser.unreader.buf.getvalue()


def _head_complete(conn: TConn) -> bool:
    return b"\r\n\r\n" in _buffered(conn)


class PoseWorker(ThreadWorker):
    client_timeout_s: float
    """Seconds a client has to send a request head, and that each read of a body waits; ``gunicorn.conf.py`` sets it
    from ``POSE_CLIENT_TIMEOUT_S``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._heads: dict[TConn, float] = {}  # connections whose request head is being read -> their deadline

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        super().check_config(cfg, log)
        if cfg.is_ssl or not getattr(cls, "client_timeout_s", 0) > 0:
            raise ConfigurationProblem("PoseWorker serves plain HTTP (TLS belongs to the proxy in front) and needs "
                                       "client_timeout_s > 0")

    def accept(self, server: Any, listener: socket.socket) -> None:
        try:
            sock, client = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        conn = TConn(self.cfg, sock, client, server)
        conn.parser = http.RequestParser(self.cfg, conn.sock, client)  # its buffer collects the head
        self.nr_conns += 1
        self._heads[conn] = time.monotonic() + self.client_timeout_s
        with self._lock:
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_client_socket_readable, conn))

    def on_client_socket_readable(self, conn: TConn, client: socket.socket) -> None:
        if conn not in self._heads:  # a kept-alive connection's next request begins
            with self._lock:
                try:
                    self._keep.remove(conn)
                except ValueError:
                    return  # closed by murder_keepalived meanwhile
            self._heads[conn] = time.monotonic() + self.client_timeout_s
        try:
            data = conn.sock.recv(MAX_HEAD_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop_head(conn)
            return
        buffer = conn.parser.unreader.buf
        conn.parser.unreader.unread(data)
        size = buffer.tell()  # (unread leaves it at the end)
        with buffer.getbuffer() as view:  # the new bytes and three before: a trickled head is not scanned per byte
            complete = b"\r\n\r\n" in bytes(view[max(0, size - len(data) - 3):])
        if complete:
            del self._heads[conn]
            with self._lock:
                self.poller.unregister(conn.sock)
            self._wrap_future(self.tpool.submit(self.handle, conn), conn)
        elif size > MAX_HEAD_BYTES:
            too_long = (LimitRequestLine(size, MAX_HEAD_BYTES) if b"\r\n" not in _buffered(conn)
                        else LimitRequestHeaders(f"request head over {MAX_HEAD_BYTES} bytes"))
            self.handle_error(None, conn.sock, conn.client, too_long)
            self._drop_head(conn)

    def murder_keepalived(self) -> None:
        super().murder_keepalived()
        now = time.monotonic()
        for conn in [conn for conn, deadline in self._heads.items() if deadline < now]:
            self._drop_head(conn)

    def _drop_head(self, conn: TConn) -> None:
        del self._heads[conn]
        with self._lock:
            self.poller.unregister(conn.sock)
        self.nr_conns -= 1
        conn.close()

    def handle(self, conn: TConn) -> tuple[bool, TConn]:
        while True:
            conn.sock.settimeout(self.client_timeout_s)  # (gunicorn's own threads read without a time limit)
            keepalive, conn = super().handle(conn)
            keepalive = keepalive and self._discard_body(conn)
            # A next request that came with this one's body is buffered already: no event would wake the loop for it.
            if not (keepalive and _head_complete(conn)):
                return keepalive, conn

    def _discard_body(self, conn: TConn) -> bool:
        """Read what the application left of the request's body (a 413 leaves it all), for at most client_timeout_s,
        so that the event loop reads the next request's head, not the rest of this body: whether the body ended.
        (gunicorn would read it when the next request came, in a thread, for as long as the client sent it.)"""
        deadline = time.monotonic() + self.client_timeout_s
        try:
            while (remaining := deadline - time.monotonic()) > 0:
                conn.sock.settimeout(remaining)
                if not conn.parser.mesg.body.read(65536):
                    return True
        except (OSError, ParseException):  # timed out, reset, or a malformed chunk
            pass
        return False

    def handle_error(self, req: Optional[http.Request], client: socket.socket, addr: Any, exc: Exception) -> None:
        """gunicorn's own error answers (a request it cannot parse, or a failure outside the application) as the
        service's JSON errors."""
        status, code = next(((status, code) for cls, status, code in _ERRORS if isinstance(exc, cls)),
                            (500, "internal_error"))
        if status < 500:
            self.log.warning("Invalid request from ip=%s: %s", addr[0] if addr else "", exc)
            message = str(exc)
        else:
            self.log.exception("Error handling request")
            message = f"internal error: {type(exc).__name__}"
        body = json.dumps({"error": message, "code": code}).encode()
        head = (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nConnection: close\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
        try:
            util.write_nonblock(client, head.encode("latin-1") + body)
        except OSError:
            self.log.debug("Failed to send error message.")
