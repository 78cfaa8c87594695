"""Clients a real gunicorn meets on an open network: idle and slow ones, stalled bodies, over-long heads, chunked
bodies (pose_service/gunicorn_worker.py, pose_service/api/context.py)."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from urllib.parse import urlsplit

import pytest

from servers import call, start_gunicorn, wait_ready

CLIENT_TIMEOUT_S = 3
MAX_BODY_BYTES = 1_000_000


@pytest.fixture(scope="module")
def server():
    """One worker with POSE_THREADS=4 (the default); keypoints only, so that frames are quick."""
    process, base = start_gunicorn({"POSE_WORKERS": "1", "POSE_BODY_MODEL": "none",
                                    "POSE_CLIENT_TIMEOUT_S": str(CLIENT_TIMEOUT_S),
                                    "POSE_MAX_BODY_BYTES": str(MAX_BODY_BYTES)})
    wait_ready(process, base)
    yield base
    process.terminate()
    process.communicate(timeout=60)


def connect(base: str, timeout: float = 30) -> socket.socket:
    address = urlsplit(base)
    return socket.create_connection((address.hostname, address.port), timeout=timeout)


def answer(sock: socket.socket) -> tuple[int, dict]:
    """The status and JSON body of the response on ``sock``."""
    response = http.client.HTTPResponse(sock)
    response.begin()
    assert response.getheader("Content-Type") == "application/json"
    return response.status, json.loads(response.read())


def raw(base: str, data: bytes) -> tuple[int, dict]:
    with connect(base) as sock:
        sock.sendall(data)
        return answer(sock)


def closed_by_server(sock: socket.socket, within_s: float) -> bool:
    sock.settimeout(within_s)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_idle_and_slow_clients_hold_no_thread(server, astronaut_b64):
    """16 idle connections, 4 that stop halfway through their head and 4 that send it a byte at a time, against 4
    threads: /health and frames are served meanwhile, and every one of them is closed after the client timeout."""
    attached = time.monotonic()
    idle = [connect(server) for _ in range(16)]
    stalled = [connect(server) for _ in range(4)]
    for sock in stalled:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
    trickling = [connect(server) for _ in range(4)]
    stop = threading.Event()

    def trickle(sock: socket.socket) -> None:
        for byte in b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                return  # closed by the server
            if stop.wait(0.3):
                return

    threads = [threading.Thread(target=trickle, args=(sock,), daemon=True) for sock in trickling]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        latencies = []
        for _ in range(20):
            started = time.monotonic()
            assert call(server + "/health", timeout=2).status == 200
            latencies.append(time.monotonic() - started)
        assert time.monotonic() - attached < CLIENT_TIMEOUT_S, "the slow clients were gone before /health was asked"
        assert max(latencies) < 1.0, latencies

        frame = json.dumps({"image_base64": astronaut_b64, "frame_number": 0}).encode()
        status, body, _ = call(server + "/pose/hybrid", frame)
        assert status == 200 and len(body["people"]) == 1

        for sock in idle + stalled + trickling:
            assert closed_by_server(sock, within_s=max(0.1, attached + CLIENT_TIMEOUT_S + 2 - time.monotonic()))
    finally:
        stop.set()
        for sock in idle + stalled + trickling:
            sock.close()


def test_a_stalled_body_gets_408_after_the_client_timeout(server):
    with connect(server) as sock:
        sock.sendall(b"POST /pose/hybrid HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000000\r\n\r\n{\"image_base64\": \"")
        started = time.monotonic()
        assert answer(sock)[1]["code"] == "request_timeout"
        assert CLIENT_TIMEOUT_S - 0.5 < time.monotonic() - started < CLIENT_TIMEOUT_S + 2
        assert closed_by_server(sock, within_s=CLIENT_TIMEOUT_S + 2)  # its body never ended: not kept alive


@pytest.mark.parametrize("head, status, code", [
    (b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
    (b"GET /" + b"a" * 64 * 1024, 414, "uri_too_long"),  # no end of line within 64 KiB
    (b"GET /health HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(101)) + b"\r\n", 431, "headers_too_large"),
    (b"GET /health HTTP/1.1\r\nX-Long: " + b"a" * 9000 + b"\r\n\r\n", 431, "headers_too_large"),
    (b"GET /health HTTP/1.1\r\n" + b"X-Long: " + b"a" * 65 * 1024, 431, "headers_too_large"),  # no end of head
    (b"GET /health HTTP/9.9\r\n\r\n", 400, "bad_request"),
], ids=["long-url", "unended-url", "101-headers", "long-header", "unended-head", "bad-version"])
def test_heads_gunicorn_refuses_get_json_errors(server, head, status, code):
    reply_status, body = raw(server, head)
    assert (reply_status, body["code"]) == (status, code) and body["error"]


def test_pipelined_requests_are_all_answered(server):
    """Requests sent together arrive in one read: those after the first wake no event loop, and are served anyway."""
    with connect(server, timeout=2) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" * 3)
        received = b""
        while received.count(b"HTTP/1.1 200 OK\r\n") < 3:
            chunk = sock.recv(65536)
            assert chunk, received
            received += chunk


def frame_of_size(astronaut_b64: str, size: int) -> bytes:
    """A frame's JSON padded to ``size`` bytes with a string field, so that any cut of it is not JSON."""
    frame = json.dumps({"image_base64": astronaut_b64, "frame_number": 0, "pad": ""}).encode()
    return frame[:-2] + b"x" * (size - len(frame)) + frame[-2:]


def chunks(body: bytes, size: int = 64 * 1024):
    return (body[i:i + size] for i in range(0, len(body), size))


def test_chunked_bodies_up_to_the_limit_are_served_and_larger_ones_get_413(server, astronaut_b64):
    address = urlsplit(server)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
    headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    for size, status, code in [(MAX_BODY_BYTES, 200, None), (MAX_BODY_BYTES + 1, 413, "payload_too_large")]:
        connection.request("POST", "/pose/hybrid", chunks(frame_of_size(astronaut_b64, size)), headers,
                           encode_chunked=True)
        response = connection.getresponse()
        body = json.loads(response.read())
        assert (response.status, body.get("code")) == (status, code), body
    # The connection is kept alive past the 413, the rest of that body read and dropped.
    connection.request("GET", "/health")
    assert connection.getresponse().status == 200
    connection.close()


def test_a_body_over_the_limit_by_its_length_gets_413_on_a_connection_kept_alive(server):
    address = urlsplit(server)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
    connection.request("POST", "/pose/hybrid", b"x" * 2 * MAX_BODY_BYTES, {"Content-Type": "application/json"})
    response = connection.getresponse()
    assert (response.status, json.loads(response.read())["code"]) == (413, "payload_too_large")
    connection.request("GET", "/health")
    assert connection.getresponse().status == 200
    connection.close()
