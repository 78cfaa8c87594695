/**
 * PoseClient: every route of the pose service (README, "API") over the global fetch.
 *
 * Request and response bodies are the service's JSON as it is, snake_case fields and all (index.d.ts names the
 * types after the contract's objects); only the client's own options are camelCase. Images go in as base64
 * strings or bytes (src/images.js). A 503 is retried after its `Retry-After` (see the constructor).
 */

import { setTimeout as sleep } from 'node:timers/promises';

import { PoseConnectionError, PoseJobError, PoseServiceError } from './errors.js';
import { toBase64, toBlob } from './images.js';

export const DEFAULT_URL = 'http://localhost:5000';

export class PoseClient {
  #base;
  #headers;
  #timeoutMs;
  #retries;
  #maxRetryDelayMs;

  /**
   * @param {object} [options]
   * @param {string} [options.url] the service's base URL (default http://localhost:5000)
   * @param {string} [options.token] sent as `Authorization: Bearer <token>` (services with POSE_API_TOKENS)
   * @param {number} [options.timeoutMs] limit of each attempt of a request, answer body included (default 300 s,
   *   the service's POSE_WORKER_TIMEOUT: a cold CPU frame or an inline batch takes a while)
   * @param {number} [options.retries] times a 503 is retried (default 3): after its `Retry-After` seconds, or
   *   1, 2, 4, ... s without one; never `model_failed`, which lasts until the service is restarted
   * @param {number} [options.maxRetryDelayMs] the longest wait before a retry (default 30 s)
   */
  constructor({ url = DEFAULT_URL, token, timeoutMs = 300_000, retries = 3, maxRetryDelayMs = 30_000 } = {}) {
    this.#base = url.replace(/\/+$/, '');
    this.#headers = token ? { Authorization: `Bearer ${token}` } : {};
    this.#timeoutMs = timeoutMs;
    this.#retries = retries;
    this.#maxRetryDelayMs = maxRetryDelayMs;
  }

  /** The service's base URL, without a trailing slash. */
  get url() {
    return this.#base;
  }

  // --- health ----------------------------------------------------------------------------------------------

  /** `GET /health`, answered also while the models load (`ready: false`, HTTP 503), never retried. */
  health() {
    return this.#request('GET', '/health', { answerStatuses: [503] });
  }

  /** Polls `/health` until the service is ready (it may not be listening yet); throws when its models failed
   * to load, or when `timeoutMs` passes first. */
  async waitUntilReady({ timeoutMs = 600_000, intervalMs = 500 } = {}) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let last;
      try {
        const health = await this.health();
        if (health.ready) return health;
        if (health.status === 'error') {
          throw new PoseServiceError(503, 'model_failed', health.error ?? 'the models failed to load',
            { method: 'GET', url: `${this.#base}/health`, retryAfterS: null });
        }
        last = `status "${health.status}"`;
      } catch (error) {
        if (!(error instanceof PoseConnectionError)) throw error;
        last = error.message;
      }
      if (Date.now() >= deadline) throw new Error(`${this.#base} not ready after ${timeoutMs} ms (${last})`);
      await sleep(intervalMs);
    }
  }

  // --- frames ----------------------------------------------------------------------------------------------

  /** `POST /pose/hybrid`: one frame of a video (`video_id`, `frame_number`), or a photo. */
  async pose(image, fields) {
    return this.#request('POST', '/pose/hybrid', { json: { ...fields, image_base64: toBase64(image) } });
  }

  /** `GET /mesh/faces`: the triangles of the meshes at a resolution (default the service's, 'high') and the full
   * mesh's vertices it keeps, to fetch once and send `include_faces: false` with frames. */
  meshFaces(bodyModel, { meshResolution, meshEncoding } = {}) {
    return this.#request('GET', '/mesh/faces', {
      query: { body_model: bodyModel, mesh_resolution: meshResolution, mesh_encoding: meshEncoding },
    });
  }

  // --- batches and jobs ------------------------------------------------------------------------------------

  /** `POST /pose/batch` with JSON frames: the result when answered inline, else the accepted job. `async: true`
   * makes it a job whatever its length. */
  async submitBatch(frames, { async: asJob, ...fields } = {}) {
    return this.#request('POST', '/pose/batch', {
      query: { async: asJob ? 1 : undefined },
      json: { ...fields, frames: frames.map(batchFrame) },
    });
  }

  /** `POST /pose/batch` with a video file (multipart field `video`; the container is told by its bytes). */
  async submitVideo(video, { async: asJob, ...fields } = {}) {
    const form = new FormData();
    form.append('video', toBlob(video), 'video');
    for (const [name, value] of Object.entries(fields)) {
      if (value === undefined || value === null) continue;
      form.append(name, String(value)); // form values are text: booleans as true/false
    }
    return this.#request('POST', '/pose/batch', { query: { async: asJob ? 1 : undefined }, form });
  }

  /** A batch of JSON frames to its end: inline, or as a job polled (`onProgress`) and then read page by page. */
  async batch(frames, { onProgress, pollIntervalMs, ...options } = {}) {
    return this.#completed(await this.submitBatch(frames, options), { onProgress, pollIntervalMs });
  }

  /** A video's batch to its end, as {@link PoseClient#batch}. */
  async batchVideo(video, { onProgress, pollIntervalMs, ...options } = {}) {
    return this.#completed(await this.submitVideo(video, options), { onProgress, pollIntervalMs });
  }

  /** `GET /jobs/<id>`: status, progress, and the summary once done. */
  job(jobId) {
    return this.#request('GET', `/jobs/${encodeURIComponent(jobId)}`);
  }

  /** Polls the job until it is done, calling `onProgress(progress, job)` after each poll; throws PoseJobError
   * when it failed or was cancelled. */
  async waitForJob(jobId, { onProgress, pollIntervalMs = 500 } = {}) {
    for (;;) {
      const job = await this.job(jobId);
      onProgress?.(job.progress, job);
      if (job.status === 'done') return job;
      if (job.status === 'failed' || job.status === 'cancelled') throw new PoseJobError(job);
      await sleep(pollIntervalMs);
    }
  }

  /** `GET /jobs/<id>/frames`: one page (`limit` 1-100) of a done job's frames. */
  jobFrames(jobId, { start = 0, limit = 100 } = {}) {
    return this.#request('GET', `/jobs/${encodeURIComponent(jobId)}/frames`, { query: { start, limit } });
  }

  /** Every frame of a done job, in order, fetched a page at a time. */
  async *iterateJobFrames(jobId, { pageSize = 100 } = {}) {
    let start = 0;
    let total;
    do {
      const page = await this.jobFrames(jobId, { start, limit: pageSize });
      total = page.frames_total;
      yield* page.frames;
      start += pageSize;
    } while (start < total);
  }

  /** `DELETE /jobs/<id>`: cancels a job before its next frame, and forgets it. */
  deleteJob(jobId) {
    return this.#request('DELETE', `/jobs/${encodeURIComponent(jobId)}`);
  }

  // --- sessions, measurements, exports ---------------------------------------------------------------------

  /** `GET /sessions/<video_id>`: the video's counters, coverage and tracks. */
  session(videoId) {
    return this.#request('GET', `/sessions/${encodeURIComponent(videoId)}`);
  }

  /** `DELETE /sessions/<video_id>`: forgets the video (it has ended). */
  deleteSession(videoId) {
    return this.#request('DELETE', `/sessions/${encodeURIComponent(videoId)}`);
  }

  /** `GET /sessions/<video_id>/measurements`: each tracked person's nine measurements. */
  measurements(videoId) {
    return this.#request('GET', `/sessions/${encodeURIComponent(videoId)}/measurements`);
  }

  /** `POST /measurements`: one to eight photos of one person (front, side, back) to one body and its
   * measurements. */
  async measurePhotos(images, fields = {}) {
    return this.#request('POST', '/measurements', { json: { ...fields, images_base64: images.map(toBase64) } });
  }

  /** `GET /sessions/<video_id>/export`: a track's bodies as a file, its bytes with their content type and the
   * file name the service gives them. */
  exportTrack(videoId, trackId, format = 'npz') {
    return this.#request('GET', `/sessions/${encodeURIComponent(videoId)}/export`,
      { query: { track_id: trackId, format } },
      async (response) => ({
        data: new Uint8Array(await response.arrayBuffer()),
        contentType: response.headers.get('Content-Type') ?? '',
        filename: attachmentName(response.headers.get('Content-Disposition')),
      }));
  }

  // --- plumbing --------------------------------------------------------------------------------------------

  async #completed(submitted, waiting) {
    if (!('job_id' in submitted)) return submitted;
    const job = await this.waitForJob(submitted.job_id, waiting);
    const frames = [];
    for await (const frame of this.iterateJobFrames(submitted.job_id)) frames.push(frame);
    return { summary: job.result.summary, frames };
  }

  /**
   * One request, retried on 503 (see the constructor); `read` turns a successful answer into the result (JSON by
   * default). `answerStatuses`: error statuses whose body is an answer, not an error (/health's 503).
   */
  async #request(method, path, { query, json, form, answerStatuses = [] } = {}, read = (response) => response.json()) {
    const url = this.#base + path + queryString(query);
    const headers = { ...this.#headers };
    let body = form;
    if (json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(json);
    }
    for (let attempt = 0; ; attempt += 1) {
      const signal = AbortSignal.timeout(this.#timeoutMs);
      const response = await this.#network(method, url, () => fetch(url, { method, headers, body, signal }));
      if (response.ok || answerStatuses.includes(response.status)) {
        return this.#network(method, url, () => read(response));
      }
      const error = await this.#network(method, url, () => serviceError(response, method, url));
      const delayMs = this.#retryDelayMs(error, attempt);
      if (delayMs === null) throw error;
      await sleep(delayMs);
    }
  }

  /** Runs a fetch, or the reading of its answer, with network failures and timeouts as PoseConnectionError. */
  async #network(method, url, step) {
    try {
      return await step();
    } catch (cause) {
      if (cause instanceof SyntaxError) throw cause; // a 2xx body that is not JSON: no network failure
      throw new PoseConnectionError(method, url, cause, this.#timeoutMs);
    }
  }

  /** Milliseconds to wait before retrying after `error`, or null when it is not retried. */
  #retryDelayMs(error, attempt) {
    if (error.status !== 503 || error.code === 'model_failed' || attempt >= this.#retries) return null;
    const delayMs = error.retryAfterS === null ? 1000 * 2 ** attempt : error.retryAfterS * 1000;
    return Math.min(delayMs, this.#maxRetryDelayMs);
  }
}

/** A batch frame's JSON: an image alone, or `{image, frame_number?, width?, height?, pixel_format?}`. */
function batchFrame(frame) {
  if (typeof frame === 'string' || frame instanceof ArrayBuffer || ArrayBuffer.isView(frame)) {
    return { image_base64: toBase64(frame) };
  }
  const { image, ...fields } = frame;
  return { ...fields, image_base64: toBase64(image) };
}

function queryString(query = {}) {
  const defined = Object.entries(query).filter(([, value]) => value !== undefined && value !== null);
  return defined.length ? `?${new URLSearchParams(defined.map(([name, value]) => [name, String(value)]))}` : '';
}

async function serviceError(response, method, url) {
  const text = await response.text();
  const request = { method, url, retryAfterS: retryAfterSeconds(response.headers.get('Retry-After')) };
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    // not the service's JSON: described below
  }
  if (typeof body?.code === 'string' && typeof body?.error === 'string') {
    return new PoseServiceError(response.status, body.code, body.error, request);
  }
  const detail = text.trim().slice(0, 200);
  return new PoseServiceError(response.status, 'http_error',
    `HTTP ${response.status} ${response.statusText}${detail ? `: ${detail}` : ''}`, request);
}

/** `Retry-After` in seconds: delay-seconds, or an HTTP date (RFC 9110 10.2.3); null when absent or unreadable. */
function retryAfterSeconds(value) {
  if (value === null) return null;
  if (/^\d+$/.test(value.trim())) return Number(value);
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, (date - Date.now()) / 1000);
}

/** The file name of `Content-Disposition: attachment; filename="..."`, or null. */
function attachmentName(disposition) {
  return disposition?.match(/filename="([^"]*)"/)?.[1] ?? null;
}
