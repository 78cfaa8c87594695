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
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Optional, Protocol, Union

import numpy as np

from .conventions import default_focal_length
from .sessions import SessionState, SessionStore
from .sessions.state import FrameStep
from .timing import StageTimes, TimedLock
from .tracking import TrackerConfig, describe
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


@dataclass
class _Lookahead:
    """A frame's detection started early, on the lookahead thread, with the hints its video's tracks were expected
    to give it and its wide-search flag."""

    frame_number: int
    hints: list[Hint]
    wide: bool
    people: Future


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
        """Detects a sequence's next frame while this one is fitted (:meth:`process_sequence`)."""

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
        with a fitter: while a frame's bodies are fitted (on one core), the next frame is detected on a second
        thread, with the hints the tracks are expected to give once the frame is committed. That detection is
        kept only if the tracks then give exactly those hints (and the same wide-search flag), otherwise the frame
        is detected again, so the results do not depend on the guess."""
        requests = self._read_ahead(iter(requests))
        current, lookahead = next(requests, None), None
        try:
            while current is not None:
                upcoming = next(requests, None)
                result, lookahead = self._process(current, lookahead, upcoming)
                yield result
                current = upcoming
        finally:
            if lookahead is not None:  # the detector is not left busy with a frame nobody will ask for
                wait([lookahead.people])

    def _read_ahead(self, requests: Iterator[FrameRequest]) -> Iterator[FrameRequest]:
        """``requests``, each one read (its frame decoded, for a batch) on the lookahead thread while the frame
        before it is processed."""
        reading = self._lookahead.submit(next, requests, None)
        while (request := reading.result()) is not None:
            reading = self._lookahead.submit(next, requests, None)
            yield request

    def _detect_ahead(self, image: np.ndarray, hints: list[Hint], wide: bool) -> list[Person]:
        """The detector's people, each with its appearance descriptor made (the tracker's work, off its thread)."""
        people = self.detector(image, hints, wide)
        for person in people:
            person.appearance = describe(image, person.keypoints_2d)
        return people

    def _detect(self, image: np.ndarray, frame_number: int, hints: list[Hint], wide: bool,
                lookahead: Optional[_Lookahead]) -> list[Person]:
        """The detector's people in this frame: the lookahead's, when it searched with these very hints."""
        if lookahead is not None and lookahead.people.exception() is None \
                and (lookahead.frame_number, lookahead.hints, lookahead.wide) == (frame_number, hints, wide):
            return lookahead.people.result()
        return self.detector(image, hints, wide)

    def _look_ahead(self, session: SessionState, step: FrameStep, upcoming: FrameRequest) -> _Lookahead:
        """Start detecting ``upcoming`` with the hints the tracks will give it once this frame is committed,
        guessed by committing a copy of the tracks without this frame's fits."""
        tracker, association = copy.deepcopy((step.tracker, step.association))
        tracker.commit(association)
        hints = tracker.hints(upcoming.frame_number)
        wide = (session.frames_seen + 1) % self.video.wide_search_every == 0
        return _Lookahead(upcoming.frame_number, hints, wide,
                          self._lookahead.submit(self._detect_ahead, upcoming.image, hints, wide))

    def _process(self, request: FrameRequest, lookahead: Optional[_Lookahead] = None,
                 upcoming: Optional[FrameRequest] = None) -> tuple[FrameResult, Optional[_Lookahead]]:
        """:meth:`process`, using ``lookahead`` (this frame's detection, if started early) and starting the
        ``upcoming`` frame's (returned) while this frame is fitted."""
        image = request.image
        height, width = image.shape[:2]
        focal = request.focal_length_px or self.default_focal(width, height)
        video_id = request.video_id or DEFAULT_SESSION
        session_id = request.session_id or video_id
        times = StageTimes()
        following = None
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
            wide = session.frames_seen % self.video.wide_search_every == 0
            with times("detect"):
                people = most_confident(self._detect(image, request.frame_number, hints, wide, lookahead),
                                        self.video.max_people)
            if session.tracker.tracks:  # a miss before anyone is tracked tests nothing: there is nothing to fill
                people = [
                    person
                    for i, person in enumerate(people)
                    if not simulated_miss(video_id, request.frame_number, i, request.simulate_misses)
                ]
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
                if upcoming is not None and step.arrival == "next":
                    following = self._look_ahead(session, step, upcoming)
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
        ), following
