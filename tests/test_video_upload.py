"""Uploaded videos are taken by their container's magic bytes only: an HLS playlist, a concat list or a URL never
makes the server's FFmpeg open one of the server's own files, and the upload's file name is never used."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from pose_service.batch.video import (SNIFF_BYTES, Container, UnsupportedVideoFormat, VideoError, probe_video,
                                      read_frames, sniff_container)

SIZE = (96, 64)  # (width, height): no upload in these tests has frames of this size


def _write_video(path: Path, fourcc: str, size: tuple[int, int] = SIZE, frames: int = 4) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10, size)
    assert writer.isOpened(), f"no {fourcc} writer for {path.suffix}"
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), 40 * i, np.uint8))
    writer.release()
    return path


@pytest.fixture()
def server_video(tmp_path: Path) -> Path:
    """A video of the server's own, never uploaded: what a playlist would point FFmpeg at."""
    return _write_video(tmp_path / "server-side.mp4", "mp4v")


def _playlist(target: str) -> bytes:
    return f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{target}\n#EXT-X-ENDLIST\n".encode()


# The first bytes of each container, to put in front of anything.
FTYP = b"\x00\x00\x00\x14ftypisom\x00\x00\x02\x00isom"  # an ISO BMFF ftyp box
WEBM_HEADER = (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\xf3\x81\x08\x42\x82\x84webm"
               b"\x42\x87\x81\x02\x42\x85\x81\x02")  # an EBML header, as OpenCV writes it
RIFF_AVI = b"RIFF\x00\x10\x00\x00AVI "


# --- the sniff, without HTTP ------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix, fourcc, container", [
    (".mp4", "mp4v", Container.MP4), (".mov", "mp4v", Container.MP4), (".avi", "MJPG", Container.AVI),
    (".mkv", "MJPG", Container.MATROSKA), (".webm", "VP80", Container.MATROSKA),
])
def test_videos_written_by_opencv_are_sniffed_and_read(tmp_path, suffix, fourcc, container):
    path = _write_video(tmp_path / f"clip{suffix}", fourcc)
    assert sniff_container(path.read_bytes()[:SNIFF_BYTES]) is container
    assert probe_video(path) == (4, *SIZE)
    assert [frame.shape for frame in read_frames(path)] == [(SIZE[1], SIZE[0], 3)] * 4


def test_old_quicktime_first_boxes_are_mp4():
    for box in (b"moov", b"mdat", b"free", b"wide"):
        assert sniff_container(b"\x00\x00\x00\x08" + box + b"\x00\x00\x10\x00") is Container.MP4
    assert sniff_container(b"\x00\x00\x00\x01mdat" + bytes(8)) is Container.MP4  # 64-bit box size follows


@pytest.mark.parametrize("head", [
    _playlist("/work/some.mp4"), _playlist("file:///work/some.mp4"), b"file:///work/some.mp4\n",
    b"ffconcat version 1.0\nfile /work/some.mp4\n", b"ffconcat version 1.0\nfile other-upload.mp4\n",
    b"ID3\x04\x00\x00\x00\x00\x00\x00" + _playlist("/work/some.mp4"),  # FFmpeg's probe skips an ID3 tag
    b"RIFF\x24\x00\x00\x00WAVEfmt ", b"\x00\x00\x00\x04ftypisom", b"\x00\x00\x00\x14ftypjp2 \x00\x00\x00\x00",
    b"GIF89a", b"", b"\x1a\x45\xdf", WEBM_HEADER[:30],
    # An EBML magic alone: FFmpeg's probe scores an SDP text after it above Matroska, and opens its RTP streams.
    b"\x1a\x45\xdf\xa3\nv=0\nc=IN IP4 127.0.0.1\nm=video 5004 RTP/AVP 96\n",
    WEBM_HEADER.replace(b"webm", b"wbem"),
])
def test_playlists_lists_urls_and_other_formats_are_not_videos(head):
    with pytest.raises(UnsupportedVideoFormat, match="MP4/QuickTime .*, Matroska/WebM or AVI"):
        sniff_container(head[:SNIFF_BYTES])


def test_a_playlist_under_a_video_name_is_never_opened(server_video, tmp_path):
    # The FFmpeg in OpenCV follows such a playlist to the file it names, whatever the playlist's own name: the
    # check is at every open, so the batch worker's and the scripts' reads are covered too.
    playlist = tmp_path / "upload.mp4"
    playlist.write_bytes(_playlist(str(server_video)))
    with pytest.raises(UnsupportedVideoFormat, match="MP4"):
        probe_video(playlist)
    with pytest.raises(UnsupportedVideoFormat):
        next(read_frames(playlist))


@pytest.mark.parametrize("head, container", [(FTYP, Container.MP4), (WEBM_HEADER, Container.MATROSKA),
                                             (RIFF_AVI, Container.AVI)])
def test_a_container_head_on_a_playlist_is_not_a_readable_video(server_video, tmp_path, head, container):
    fake = tmp_path / f"upload{container.value}"
    fake.write_bytes(head + b"\n" + _playlist(str(server_video)))
    assert sniff_container(fake.read_bytes()[:SNIFF_BYTES]) is container
    with pytest.raises(VideoError) as raised:
        probe_video(fake)
    assert not isinstance(raised.value, UnsupportedVideoFormat)
    assert list(read_frames(fake)) == []


# --- the endpoint -----------------------------------------------------------------------------------------------

def _multipart(video: bytes, filename: bytes, max_frames: int = 1) -> tuple[bytes, str]:
    """A multipart body built by hand: the test client would not send a file name with a NUL byte as it is."""
    boundary = b"pose-test-boundary"
    body = (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="video"; filename="' + filename
            + b'"\r\nContent-Type: application/octet-stream\r\n\r\n' + video + b"\r\n--" + boundary
            + b'\r\nContent-Disposition: form-data; name="max_frames"\r\n\r\n' + str(max_frames).encode()
            + b"\r\n--" + boundary + b"--\r\n")
    return body, f"multipart/form-data; boundary={boundary.decode()}"


@pytest.fixture()
def pipeline_calls(app, monkeypatch) -> list:
    """The frames the pipeline is asked to process (none is processed)."""
    calls: list = []
    monkeypatch.setattr(app.extensions["pose_runtime"].pipeline(), "process", lambda request: calls.append(request))
    return calls


def test_uploaded_playlists_and_urls_are_refused_and_their_targets_never_read(client, server_video, pipeline_calls):
    for upload in (_playlist(str(server_video)), _playlist(server_video.as_uri()), server_video.as_uri().encode(),
                   f"ffconcat version 1.0\nfile {server_video.name}\n".encode()):
        body, content_type = _multipart(upload, b"clip.mp4")
        response = client.post("/pose/batch", data=body, content_type=content_type)
        answer = response.get_json()
        assert (response.status_code, answer["code"]) == (415, "unsupported_video_format"), answer
        assert all(name in answer["error"] for name in ("MP4", "QuickTime", "Matroska", "WebM", "AVI"))

    for head in (FTYP, WEBM_HEADER, RIFF_AVI):
        body, content_type = _multipart(head + b"\n" + _playlist(str(server_video)), b"clip.mp4")
        response = client.post("/pose/batch", data=body, content_type=content_type)
        assert (response.status_code, response.get_json()["code"]) == (400, "invalid_video")
    assert pipeline_calls == []


def test_control_characters_and_paths_in_the_file_name_are_ignored(client, astronaut, tmp_path):
    clip = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 10, (256, 256))
    for _ in range(2):
        writer.write(cv2.cvtColor(cv2.resize(astronaut, (256, 256)), cv2.COLOR_RGB2BGR))
    writer.release()
    for name in (b"clip.m\x00p4", b"clip\x00.mp4", b"\x01\x1b[31m\x7f.mp4", b"../../etc/clip.m3u8", b"a\\b/c.mp\x004"):
        body, content_type = _multipart(clip.read_bytes(), name)
        response = client.post("/pose/batch", data=body, content_type=content_type)
        assert response.status_code == 200, (name, response.get_json())
        frames = response.get_json()["frames"]
        assert len(frames) == 1 and frames[0]["image_size"] == [256, 256] and frames[0]["people"]
