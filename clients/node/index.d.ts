/**
 * Types of the pose service's Node.js client.
 *
 * The wire types are named after the service's contract (README, "API"; the request models in
 * pose_service/api/schemas.py: PoseRequest, BatchFrame, BatchRequest, BatchVideoForm, MeasurementRequest) and keep
 * its snake_case field names, one interface per JSON object, so that each can be compared field by field with the
 * schema of the same name in the service's /openapi.json. Only the client's own options are camelCase.
 * Conventions (README, "Conventions"): pixels with the origin top-left, x right, y down; 3D in metres in camera
 * axes (x right, y down, z forward); keypoints in OpenPose BODY_25 order.
 */

// --- conventions --------------------------------------------------------------------------------------------

/** OpenPose BODY_25 keypoint names, in order: `keypoints` always lists all 25 in this order. */
export type KeypointName =
  | 'nose' | 'neck' | 'right_shoulder' | 'right_elbow' | 'right_wrist' | 'left_shoulder' | 'left_elbow'
  | 'left_wrist' | 'mid_hip' | 'right_hip' | 'right_knee' | 'right_ankle' | 'left_hip' | 'left_knee' | 'left_ankle'
  | 'right_eye' | 'left_eye' | 'right_ear' | 'left_ear' | 'left_big_toe' | 'left_small_toe' | 'left_heel'
  | 'right_big_toe' | 'right_small_toe' | 'right_heel';

/** x, y, z: metres, camera axes. */
export type Vec3 = [number, number, number];
/** x, y, width, height: image pixels. */
export type BBox = [number, number, number, number];
/** A mesh triangle: three indices into `mesh_vertices_data`. */
export type Face = [number, number, number];

export type Backend = 'embedded' | 'hmr2';
export type BodyModelName = 'anny' | 'smpl';
/** Raw pixel buffers: rows top to bottom, no padding. */
export type PixelFormat = 'rgb24' | 'bgr24' | 'rgba32' | 'bgra32' | 'gray8';
/** Mesh levels: the body model's full mesh, or a coarser one whose vertices are a subset of the full mesh's
 * (`GET /mesh/faces` gives each level's triangles and `vertex_indices`). */
export type MeshResolution = 'full' | 'high' | 'medium' | 'low';
/** `json`: nested lists; `base64_float32`: vertices as base64 of little-endian float32 (V*3, row-major), triangles
 * as base64 of little-endian uint32 (F*3). */
export type MeshEncoding = 'json' | 'base64_float32';
/** Vertices as `mesh_encoding` sends them. */
export type MeshVertices = Vec3[] | string;
/** Triangles as `mesh_encoding` sends them. */
export type MeshTriangles = Face[] | string;
/** A known height in cm (50-260): of the video's main subject, or of tracks by id (`{"<track_id>": cm}`). */
export type HeightsCm = number | Record<string, number>;

// --- POST /pose/hybrid --------------------------------------------------------------------------------------

/** What a frame and a batch share: what a response holds and how people are fitted (the service's FrameOptions). */
export interface FrameOptions {
  /** Default true. */
  include_mesh?: boolean;
  /** Default true; fetch the faces once from `GET /mesh/faces` instead. */
  include_faces?: boolean;
  /** Default 'high'. */
  mesh_resolution?: MeshResolution;
  /** Default 'json'. */
  mesh_encoding?: MeshEncoding;
  /** Pixels, in [1, 1e6]; default `max(width, height)` (embedded backend). */
  focal_length_px?: number | null;
  /** For testing gap filling: the fraction of detections ignored, in [0, 1]; default 0. */
  simulate_misses?: number;
  height_cm?: HeightsCm | null;
}

export interface PoseRequest extends FrameOptions {
  /** An encoded JPEG, PNG, WebP or BMP (with or without a `data:image/...;base64,` prefix), or raw pixels
   * when `width`, `height` and `pixel_format` are given. */
  image_base64: string;
  /** Echoed back; frames of a video are tracked in this order. */
  frame_number: number;
  /** The video (session) the frame belongs to; absent: the default session. */
  video_id?: string | null;
  width?: number | null;
  height?: number | null;
  pixel_format?: PixelFormat | null;
}

/** 2D keypoint: image pixels; confidence in [0, 1]. */
export interface Keypoint {
  name: KeypointName;
  x: number;
  y: number;
  confidence: number;
}

/** 3D keypoint: metres, camera axes, relative to the root (mid-hip). */
export interface Keypoint3D {
  name: KeypointName;
  x: number;
  y: number;
  z: number;
}

export interface BodyParams {
  /** Axis-angle, camera axes. */
  global_orient: Vec3;
  /** J axis-angles in the model's local axes (Anny: 18 bones, SMPL: 23 joints). */
  body_pose: Vec3[];
  /** Anny: 6 phenotype logits; SMPL: 10 betas. */
  shape: number[];
}

/** `predicted`: a tracked person the detector missed in this frame; `interpolated`: only from `/pose/batch`. */
export type PersonSource = 'detected' | 'predicted' | 'interpolated';

export interface Person {
  /** Stable for a person within a video, never reused in it. */
  track_id: number;
  source: PersonSource;
  bbox: BBox;
  score: number;
  /** All 25, or none. */
  keypoints: Keypoint[];
  /** All 25, or none without 3D. */
  keypoints_3d: Keypoint3D[];
  /** The root's position in the camera frame, metres. */
  camera_translation: Vec3 | null;
  body_model: BodyModelName | null;
  body_params: BodyParams | null;
  mesh_vertices_data: MeshVertices | null;
  tracking_confidence: number | null;
  fit_confidence: number | null;
}

/** The top-level person fields repeat `people[0]`, the primary person (null or empty when nobody). */
export interface PoseResponse {
  frame_number: number;
  video_id: string | null;
  /** [width, height] in pixels. */
  image_size: [number, number];
  focal_length_px: number;
  backend: Backend;
  has_3d: boolean;
  keypoints: Keypoint[];
  keypoints_3d: Keypoint3D[];
  keypoint_count: number;
  mesh_vertices_data: MeshVertices | null;
  mesh_faces_data: MeshTriangles | null;
  camera_translation: Vec3 | null;
  tracking_confidence: number | null;
  fit_confidence: number | null;
  processing_time_ms: number;
  /** "no person detected" when `people` is empty. */
  error: string | null;
  people: Person[];
}

// --- POST /pose/batch, /jobs --------------------------------------------------------------------------------

export interface BatchFrame {
  image_base64: string;
  /** Default: the frame's index; must increase. */
  frame_number?: number | null;
  width?: number | null;
  height?: number | null;
  pixel_format?: PixelFormat | null;
}

/** Options shared by the JSON batch and the video upload (the service's BatchOptionsFields). */
export interface BatchOptions extends FrameOptions {
  /** The video's name in the results (default `batch-<job id>`); the batch tracks in a session of its own. */
  video_id?: string | null;
  /** Zero-phase smoothing of each track; default true. */
  smooth?: boolean;
}

export interface BatchRequest extends BatchOptions {
  frames: BatchFrame[];
}

/** Form fields of a video upload (multipart, field `video`); form values are text, so a height is one number. */
export interface BatchVideoForm extends Omit<BatchOptions, 'height_cm'> {
  /** Process the first frames only. */
  max_frames?: number | null;
  height_cm?: number | null;
}

export interface BatchSummary {
  frames: number;
  frames_with_body: number;
  /** Frames with at least one person / frames. */
  coverage: number | null;
  /** People counted by source. */
  detected: number;
  predicted: number;
  interpolated: number;
  track_ids: number[];
  /** Per track; null without a body model. */
  measurements: TrackMeasurements[] | null;
}

export interface BatchResult {
  frames: PoseResponse[];
  summary: BatchSummary;
}

/** HTTP 202: the batch runs as a job. */
export interface JobAccepted {
  job_id: string;
  status_url: string;
}

export type JobStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

export interface JobProgress {
  frames_done: number;
  frames_total: number;
}

export interface JobResult {
  summary: BatchSummary;
  frames_url: string;
}

export interface Job {
  job_id: string;
  status: JobStatus;
  progress: JobProgress;
  error: string | null;
  result: JobResult | null;
}

export interface JobFramesPage {
  job_id: string;
  start: number;
  limit: number;
  frames_total: number;
  frames: PoseResponse[];
}

export interface Deleted {
  deleted: string;
}

// --- sessions, measurements, exports, faces -----------------------------------------------------------------

export type TrackState = 'tentative' | 'confirmed' | 'lost';

export interface SessionTrack {
  track_id: number;
  state: TrackState;
  hits: number;
  frames_unseen: number;
}

export interface Session {
  video_id: string;
  frames_seen: number;
  frames_with_body: number;
  coverage: number | null;
  detected_count: number;
  predicted_count: number;
  last_frame_number: number | null;
  restarts: number;
  late_frames: number;
  primary_track_id: number | null;
  /** Unix time, seconds. */
  created_at: number;
  last_seen_at: number;
  tracks: SessionTrack[];
}

export type MeasurementName =
  | 'height' | 'chest' | 'waist' | 'hip' | 'thigh' | 'neck' | 'inseam' | 'shoulder_width' | 'arm_length';

/** Centimetres, on the neutral body (README, "Measurements and exports"); null for a girth the body gives no loop
 * for. */
export type MeasurementsCm = Record<MeasurementName, number | null>;

export interface TrackMeasurements {
  track_id: number;
  frames_used: number;
  scale: 'given' | 'estimated';
  height_cm_given: number | null;
  body_model: BodyModelName;
  measurements_cm: MeasurementsCm;
  uncertainty_cm: MeasurementsCm;
}

export interface SessionMeasurements {
  video_id: string;
  tracks: TrackMeasurements[];
}

export type Sex = 'female' | 'male';

export interface MeasurementRequest {
  /** One to eight photos of one person (front, side, back). */
  images_base64: string[];
  height_cm?: number | null;
  sex?: Sex | null;
}

/** `POST /measurements`: the person's measurements, shape and neutral-pose mesh. */
export interface PhotoMeasurements extends Omit<TrackMeasurements, 'track_id'> {
  sex_given: Sex | null;
  photos: number;
  photos_used: number;
  body_params: { shape: number[] };
  mesh_vertices_data: MeshVertices;
  mesh_faces_data: MeshTriangles;
}

/** `glb`: the avatar skinned to a BODY_25 skeleton with its motion; `bvh`: the motion (README, exports). */
export type ExportFormat = 'npz' | 'obj' | 'json' | 'glb' | 'bvh';

/** One frame of the `json` export. */
export interface TrackExportFrame {
  frame_number: number;
  camera_translation: Vec3;
  global_orient: Vec3;
  body_pose: Vec3[];
  shape: number[];
  fit_confidence: number | null;
}

/** The `json` export, once parsed. */
export interface TrackExport {
  video_id: string;
  track_id: number;
  body_model: BodyModelName;
  measurements: Omit<TrackMeasurements, 'track_id'> | null;
  frames: TrackExportFrame[];
}

export interface MeshFaces {
  body_model: BodyModelName;
  mesh_resolution: MeshResolution;
  /** Vertices of a mesh at this resolution. */
  vertex_count: number;
  /** The full mesh's vertices this resolution keeps, in the order its meshes list them; null for the full mesh. */
  vertex_indices: number[] | null;
  mesh_faces_data: MeshTriangles;
}

// --- health and errors --------------------------------------------------------------------------------------

export interface Health {
  status: 'ready' | 'warming_up' | 'error';
  ready: boolean;
  /** Per model: "loaded", "loading" or "failed: <reason>". */
  models: Record<string, string>;
  device: string;
  backend: Backend;
  files: Record<string, string>;
  /** Why loading failed, naming a missing file and where it goes. */
  error: string | null;
  version: string;
}

/** The stable codes of the README's error table (and any the service adds later). */
export type ErrorCode =
  | 'invalid_json' | 'invalid_request' | 'missing_field' | 'invalid_field' | 'invalid_base64' | 'empty_image'
  | 'invalid_image' | 'unsupported_image_format' | 'payload_too_large' | 'image_too_large'
  | 'unsupported_media_type' | 'invalid_video' | 'unsupported_video_format' | 'too_many_frames' | 'not_found'
  | 'method_not_allowed' | 'bad_request' | 'uri_too_long' | 'headers_too_large' | 'request_timeout'
  | 'unsupported_transfer_coding'
  | 'job_not_found' | 'session_not_found' | 'track_not_found' | 'job_not_done' | 'no_body_model' | 'no_person'
  | 'poor_fit' | 'not_ready' | 'model_failed' | 'unauthorized' | 'job_queue_full' | 'gpu_out_of_memory'
  | 'video_busy' | 'session_store_unavailable' | 'internal_error' | 'http_error'
  | (string & {});

/** Every failure's body. */
export interface ErrorBody {
  error: string;
  code: ErrorCode;
}

// --- the client ---------------------------------------------------------------------------------------------

/** An image: base64 text (sent as it is, a `data:` prefix allowed), or the bytes of an encoded file (or of raw
 * pixels, with `width`, `height` and `pixel_format`). */
export type ImageInput = string | ArrayBufferView | ArrayBuffer;

/** A video file's bytes (the service tells the container by them). */
export type VideoInput = Blob | ArrayBufferView | ArrayBuffer;

/** A batch frame: an image, or an image with its `BatchFrame` fields. */
export type BatchFrameInput = ImageInput | ({ image: ImageInput } & Omit<BatchFrame, 'image_base64'>);

export interface PoseClientOptions {
  /** The service's base URL; default http://localhost:5000. */
  url?: string;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** Limit of each attempt of a request, answer included; default 300,000 (the service's POSE_WORKER_TIMEOUT). */
  timeoutMs?: number;
  /** Times a 503 is retried (never `model_failed`); default 3. */
  retries?: number;
  /** The longest wait before a retry (`Retry-After`, or 1, 2, 4, ... s without one); default 30,000. */
  maxRetryDelayMs?: number;
}

export interface SubmitOptions {
  /** Run as a job whatever the batch's length (`?async=1`). */
  async?: boolean;
}

export interface WaitOptions {
  /** Called after each poll of the job. */
  onProgress?: (progress: JobProgress, job: Job) => void;
  /** Default 500. */
  pollIntervalMs?: number;
}

export interface ExportedFile {
  data: Uint8Array;
  /** `application/octet-stream` (npz), `text/plain` (obj), `application/json` (json), ... */
  contentType: string;
  /** The service's name for it (`<video_id>-track<N>.<format>`), when it gives one. */
  filename: string | null;
}

export declare const DEFAULT_URL: string;

export declare class PoseClient {
  constructor(options?: PoseClientOptions);
  /** The base URL, without a trailing slash. */
  readonly url: string;

  /** `GET /health`; resolves also while the models load (`ready: false`). */
  health(): Promise<Health>;
  /** Polls `/health` until ready; rejects when the models failed to load or `timeoutMs` (default 600,000) passes. */
  waitUntilReady(options?: { timeoutMs?: number; intervalMs?: number }): Promise<Health>;

  /** `POST /pose/hybrid`. */
  pose(image: ImageInput, fields: Omit<PoseRequest, 'image_base64'>): Promise<PoseResponse>;
  /** `GET /mesh/faces`: the triangles at a resolution (default the service's, 'high') and the full mesh's vertices it
   * keeps. */
  meshFaces(bodyModel?: BodyModelName,
    options?: { meshResolution?: MeshResolution; meshEncoding?: MeshEncoding }): Promise<MeshFaces>;

  /** `POST /pose/batch` (JSON): the result when answered inline (HTTP 200), else the job (202). */
  submitBatch(frames: BatchFrameInput[], options?: BatchOptions & SubmitOptions): Promise<BatchResult | JobAccepted>;
  /** `POST /pose/batch` (multipart upload of a video file). */
  submitVideo(video: VideoInput, options?: BatchVideoForm & SubmitOptions): Promise<BatchResult | JobAccepted>;
  /** A JSON batch to its end, inline or through its job. */
  batch(frames: BatchFrameInput[], options?: BatchOptions & SubmitOptions & WaitOptions): Promise<BatchResult>;
  /** A video's batch to its end, inline or through its job. */
  batchVideo(video: VideoInput, options?: BatchVideoForm & SubmitOptions & WaitOptions): Promise<BatchResult>;

  /** `GET /jobs/<id>`. */
  job(jobId: string): Promise<Job>;
  /** Polls until done; rejects with PoseJobError when the job failed or was cancelled. */
  waitForJob(jobId: string, options?: WaitOptions): Promise<Job>;
  /** `GET /jobs/<id>/frames`; `limit` 1-100. */
  jobFrames(jobId: string, options?: { start?: number; limit?: number }): Promise<JobFramesPage>;
  /** Every frame of a done job, in order, a page (default 100) at a time. */
  iterateJobFrames(jobId: string, options?: { pageSize?: number }): AsyncGenerator<PoseResponse, void, undefined>;
  /** `DELETE /jobs/<id>`. */
  deleteJob(jobId: string): Promise<Deleted>;

  /** `GET /sessions/<video_id>`. */
  session(videoId: string): Promise<Session>;
  /** `DELETE /sessions/<video_id>`. */
  deleteSession(videoId: string): Promise<Deleted>;
  /** `GET /sessions/<video_id>/measurements`. */
  measurements(videoId: string): Promise<SessionMeasurements>;
  /** `POST /measurements`. */
  measurePhotos(images: ImageInput[], fields?: Omit<MeasurementRequest, 'images_base64'>): Promise<PhotoMeasurements>;
  /** `GET /sessions/<video_id>/export?track_id=N&format=...` (default npz). */
  exportTrack(videoId: string, trackId: number, format?: ExportFormat): Promise<ExportedFile>;
}

/** The service answered an error status: `code` and `message` are its JSON body's (`code` "http_error" when
 * the answer was not the service's JSON). */
export declare class PoseServiceError extends Error {
  constructor(status: number, code: ErrorCode, message: string,
    request: { method: string; url: string; retryAfterS: number | null });
  readonly name: 'PoseServiceError';
  readonly status: number;
  readonly code: ErrorCode;
  readonly method: string;
  readonly url: string;
  /** The answer's `Retry-After`, in seconds. */
  readonly retryAfterS: number | null;
}

/** The service could not be reached, or did not answer within `timeoutMs` (`timedOut`). */
export declare class PoseConnectionError extends Error {
  /** `cause`: what fetch threw. */
  constructor(method: string, url: string, cause: unknown, timeoutMs: number);
  readonly name: 'PoseConnectionError';
  readonly method: string;
  readonly url: string;
  readonly timedOut: boolean;
}

/** A job that ended `failed` or `cancelled`. */
export declare class PoseJobError extends Error {
  constructor(job: Job);
  readonly name: 'PoseJobError';
  readonly job: Job;
}
