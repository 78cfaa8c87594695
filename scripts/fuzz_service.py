#!/usr/bin/env python
"""Hostile requests against a real server: thousands of generated requests across every route (the strategies of
``tests/hostile.py``), then a real frame, which must be answered as before the run.

    python scripts/fuzz_service.py [--requests 10000] [--url http://127.0.0.1:5000] [--seed 0]

Without ``--url`` a gunicorn server (one worker, the embedded default) is started on a free loopback port and
stopped afterwards; ``--url`` must be a loopback address. Prints the statuses, every 5xx and every answer slower
than 30 s or not JSON (each must be 0), the slowest requests, and whether the real frame came back the same.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, Phase, given, seed, settings
from skimage import data

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.hostile, without installing

from benchmark_service import service  # noqa: E402
from tests.hostile import HostileRequest, hostile_requests, is_finite_json  # noqa: E402

HANG_S = 30.0


def send(url: str, request: HostileRequest) -> tuple[int, bytes, float, str]:
    """(status, body, seconds, content type); status 0 when the connection failed or timed out."""
    headers = {} if request.content_type is None else {"Content-Type": request.content_type}
    req = urllib.request.Request(url + request.path, data=request.body, method=request.method, headers=headers)
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=HANG_S + 5) as response:
            return response.status, response.read(), time.perf_counter() - started, response.headers.get_content_type()
    except urllib.error.HTTPError as error:
        return error.code, error.read(), time.perf_counter() - started, error.headers.get_content_type()
    except OSError as error:
        return 0, repr(error).encode(), time.perf_counter() - started, ""


def _file_route(path: str) -> bool:
    """Routes whose 200 is not JSON: Prometheus text and export files."""
    route = path.split("?")[0]
    return route == "/metrics" or route.endswith("/export")


def real_frame(url: str, video_id: str) -> np.ndarray:
    import cv2

    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    body = json.dumps({"image_base64": base64.b64encode(buf.tobytes()).decode(), "frame_number": 0,
                       "video_id": video_id}).encode()
    status, answer, _, _ = send(url, HostileRequest("POST", "/pose/hybrid", body, "application/json"))
    assert status == 200, (status, answer[:200])
    send(url, HostileRequest("DELETE", f"/sessions/{video_id}"))
    return np.array([[k["x"], k["y"]] for k in json.loads(answer)["keypoints"]])


def fuzz(url: str, count: int, rng_seed: int) -> dict:
    statuses: Counter = Counter()
    failures: list[str] = []
    slowest: list[tuple[float, str]] = []

    @seed(rng_seed)
    @settings(max_examples=count, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(hostile_requests())
    def one(request: HostileRequest) -> None:
        status, body, seconds, content_type = send(url, request)
        statuses[status] += 1
        slowest.append((seconds, str(request)))
        slowest.sort(reverse=True)
        del slowest[5:]
        problem = None
        if status == 0 or seconds > HANG_S:
            problem = f"no answer in {seconds:.1f} s"
        elif status >= 500:
            problem = f"{status}"
        elif content_type != "application/json" and not (status == 200 and _file_route(request.path)):
            problem = f"{status} {content_type or 'no content type'}"
        elif content_type == "application/json" and not is_finite_json(json.loads(body)):
            problem = "JSON with NaN or infinity"
        if problem:
            failures.append(f"{problem}: {request} -> {body[:200]!r}")
        done = sum(statuses.values())
        if done % 1000 == 0:
            print(f"  {done} requests, {len(failures)} failures", flush=True)

    one()
    return {"statuses": statuses, "failures": failures, "slowest": slowest}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--url", help="a running service on loopback (default: start one)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.url and urllib.parse.urlsplit(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("--url must be a loopback address: this script is for your own server")
    with service(args.url, spawn=args.url is None) as url:
        before = real_frame(url, "fuzz-reference-before")
        started = time.perf_counter()
        result = fuzz(url, args.requests, args.seed)
        elapsed = time.perf_counter() - started
        after = real_frame(url, "fuzz-reference-after")
    total = sum(result["statuses"].values())
    print(f"\n{total} requests in {elapsed:.0f} s; statuses: "
          + ", ".join(f"{s}: {n}" for s, n in sorted(result["statuses"].items())))
    print(f"5xx: {sum(n for s, n in result['statuses'].items() if s >= 500)}   "
          f"no answer within {HANG_S:.0f} s: {result['statuses'].get(0, 0)}   failures: {len(result['failures'])}")
    for line in result["failures"][:20]:
        print("  " + line)
    print("slowest: " + "; ".join(f"{s:.2f} s {r}" for s, r in result["slowest"]))
    same = bool(np.allclose(before, after, atol=1e-6))
    print(f"real frame afterwards: {'the same keypoints as before' if same else 'DIFFERENT from before'} "
          f"(max |diff| {np.abs(after - before).max():.2e} px)")
    sys.exit(0 if same and not result["failures"] else 1)


if __name__ == "__main__":
    main()
