"""Fetch and unpack upstream's ``hmr2_data.tar.gz`` (checkpoint, config, SMPL mean parameters, J19 regressor).

Upstream only checks that the archive file exists, so a truncated download goes unnoticed until loading fails
(4D-Humans issues #119, #140). Here the download resumes from a ``.part`` file with HTTP ranges, its size is checked
against the server's, and the archive is listed in full (which reads every member header, so truncation shows)
and must hold the checkpoint before anything is unpacked. Members are extracted with tarfile's ``data`` filter,
which refuses absolute paths, ``..`` and links out of the folder.
"""

from __future__ import annotations

import http.client
import logging
import tarfile
import time
import urllib.request
from pathlib import Path

from .checkpoint import CHECKPOINT_RELPATH

log = logging.getLogger(__name__)

# The current upstream location first (hmr2/models/__init__.py download_models()), then the original host.
ARCHIVE_URLS = (
    "https://www.cs.utexas.edu/~pavlakos/4dhumans/hmr2_data.tar.gz",
    "https://people.eecs.berkeley.edu/~jathushan/projects/4dhumans/hmr2_data.tar.gz",
)
ARCHIVE_NAME = "hmr2_data.tar.gz"
REQUIRED_MEMBERS = (str(CHECKPOINT_RELPATH),)
_CHUNK = 4 * 1024 * 1024


class ArchiveError(RuntimeError):
    """The archive is incomplete, unreadable or lacks a required file."""


def remote_size(url: str, timeout: float = 60) -> int | None:
    """The server's Content-Length for ``url``, or None when it does not say."""
    request = urllib.request.Request(url, method="HEAD")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
    return int(length) if length else None


def download(url: str, dest: Path, timeout: float = 60) -> Path:
    """Download ``url`` to ``dest``, resuming a previous ``dest.part``; the size must match the server's."""
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    expected = remote_size(url, timeout)
    have = part.stat().st_size if part.exists() else 0
    if expected is not None and have > expected:
        part.unlink()  # a different file than the server's now: start again
        have = 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        resumed = have and response.status == 206
        mode = "ab" if resumed else "wb"
        done = have if resumed else 0
        log.info("[SETUP] %s %s from %s (%s bytes)", "resuming" if resumed else "downloading", dest.name, url,
                 expected if expected is not None else "unknown")
        last_report = time.monotonic()
        with part.open(mode) as out:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                done += len(chunk)
                if time.monotonic() - last_report > 5:
                    last_report = time.monotonic()
                    share = f" ({100 * done / expected:.0f} %)" if expected else ""
                    log.info("[SETUP] %s: %d bytes%s", dest.name, done, share)
    if expected is not None and done != expected:
        raise ArchiveError(f"{part}: got {done} of {expected} bytes; run again to resume")
    part.replace(dest)
    return dest


def check_archive(path: Path, required: tuple[str, ...] = REQUIRED_MEMBERS) -> list[str]:
    """All member names of the tar archive at ``path`` (any compression); raises :class:`ArchiveError` when it is
    truncated or corrupt or lacks a ``required`` member."""
    try:
        with tarfile.open(path, "r:*") as archive:
            names = [m.name.removeprefix("./") for m in archive]  # iterating reads every header
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ArchiveError(f"{path} is truncated or not a tar archive ({exc}); delete it and download again") from None
    missing = [name for name in required if name not in names]
    if missing:
        raise ArchiveError(f"{path} lacks {', '.join(missing)}")
    return names


def extract(path: Path, dest: Path) -> None:
    with tarfile.open(path, "r:*") as archive:
        archive.extractall(dest, filter="data")


def fetch(cache: Path, urls: tuple[str, ...] = ARCHIVE_URLS) -> Path:
    """Make sure ``cache`` holds the unpacked archive; download (resuming) from the first URL that works."""
    if (cache / CHECKPOINT_RELPATH).is_file():
        log.info("[SETUP] %s already present", cache / CHECKPOINT_RELPATH)
        return cache
    archive = cache / ARCHIVE_NAME
    errors = []
    if not archive.is_file():
        for url in urls:
            try:
                download(url, archive)
                break
            except (OSError, http.client.HTTPException, ArchiveError) as exc:
                errors.append(f"{url}: {exc}")
                log.warning("[SETUP] %s failed: %s", url, exc)
        else:
            raise ArchiveError("could not download " + ARCHIVE_NAME + ":\n  " + "\n  ".join(errors))
    check_archive(archive)
    log.info("[SETUP] unpacking %s into %s", archive, cache)
    extract(archive, cache)
    return cache
