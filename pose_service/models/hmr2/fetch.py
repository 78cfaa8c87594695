"""Install HMR 2.0's released weights from a file or a URL the user gives, checked against a SHA-256.

Upstream's links to ``hmr2_data.tar.gz`` (``ARCHIVE.published``) answer 403/404, so nothing is downloaded unless the
user names a source: a local file, or an http(s) URL (fetched with connect, read and total time limits, see
:mod:`.download`). What arrives must have the SHA-256 recorded below for that file (``ARCHIVE.sha256``,
``CHECKPOINT.sha256``: the one place these values live) or the one given with ``--sha256`` (another official
release), else nothing is installed. Upstream publishes no checksum and no official copy could be hashed for this
project, so none is recorded yet: until one is, ``--sha256`` is required, and a local file refused without it has
its digest printed, to compare with the value published where the copy came from.

Either file can be given: 4D-Humans' data archive, listed in full (which reads every member header, so truncation
shows) and unpacked into the cache folder with tarfile's ``data`` filter (which refuses absolute paths, ``..`` and
links out of the folder), or the checkpoint alone (the only file of the archive the service reads). Either way the
checkpoint appears at its place in the cache layout only complete and checked.

Command line: ``python -m pose_service.models.hmr2.fetch --help``. Standard library only, so that
``setup-4d-humans-wsl.sh`` runs it before it installs the service's dependencies. Exit status: 0 installed or already
present, 1 refused or failed, 2 nothing given and nothing present (the message says what to download and where it
goes).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import re
import shutil
import sys
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ...config import ServiceConfig
from .download import DownloadError, Timeouts, download
from .files import CHECKPOINT_RELPATH, HMR2Files

log = logging.getLogger(__name__)

EXIT_NOTHING_GIVEN = 2
_CHUNK = 1 << 20
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_NOT_RECORDED = "not recorded (upstream publishes none); give the one published with your copy as --sha256"


@dataclass(frozen=True)
class ReleaseFile:
    """A file of 4D-Humans' release that provides the HMR 2.0 checkpoint."""

    kind: str  # "archive" or "checkpoint"; its command-line option is --<kind>
    name: str  # the published file name
    contents: str  # what it holds, for the instructions
    published: tuple[str, ...]  # where upstream published it
    sha256: str | None = None  # lowercase hex SHA-256 of the official file; None: not recorded


ARCHIVE = ReleaseFile(
    "archive", "hmr2_data.tar.gz",
    "4D-Humans' data archive: the checkpoint, its model config, the SMPL mean parameters and the J19 regressor",
    ("https://www.cs.utexas.edu/~pavlakos/4dhumans/hmr2_data.tar.gz (named in 4D-Humans' hmr2/models/__init__.py)",
     "https://people.eecs.berkeley.edu/~jathushan/projects/4dhumans/hmr2_data.tar.gz (its first location)"),
)
CHECKPOINT = ReleaseFile(
    "checkpoint", CHECKPOINT_RELPATH.name,
    "the checkpoint alone (PyTorch Lightning), the only file of the archive the service reads",
    (f"inside hmr2_data.tar.gz, as {CHECKPOINT_RELPATH}",),
)


class InstallError(RuntimeError):
    """Nothing was installed: a SHA-256 mismatch, no SHA-256 to compare with, or a missing or bad file."""


class ArchiveError(InstallError):
    """The archive is truncated, unreadable or lacks the checkpoint."""


# --------------------------------------------------------------------------------------------------------------
# Checking


def sha256_of(path: Path) -> str:
    """Lowercase hex SHA-256 of the file at ``path``."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def expected_sha256(release: ReleaseFile, given: str | None) -> str | None:
    """The digest to check ``release`` against: ``given`` (``--sha256``, normalised) or the recorded one."""
    if given is None:
        return release.sha256
    value = given.strip().lower()
    if not _SHA256_HEX.fullmatch(value):
        raise InstallError(f"--sha256 {given!r}: expected 64 hexadecimal digits")
    return value


def check_sha256(path: Path, release: ReleaseFile, expected: str | None, origin: str) -> None:
    """Raise :class:`InstallError` unless the file's SHA-256 is ``expected`` (``origin`` says where that came from);
    with nothing to compare with, the message gives the file's digest."""
    actual = sha256_of(path)
    if expected is None:
        raise InstallError(
            f"{path} has SHA-256 {actual}, but none is recorded for the official {release.name} (upstream publishes "
            f"none), so it cannot be checked and was not installed. If that is the value published where you got "
            f"the file, run again with --sha256 {actual}")
    if actual != expected:
        raise InstallError(
            f"SHA-256 mismatch: {path} has {actual}, but {release.name} should have {expected} ({origin}). It is a "
            f"different, corrupt or incomplete file; nothing was installed")


def check_archive(path: Path) -> list[str]:
    """All member names of the tar archive at ``path`` (any compression); raises :class:`ArchiveError` when it is
    truncated or corrupt or lacks the checkpoint."""
    try:
        with tarfile.open(path, "r:*") as archive:
            names = [_member_name(m) for m in archive]  # iterating reads every header
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ArchiveError(f"{path} is truncated or not a tar archive ({exc})") from None
    if str(CHECKPOINT_RELPATH) not in names:
        raise ArchiveError(f"{path} lacks {CHECKPOINT_RELPATH}")
    return names


def _member_name(member: tarfile.TarInfo) -> str:
    return member.name.removeprefix("./")


# --------------------------------------------------------------------------------------------------------------
# Installing


def extract(path: Path, cache: Path) -> None:
    """Unpack the archive into ``cache``; the checkpoint last, written beside its place and renamed into it."""
    with tarfile.open(path, "r:*") as archive:
        members = archive.getmembers()
        rest = [m for m in members if _member_name(m) != str(CHECKPOINT_RELPATH)]
        archive.extractall(cache, members=rest, filter="data")
        checkpoint = next(m for m in members if _member_name(m) == str(CHECKPOINT_RELPATH))
        source = archive.extractfile(checkpoint) if checkpoint.isfile() else None
        if source is None:
            raise ArchiveError(f"{path}: {CHECKPOINT_RELPATH} is not a regular file")
        with source:
            _write_then_rename(lambda part: _copy_stream(source, part), cache / CHECKPOINT_RELPATH)


def _copy_stream(source: IO[bytes], part: Path) -> None:
    with part.open("wb") as out:
        shutil.copyfileobj(source, out, _CHUNK)


def _write_then_rename(write: Callable[[Path], object], target: Path) -> None:
    """``write(part)`` a file beside ``target``, then rename it into place (a crash leaves no partial target)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    write(part)
    part.replace(target)


def install(release: ReleaseFile, source: str, cache: Path, sha256: str | None = None,
            timeouts: Timeouts = Timeouts()) -> Path:
    """Install ``release`` from ``source`` (a local path or an http(s) URL) into the cache folder ``cache`` if its
    SHA-256 is ``sha256`` (hex; default: the recorded one); the installed checkpoint's path.

    A checkpoint already in place is kept. A URL with no SHA-256 to check against is refused before any
    connection; a download goes to ``<cache>/<release.name>`` (resumed by the next run if cut) and is deleted if it
    does not match. Raises :class:`InstallError` or :class:`~.download.DownloadError`.
    """
    target = cache / CHECKPOINT_RELPATH
    if target.is_file():
        log.info("[SETUP] %s already present (delete it to install another)", target)
        return target
    expected = expected_sha256(release, sha256)
    origin = "given with --sha256" if sha256 is not None else "recorded in pose_service/models/hmr2/fetch.py"
    downloaded = source.startswith(("http://", "https://"))
    if downloaded:
        if expected is None:
            raise InstallError(
                f"no SHA-256 to check {source} against: none is recorded for {release.name} (upstream publishes "
                f"none). Give the one published with the file as --sha256; nothing was downloaded")
        path = cache / release.name
        if not path.is_file():
            download(source, path, timeouts)
        try:
            check_sha256(path, release, expected, origin)
        except InstallError as exc:
            path.unlink()
            raise InstallError(f"{exc}; the download was deleted") from None
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            raise InstallError(f"{path}: no such file")
        check_sha256(path, release, expected, origin)
    log.info("[SETUP] %s: SHA-256 checked", path)
    if release.kind == "archive":
        check_archive(path)
        log.info("[SETUP] unpacking %s into %s", path, cache)
        extract(path, cache)
    elif downloaded:
        target.parent.mkdir(parents=True, exist_ok=True)
        path.replace(target)
    else:
        _write_then_rename(lambda part: shutil.copyfile(path, part), target)
    return target


def present_weights(files: HMR2Files) -> Path | None:
    """The weights file the service would load, or None when it is missing."""
    try:
        return files.weights()
    except FileNotFoundError:
        return None


def instructions(files: HMR2Files) -> str:
    """What to download, where it was published, how to give it, and where the service reads it."""
    lines = ["The HMR 2.0 weights are not installed, and nothing is downloaded unless you say from where "
             "(upstream's links answer 403/404). Get one of these files, from a copy you trust:"]
    for release in (ARCHIVE, CHECKPOINT):
        lines.append(f"  {release.name}: {release.contents}")
        lines += [f"      published: {where}" for where in release.published]
        lines.append(f"      SHA-256: {release.sha256 or _NOT_RECORDED}")
    lines += [
        "Then give it as a path or an http(s) URL (size and SHA-256 are checked; a cut download resumes):",
        f"  bash setup-4d-humans-wsl.sh --{ARCHIVE.kind} /path/to/{ARCHIVE.name} --sha256 <64 hex digits>",
        f"  bash setup-4d-humans-wsl.sh --{CHECKPOINT.kind} /path/to/{CHECKPOINT.name} --sha256 <64 hex digits>",
        "  (or python -m pose_service.models.hmr2.fetch with the same options; HMR2_ARCHIVE, HMR2_CHECKPOINT_SOURCE "
        "and HMR2_SHA256 set them too)",
        f"It is installed where the service reads it, under POSE_HMR2_CACHE_DIR (now {files.cache}):",
        f"  {files.cache / CHECKPOINT_RELPATH}",
        f"  (the set-up then converts it to {files.converted()}, which the service prefers)",
        "or put the checkpoint anywhere and set POSE_HMR2_CHECKPOINT to its path"
        + (f" (now set to {files.checkpoint}, which does not exist)." if files.checkpoint else "."),
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------------------
# Command line


def main(argv: list[str] | None = None) -> int:
    env = os.environ
    parser = argparse.ArgumentParser(
        prog="python -m pose_service.models.hmr2.fetch",
        description="Install the HMR 2.0 weights from hmr2_data.tar.gz or the checkpoint alone, given as a local "
                    "file or an http(s) URL, once its SHA-256 matches. With neither, say what to download and "
                    "where it goes (exit status 2).")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--archive", metavar="FILE_OR_URL", default=env.get("HMR2_ARCHIVE") or None,
                        help=f"{ARCHIVE.name} (default: $HMR2_ARCHIVE)")
    source.add_argument("--checkpoint", metavar="FILE_OR_URL", default=env.get("HMR2_CHECKPOINT_SOURCE") or None,
                        help=f"{CHECKPOINT.name} (default: $HMR2_CHECKPOINT_SOURCE)")
    parser.add_argument("--sha256", metavar="HEX", default=env.get("HMR2_SHA256") or None,
                        help="the file's SHA-256, instead of the recorded one (default: $HMR2_SHA256)")
    parser.add_argument("--cache-dir", type=Path,
                        help="default: $POSE_HMR2_CACHE_DIR, $HMR2_CACHE_DIR or ~/.cache/4DHumans")
    limits = Timeouts()
    parser.add_argument("--connect-timeout", type=float, default=limits.connect, metavar="S",
                        help=f"seconds to make a connection (default {limits.connect:g})")
    parser.add_argument("--read-timeout", type=float, default=limits.read, metavar="S",
                        help=f"seconds to wait for data before giving up (default {limits.read:g})")
    parser.add_argument("--max-time", type=float, default=limits.total, metavar="S",
                        help=f"seconds for the whole download (default {limits.total:g})")
    args = parser.parse_args(argv)
    if args.archive and args.checkpoint:  # one of them came from the environment
        parser.error("give the archive or the checkpoint, not both (see HMR2_ARCHIVE / HMR2_CHECKPOINT_SOURCE)")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    config = ServiceConfig.from_env()
    files = HMR2Files.from_settings(str(args.cache_dir or config.hmr2_cache_dir), config.hmr2_checkpoint)
    if not (args.archive or args.checkpoint):
        present = present_weights(files)
        if present is None:
            print(instructions(files), file=sys.stderr)
            return EXIT_NOTHING_GIVEN
        print(f"HMR 2.0 weights present: {present}")
        return 0
    release = ARCHIVE if args.archive else CHECKPOINT
    timeouts = Timeouts(args.connect_timeout, args.read_timeout, args.max_time)
    try:
        path = install(release, args.archive or args.checkpoint, files.cache, args.sha256, timeouts)
    except (InstallError, DownloadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"installed: {path}")
    if files.checkpoint:
        log.warning("[SETUP] note: POSE_HMR2_CHECKPOINT is set, so the service reads %s, not this file",
                    files.checkpoint)
    return 0


if __name__ == "__main__":
    sys.exit(main())
