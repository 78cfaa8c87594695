"""The per-frame data flow: image -> detect -> body (regress or fit) -> track (per video session) -> FrameResult.

Nothing here knows about HTTP; the API layer decodes the request, calls :meth:`FramePipeline.process` and
serialises the result with :func:`pose_service.respond.frame_response`.

Bodies come from one of two kinds of stage: a *regressor* (HMR 2.0) is stateless and runs before tracking, its 3D
locations feeding association; a *fitter* needs the previous fit of the same person for a warm start, so it runs
between the tracker's two steps: after association (which says whose previous fit each detection continues) and
before the tracks absorb the detections (with the new fit states).
"""

from __future__ import annotations

import copy
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Optional, Protocol, Union

import numpy as np

from .conventions import default_focal_length
from .sessions import SessionState, SessionStore
from .timing import StageTimes, TimedLock
from .tracking import Tracker, TrackerConfig, describe
from .tracking.tracker import Association
from .types import FrameResult, Hint, Person

if TYPE_CHECKING:  # torch, which a keypoints-only service never loads
    from .body.base import BodyModel
    from .body.levels import MeshLevel

log = logging.getLogger(__name__)

DEFAULT_SESSION = "default"
"""The session of requests that give no ``video_id``."""

class Detector(Protocol):
    def __call__(self, image: np.ndarray, hints: Sequence[Hint] = (), wide: Optional[bool] = None) -> list[Person]:
        """People in an (H, W, 3) RGB image. ``hints``: where people are expected (the session's tracks), searched
        more closely; ``wide``: also search the frame in tiles, for small, distant people, and for new people (a
        detector that can follow its hints alone may look for others only then)."""

Regressor = Callable[[np.ndarray, list[Person], float], list[Person]]
"""(image, detected people, focal_length_px) -> the same people with 3D bodies filled in."""
Fitter = Callable[[np.ndarray, list[Person], list[Optional[dict[str, Any]]], float, Optional[float], bool],
                  list[tuple[Person, Optional[dict[str, Any]]]]]
"""(image, detected people in priority order, each one's previous fit state or None, focal_length_px, deadline,
with_mesh) -> per person, the person with its fitted body (its mesh only ``with_mesh``) and its new fit state
(None: not fitted, the track keeps its last one). People not yet fitted when ``time.monotonic()`` passes the
deadline (if not None) are left unfitted."""


@dataclass
class FrameRequest:
    """What the pipeline needs from a request, already validated and decoded."""

    image: np.ndarray
    """(H, W, 3) RGB uint8."""
    frame_number: int
    video_id: Optional[str] = None
    session_id: Optional[str] = None
    """Where the video's state is kept when not under its ``video_id`` (a batch keeps its own, apart from a live
    video of the same id)."""
    include_mesh: bool = True
    include_faces: bool = True
    focal_length_px: Optional[float] = None
    simulate_misses: float = 0.0
    """For testing gap filling: the fraction of detections to ignore (deterministic per video, frame, person), once
    the video has a track."""
    reorder_wait_s: Optional[float] = None
    """How long this frame may wait for earlier frames of its video (None: the pipeline's setting; a batch, whose
    frames come in order, gives 0)."""
    height_cm: Union[None, float, dict[int, float]] = None
    """The known height of the video's main subject, or of tracks by id: kept in the session for its body shape
    and measurements."""


@dataclass(frozen=True)
class VideoOptions:
    """How the frames of one video are searched, ordered and tracked."""

    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    wide_search_every: int = 10
    """Search the whole frame, and in tiles, on every this many frames of a video (new, small people); in between,
    BlazePose follows the people it tracks with its landmark model alone, as MediaPipe does."""
    reorder_window: int = 8
    """Frames: a frame this far behind the latest is folded in late; further back (or frame 0 again) restarts."""
    reorder_wait_s: float = 0.3
    """How long a frame that arrived ahead of earlier ones waits for them (0: never)."""
    settle_shape_frames: int = 30
    """Fitted frames after which a track's body shape is settled (see ``FramePipeline._settle_shapes``)."""
    max_people: Optional[int] = None
    """Most people detected per frame, the most confident kept (None: all)."""
    frame_budget_s: Optional[float] = None
    """Seconds from a frame's start after which no further person is fitted this frame (None: no budget)."""
    lookahead_frames: int = 8
    """A sequence (:meth:`FramePipeline.process_sequence`) is detected up to this many frames ahead of its fits:
    enough to ride out a run of slow detections (wide searches, lost people) or slow fits (a new person)..."""
    lookahead_pixels: int = 50_000_000
    """...with no more than this many pixels of decoded frames held (3 bytes each; always the current frame)."""


class GpuOutOfMemory(RuntimeError):
    """A stage ran out of GPU memory and is configured not to fall back to the CPU (the API answers 503)."""


def most_confident(people: list[Person], limit: Optional[int]) -> list[Person]:
    """The ``limit`` highest-scoring people, in their original order (all when ``limit`` is None)."""
    if limit is None or len(people) <= limit:
        return people
    kept = set(sorted(range(len(people)), key=lambda i: -people[i].score)[:limit])
    return [p for i, p in enumerate(people) if i in kept]


def simulated_miss(video_id: str, frame_number: int, index: int, rate: float) -> bool:
    """Whether to drop detection ``index`` of this frame: a pseudo-random draw that repeats for the same inputs."""
    return rate > 0 and random.Random(f"{video_id}:{frame_number}:{index}").random() < rate


class _Lookahead:
    """A sequence's upcoming frames detected ahead of the fits, on the pipeline's lookahead thread.

    A copy of the video's tracks, advanced on the detections alone (no fits, nothing reported), guesses the hints
    each upcoming frame will get; the frame is detected with them and its people advance the copy in turn. The
    caller takes a frame's people only when its real hints and wide-search flag are those guessed
    (:meth:`take`), so the results never depend on the guess; a wrong guess ends the lookahead.
    """

    def __init__(self, pipeline: FramePipeline, tracker: Tracker, frames_seen: int) -> None:
        """``tracker``: the tracks as they will be once the current frame is committed (a copy, now this
        lookahead's own); ``frames_seen``: the video's frames seen by then."""
        self._pipeline = pipeline
        self._tracker = tracker
        self._frames_seen = frames_seen
        self._last: Optional[tuple[FrameRequest, list[Person]]] = None
        """The frame detected last, not yet associated with the copy (touched on the lookahead thread only)."""
        self._guesses: deque[tuple[FrameRequest, Future]] = deque()

    def extend(self, upcoming: Iterable[FrameRequest]) -> None:
        """Start detecting those of ``upcoming`` (the next frames, in order) not already started."""
        started = {id(request) for request, _ in self._guesses}
        for request in upcoming:
            if id(request) not in started:
                self._guesses.append((request, self._pipeline._lookahead.submit(self._search, request)))

    def take(self, request: FrameRequest, hints: list[Hint], wide: bool) -> Optional[list[Person]]:
        """The people of ``request`` if it was detected ahead with these very hints and flag, else None (and the
        lookahead must be stopped)."""
        if not self._guesses or self._guesses[0][0] is not request:
            return None
        searched = self._guesses.popleft()[1]
        if searched.exception() is not None:
            return None
        guessed_hints, guessed_wide, people = searched.result()
        return people if (guessed_hints, guessed_wide) == (hints, wide) else None

    def stop(self) -> None:
        """Drop the frames not yet detected and wait for the one being detected: the detector is not left busy
        with frames nobody will ask for."""
        for _, searched in self._guesses:
            searched.cancel()
        for _, searched in self._guesses:
            if not searched.cancelled():
                searched.exception()
        self._guesses.clear()

    def _search(self, request: FrameRequest) -> tuple[list[Hint], bool, list[Person]]:
        """On the lookahead thread: advance the copy with the frame detected before, then detect ``request``
        with the hints the copy gives it."""
        if self._last is not None:
            previous, people = self._last
            width, height = previous.image.shape[1], previous.image.shape[0]
            kept = self._pipeline._kept(people, previous, bool(self._tracker.tracks))
            self._tracker.commit(self._tracker.associate(previous.frame_number, copy.deepcopy(kept), previous.image,
                                                         self._pipeline._focal(previous), (width, height)))
            self._frames_seen += 1
        hints = self._tracker.hints(request.frame_number)
        wide = self._pipeline._wide(self._frames_seen)
        people = self._pipeline.detector(request.image, hints, wide)
        for person in people:  # the tracker's work, done here off the fitting thread
            person.appearance = describe(request.image, person.keypoints_2d)
        self._last = (request, people)
        return hints, wide, people


class FramePipeline:
    """Runs the stages of one backend on one frame, within the frame's video session."""

    def __init__(
        self,
        backend: str,
        detector: Detector,
        sessions: SessionStore,
        *,
        regressor: Optional[Regressor] = None,
        fitter: Optional[Fitter] = None,
        video: Optional[VideoOptions] = None,
        default_focal: Callable[[int, int], float] = default_focal_length,
        body_model: Optional[str] = None,
        mesh_levels: Optional[dict[str, MeshLevel]] = None,
        body: Optional[BodyModel] = None,
        body_lock: Optional[TimedLock] = None,
        device: str = "cpu",
        files: Optional[dict[str, str]] = None,
    ) -> None:
        self.backend = backend
        self.detector = detector
        self.sessions = sessions
        self.regressor = regressor
        self.fitter = fitter
        self.video = video or VideoOptions()
        self.default_focal = default_focal
        """(width, height) -> the focal length in pixels this backend assumes when a request gives none."""
        self.body_model = body_model
        self.mesh_levels = mesh_levels
        """The resolutions a response can send the meshes at (``conventions.MESH_RESOLUTIONS``), or None without
        meshes."""
        self.body = body
        """The body model behind the meshes (for measurements and exports), or None without meshes."""
        self.body_lock = body_lock or TimedLock("body")
        """Held while ``body`` runs (the fitter's lock on the embedded backend: the model caches its rest mesh)."""
        self.device = device
        self.files = files or {}
        """Model files loaded, by role, for /health."""
        self._lookahead = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pose-lookahead")
        """Detects a sequence's next frames while one is fitted (:meth:`process_sequence`)."""

    @property
    def faces(self) -> Optional[np.ndarray]:
        """(F, 3) triangle vertex indices of the body model's full mesh, or None without meshes."""
        return None if self.mesh_levels is None else self.mesh_levels["full"].faces

    @property
    def tracker_config(self) -> TrackerConfig:
        return self.video.tracker

    def new_session(self, video_id: str) -> SessionState:
        return SessionState.new(video_id, self.video.tracker, reorder_window=self.video.reorder_window)

    def _settle_shapes(self, session: SessionState) -> None:
        """Once a track has ``VideoOptions.settle_shape_frames`` fitted frames, its fits keep one shape from then on:
        the aggregate of those frames (under the height given for it, if any), so its mesh stops breathing. A height
        given later settles it again."""
        from .measure.shape import settled_shape  # torch and the body model: only with a fitter

        for track in session.tracker.tracks:
            state, body = track.fit_state, session.bodies.tracks.get(track.track_id)
            if state is None or body is None:
                continue
            height = session.bodies.height_for(track.track_id, session.tracker.primary_id)
            if body.settled_shape is None or body.settled_height_cm != height:
                if body.frames < self.video.settle_shape_frames:
                    continue
                with self.body_lock:
                    shape = settled_shape(self.body, body, height)
                if shape is None:
                    continue
                body.settled_shape, body.settled_height_cm = shape.astype(np.float32), height
            elif state.get("shape_fixed"):
                continue
            track.fit_state = {**state, "shape": body.settled_shape.tolist(), "shape_fixed": True}

    def _fit(self, image: np.ndarray, association: Association, focal: float,
             deadline: Optional[float], with_mesh: bool) -> dict[int, tuple[Person, Any]]:
        """The fitter on the association's reported detections (the primary person first), each warm-started from
        its track's last fit: detection index -> (person with body, new fit state), for :meth:`SessionState.finish`."""
        chosen = association.reported
        results = self.fitter(image, [association.detections[d] for d in chosen],
                              [association.previous_fits[d] for d in chosen], focal, deadline, with_mesh)
        return dict(zip(chosen, results))

    def _repose(self, people: list[Person], times: StageTimes) -> list[Person]:
        """Meshes for the people whose state came back without one (a track's serialised state keeps the body's
        parameters, not its mesh): the body model posed with them, as the fitter or regressor posed it (timed as
        ``body`` when there are any)."""
        missing = [p for p in people if p.vertices is None and p.body_params is not None and self.body is not None]
        if not missing:
            return people
        import torch

        def stacked(name: str) -> torch.Tensor:
            values = np.stack([p.body_params[name] for p in missing])
            return torch.as_tensor(values, dtype=self.body.dtype, device=self.body.device)

        with times("body"), self.body_lock, torch.no_grad():
            vertices = self.body(stacked("global_orient"), stacked("body_pose"), stacked("shape")).vertices
        posed = {id(p): v for p, v in zip(missing, vertices.double().cpu().numpy())}
        return [replace(p, vertices=posed[id(p)]) if id(p) in posed else p for p in people]

    def process(self, request: FrameRequest) -> FrameResult:
        return self._process(request)[0]

    def process_sequence(self, requests: Iterable[FrameRequest]) -> Iterator[FrameResult]:
        """The frames of one video in order (a batch), as :meth:`process` would give them one by one, but faster
        with a fitter: the frames are read on a thread of their own, and while a frame's bodies are fitted (on one
        core), the next ``VideoOptions.lookahead_frames`` are detected on a second thread (:class:`_Lookahead`).
        The detector's time per frame varies more than the fit's (a wide search costs several tracked frames), so
        running several frames ahead keeps both threads busy."""
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pose-read") as reader:
            requests = self._read_ahead(iter(requests), reader)
            held: deque[FrameRequest] = deque()  # the current frame, then those detected ahead
            lookahead = None
            try:
                while self._hold(held, requests):
                    result, lookahead = self._process(held.popleft(), lookahead, held)
                    yield result
            finally:
                if lookahead is not None:
                    lookahead.stop()

    def _hold(self, held: deque[FrameRequest], requests: Iterator[FrameRequest]) -> bool:
        """Read ``requests`` into ``held`` up to the lookahead's frames and pixels (see :class:`VideoOptions`);
        whether any frame is held."""
        pixels = sum(request.image.shape[0] * request.image.shape[1] for request in held)
        while len(held) <= self.video.lookahead_frames and (not held or pixels < self.video.lookahead_pixels):
            request = next(requests, None)
            if request is None:
                break
            held.append(request)
            pixels += request.image.shape[0] * request.image.shape[1]
        return bool(held)

    @staticmethod
    def _read_ahead(requests: Iterator[FrameRequest], reader: ThreadPoolExecutor) -> Iterator[FrameRequest]:
        """``requests``, each one read (its frame decoded, for a batch) on ``reader`` while the ones before it are
        processed."""
        reading = reader.submit(next, requests, None)
        while (request := reading.result()) is not None:
            reading = reader.submit(next, requests, None)
            yield request

    @staticmethod
    def _stopped(lookahead: Optional[_Lookahead]) -> None:
        if lookahead is not None:
            lookahead.stop()

    def _focal(self, request: FrameRequest) -> float:
        height, width = request.image.shape[:2]
        return request.focal_length_px or self.default_focal(width, height)

    def _wide(self, frames_seen: int) -> bool:
        """Whether a video's frame, after ``frames_seen`` frames of it, is searched wide (whole frame and tiles)."""
        return frames_seen % self.video.wide_search_every == 0

    def _kept(self, people: list[Person], request: FrameRequest, tracked: bool) -> list[Person]:
        """The detected people the frame goes on with: the most confident, less the simulated misses (applied
        only once the video has a track: a miss before anyone is tracked tests nothing, there is nothing to
        fill)."""
        people = most_confident(people, self.video.max_people)
        if not tracked:
            return people
        video_id = request.video_id or DEFAULT_SESSION
        return [person for i, person in enumerate(people)
                if not simulated_miss(video_id, request.frame_number, i, request.simulate_misses)]

    def _process(self, request: FrameRequest, lookahead: Optional[_Lookahead] = None,
                 upcoming: Sequence[FrameRequest] = ()) -> tuple[FrameResult, Optional[_Lookahead]]:
        """:meth:`process`, taking this frame's people from ``lookahead`` when it detected them with the right
        hints, and detecting the ``upcoming`` frames ahead while this one is fitted. Returns the lookahead to go
        on with (None once a guess was wrong, or without a fitter)."""
        image = request.image
        height, width = image.shape[:2]
        focal = self._focal(request)
        video_id = request.video_id or DEFAULT_SESSION
        session_id = request.session_id or video_id
        times = StageTimes()
        with self.sessions.session(
            session_id,
            lambda: self.new_session(video_id),
            request.frame_number,
            self.video.reorder_wait_s if request.reorder_wait_s is None else request.reorder_wait_s,
        ) as session:
            budget = self.video.frame_budget_s
            deadline = None if budget is None else time.monotonic() + budget
            session.bodies.give_height(request.height_cm)
            hints = session.tracker.hints(request.frame_number)
            wide = self._wide(session.frames_seen)
            with times("detect"):
                people = None if lookahead is None else lookahead.take(request, hints, wide)
                if people is None:
                    lookahead = self._stopped(lookahead)
                    people = self.detector(image, hints, wide)
                people = self._kept(people, request, bool(session.tracker.tracks))
            if self.regressor is not None:
                with times("body"):
                    people = self.regressor(image, people, focal)
            # In report order: the video's primary person first (people[0], repeated at the top level of the
            # response), see Tracker.step.
            with times("track"):
                step = session.begin(request.frame_number, people, image, focal, (width, height))
            if self.fitter is None:
                with times("track"):
                    people = session.finish(step)
            else:
                if not upcoming or step.arrival != "next":
                    lookahead = self._stopped(lookahead)
                elif lookahead is None:
                    tracker, association = copy.deepcopy((step.tracker, step.association))
                    tracker.commit(association)
                    lookahead = _Lookahead(self, tracker, session.frames_seen + 1)
                if lookahead is not None:
                    lookahead.extend(upcoming)
                with times("body"):
                    fitted = self._fit(image, step.association, focal, deadline, request.include_mesh)
                with times("track"):
                    people = session.finish(step, fitted)
                with times("body"):
                    self._settle_shapes(session)
        if request.include_mesh:
            people = self._repose(people, times)
        return FrameResult(
            frame_number=request.frame_number,
            video_id=request.video_id,
            image_size=(width, height),
            focal_length_px=float(focal),
            people=people,
            timings=times,
        ), lookahead
