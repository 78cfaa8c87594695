"""The viewer page (``GET /viewer``) in a real headless Chromium (Debian's ``chromium``, driven by Playwright) against
the real service (gunicorn, Anny meshes, bearer tokens on): a rendered clip, empty for its first frames, is picked
in the page, which extracts, posts and draws its frames.

Needs ``apt-get install chromium`` (CI's install step): without it these tests fail, they are not skipped.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from pose_service.conventions import BODY25_INDEX, BODY25_LIMBS
from pose_service.render.overlay import track_color
from pose_service.synth.clip import Clip, ClipRenderer, ClipSpec, PersonSpec
from servers import call, start_gunicorn, wait_ready

CHROMIUM = Path("/usr/bin/chromium")
TOKEN = "viewer-token-0123456789"
FRAMES, FIRST_SEEN = 16, 4  # nobody on frames 0-3
COLOR_TOLERANCE = 12  # per channel, 0-255: the skeleton is drawn opaque, in the track's colour exactly


@pytest.fixture(scope="module")
def clip(anny_model) -> Clip:
    spec = ClipSpec(frames=FRAMES, people=[PersonSpec(1, "walk", start=(0.2, 3.0), heading=-0.4, shirt=1,
                                                      visible_frames=(FIRST_SEEN, FRAMES))])
    return ClipRenderer(anny_model).render(spec)


@pytest.fixture(scope="module")
def video(clip: Clip, tmp_path_factory) -> Path:
    """The clip as VP8 WebM, which Chromium decodes (so does it H.264 MP4, which OpenCV cannot write here)."""
    path = tmp_path_factory.mktemp("viewer") / "clip.webm"
    size = (clip.spec.width, clip.spec.height)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"VP80"), clip.spec.fps, size)
    for frame in clip.frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    assert path.stat().st_size > 0
    return path


@pytest.fixture(scope="module")
def server():
    process, base = start_gunicorn({"POSE_WORKERS": "1", "POSE_BODY_MODEL": "anny", "POSE_API_TOKENS": TOKEN})
    try:
        wait_ready(process, base)  # with tokens on, /health stays open
        yield base
    finally:
        process.kill()
        process.communicate()


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM.exists(), f"no {CHROMIUM}: apt-get install -y chromium"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield chromium
        chromium.close()


def test_the_page_is_public_and_gets_the_skeleton_from_the_service(server):
    assert call(server + "/pose/hybrid", b"{}").status == 401  # the API is not
    with urllib.request.urlopen(server + "/viewer") as response:
        html = response.read().decode()
    settings = json.loads(html.split('id="settings">')[1].split("</script>")[0])
    assert settings["limbs"] == [[BODY25_INDEX[a], BODY25_INDEX[b]] for a, b in BODY25_LIMBS]
    assert settings["palette"][1] == [round(255 * c) for c in track_color(1)]
    for name in ("viewer.js", "viewer.css"):
        with urllib.request.urlopen(f"{server}/viewer/static/{name}") as response:
            assert response.status == 200 and response.read()


def _run_viewer(browser: Browser, base: str, fps: float, pick) -> tuple[dict, Page]:
    """Open the page, type the token and ``fps``, ``pick(page)`` the input; the viewer's state once it is done, and
    the page."""
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.on("console", lambda message: print("[chromium]", message.text))
    page.goto(base + "/viewer")
    page.fill("#token", TOKEN)
    page.fill("#fps", str(fps))
    pick(page)
    page.wait_for_function("window.viewerState.done", timeout=300_000)
    return page.evaluate("window.viewerState"), page


def _track_drawn(state: dict, shows_person: list[bool]) -> int:
    """Asserts that every frame was posted and that skeletons were drawn on exactly the frames where
    ``shows_person``, all of one track; its id."""
    assert state["error"] is None and state["framesPosted"] == FRAMES
    drawn = {int(frame): ids for frame, ids in state["drawn"].items()}
    assert sorted(drawn) == list(range(FRAMES))
    assert [bool(drawn[i]) for i in range(FRAMES)] == shows_person, drawn
    (track,) = {track for ids in drawn.values() for track in ids}
    return track


def test_a_video_is_posted_frame_by_frame_and_drawn(server, browser, clip, video):
    state, page = _run_viewer(browser, server, clip.spec.fps,
                              lambda page: page.set_input_files("#video-file", str(video)))
    shows_person = [bool(truth) for truth in clip.ground_truth]
    assert shows_person == [False] * FIRST_SEEN + [True] * (FRAMES - FIRST_SEEN)
    track = _track_drawn(state, shows_person)
    assert state["coverage"] == ["none"] * FIRST_SEEN + ["detected"] * (FRAMES - FIRST_SEEN)

    # The canvas shows the last frame: the track's colour (the skeleton, opaque) around the rendered person, hardly
    # anywhere else, and the person tinted by the translucent mesh.
    box = page.locator("#view").bounding_box()  # at a fractional offset, which the canvas is drawn rounded to
    png = page.screenshot(clip={"x": round(box["x"]), "y": round(box["y"]), "width": box["width"],
                                "height": box["height"]})
    shot = cv2.cvtColor(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB).astype(float)
    assert shot.shape == clip.frames[-1].shape
    color = np.array(state["trackColors"][str(track)], float)
    in_color = (np.abs(shot - color) <= COLOR_TOLERANCE).all(-1)
    x, y, w, h = clip.ground_truth[-1][1]["bbox"]
    margin = 0.15 * h  # the label sits above the head
    near = np.zeros(in_color.shape, bool)
    near[int(y - margin):int(y + h + margin), int(x - margin):int(x + w + margin)] = True
    assert in_color[near].sum() >= 300, in_color[near].sum()
    assert in_color[~near].sum() <= 0.02 * in_color[near].sum(), in_color[~near].sum()
    original = clip.frames[-1].astype(float)
    assert np.abs(shot - original)[~near].mean() < 6  # the frame itself, in place (through VP8 and JPEG)
    silhouette = np.abs(original - clip.frames[0]).max(-1) > 25  # the camera is still, frame 0 empty
    tinted = np.linalg.norm(shot - color, axis=-1) < np.linalg.norm(original - color, axis=-1) - 20
    assert tinted[silhouette].mean() > 0.7, tinted[silhouette].mean()  # 0.91 seen; the skeleton alone: 0.17
    assert tinted[~silhouette].sum() < 0.25 * silhouette.sum(), tinted[~silhouette].sum()

    # Measurements once the video is sent, and an export downloaded with the token
    assert state["measured"] == [track]
    assert "±" in page.locator("#tracks tr").nth(1).inner_text()
    with page.expect_download() as download:
        page.locator("#tracks a", has_text="json").click()
    exported = json.loads(Path(download.value.path()).read_text())
    assert exported["track_id"] == track
    frame_numbers = [f["frame_number"] for f in exported["frames"]]
    assert len(frame_numbers) >= FRAMES - FIRST_SEEN - 1 and set(frame_numbers) <= set(range(FIRST_SEEN, FRAMES))
    page.close()


def test_a_folder_of_frames_is_taken_in_name_order_and_missed_people_are_predicted(server, browser, clip, tmp_path):
    blank = (10, 11)  # grey frames: the person, confirmed by then, is predicted there
    for i, frame in enumerate(clip.frames):  # unpadded numbers: frame_10 comes after frame_9 only in natural order
        image = np.full_like(frame, 128) if i in blank else frame
        cv2.imwrite(str(tmp_path / f"frame_{i}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    state, page = _run_viewer(browser, server, clip.spec.fps,
                              lambda page: page.set_input_files("#frame-folder", str(tmp_path)))
    _track_drawn(state, [bool(truth) for truth in clip.ground_truth])
    assert state["coverage"] == (["none"] * FIRST_SEEN + ["detected"] * (blank[0] - FIRST_SEEN)
                                 + ["predicted"] * len(blank) + ["detected"] * (FRAMES - blank[-1] - 1))
    page.close()
