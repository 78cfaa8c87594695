/**
 * The `test-frame-coverage` command: post a video's frames (or a folder's images) one by one to
 * `POST /pose/hybrid`, as a Node backend does, and report the coverage; the Node counterpart of
 * scripts/test_frame_coverage.py, with the same output.
 */

import { stat } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

import { DEFAULT_URL, PoseClient } from './client.js';
import { PoseConnectionError, PoseServiceError } from './errors.js';
import { folderFrames, videoFrames } from './frame-sources.js';

const USAGE = `usage: test-frame-coverage <video|folder> [--url URL] [--token TOKEN] [--fps N] [--max-frames N]
                           [--min-coverage 1.0] [--simulate-misses 0] [--video-id coverage]`;

const HELP = `${USAGE}

Posts each frame to POST /pose/hybrid as {image_base64 (JPEG, or the folder's files as they are), frame_number
(0, 1, ...), video_id}, then prints the coverage (frames with at least one person / frames), the detected and
predicted people, each track id with its frame count, and p50/p90/p99 of the round trip and of
processing_time_ms. Exits 1 below --min-coverage, 2 on a usage, HTTP or connection error.

  <video|folder>       a video (any file ffmpeg reads; ffmpeg must be on the PATH) or a folder of images
                       (jpg, jpeg, png, webp, bmp), taken in natural name order
  --url URL            the service (default $POSE_URL, else ${DEFAULT_URL})
  --token TOKEN        bearer token, for a service with POSE_API_TOKENS (default $POSE_TOKEN)
  --fps N              resample the video to N frames per second (videos only)
  --max-frames N       post the first N frames only
  --min-coverage X     exit 1 below this coverage (default 1.0)
  --simulate-misses X  sent as the request option: the fraction of detections the service ignores (default 0)
  --video-id ID        the video's session (default "coverage")`;

// Defaults are applied in parseSettings: parseArgs takes them only from Node 18.11.
const OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  fps: { type: 'string' },
  'max-frames': { type: 'string' },
  'min-coverage': { type: 'string' },
  'simulate-misses': { type: 'string' },
  'video-id': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

/** A command line that cannot run: exit 2, with the usage. */
class UsageError extends Error {}

/** A run that failed: a frame could not be read (ffmpeg failed or is missing), or the service refused one. */
class RunError extends Error {}

/**
 * Runs the command with `argv` (without node and the script); resolves to its exit status.
 *
 * @param {string[]} argv
 * @returns {Promise<number>}
 */
export async function main(argv) {
  let settings;
  try {
    settings = await parseSettings(argv);
  } catch (error) {
    if (!(error instanceof UsageError) && !error?.code?.startsWith('ERR_PARSE_ARGS_')) throw error;
    console.error(`${error.message}\n${USAGE}\n(--help describes the options)`);
    return 2;
  }
  if (settings === null) {
    console.log(HELP);
    return 0;
  }
  try {
    return report(settings, await postFrames(settings));
  } catch (error) {
    if (!(error instanceof RunError || error instanceof PoseConnectionError)) throw error;
    console.error(error.message);
    return 2;
  }
}

/** The command line's settings, checked; null for --help. */
async function parseSettings(argv) {
  const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
  if (values.help) return null;
  if (positionals.length !== 1) throw new UsageError('give one video or folder');
  const input = positionals[0];
  const isFolder = await stat(input).then((s) => s.isDirectory(), () => {
    throw new UsageError(`${input}: no such file or folder`);
  });
  if (isFolder && values.fps !== undefined) throw new UsageError('--fps applies to videos only');
  return {
    input,
    isFolder,
    url: values.url ?? (process.env.POSE_URL || DEFAULT_URL),
    token: values.token ?? process.env.POSE_TOKEN,
    videoId: values['video-id'] ?? 'coverage',
    fps: values.fps === undefined ? undefined : number('--fps', values.fps, (v) => v > 0),
    maxFrames: values['max-frames'] === undefined ? Infinity
      : number('--max-frames', values['max-frames'], (v) => Number.isInteger(v) && v > 0),
    minCoverage: number('--min-coverage', values['min-coverage'] ?? '1.0', (v) => v >= 0 && v <= 1),
    simulateMisses: number('--simulate-misses', values['simulate-misses'] ?? '0', (v) => v >= 0 && v <= 1),
  };
}

function number(option, text, valid) {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || !valid(value)) {
    throw new UsageError(`${option}: ${text} is not a number in range`);
  }
  return value;
}

/** Posts the frames in order; one record per frame. */
async function postFrames({ input, isFolder, url, token, videoId, fps, maxFrames, simulateMisses }) {
  const client = new PoseClient({ url, token });
  const frames = isFolder ? folderFrames(input) : videoFrames(input, { fps });
  const records = [];
  try {
    while (records.length < maxFrames) {
      const next = await frames.next().catch((error) => {
        throw new RunError(`${input}: ${error.message}`);
      });
      if (next.done) break;
      const frameNumber = records.length;
      const started = performance.now();
      const result = await client.pose(next.value, { frame_number: frameNumber, video_id: videoId,
        ...(simulateMisses ? { simulate_misses: simulateMisses } : {}) }).catch((error) => {
        if (!(error instanceof PoseServiceError)) throw error;
        throw new RunError(`frame ${frameNumber}: HTTP ${error.status} ${error.code}: ${error.message}`);
      });
      records.push({
        roundTripMs: performance.now() - started,
        processingMs: result.processing_time_ms,
        people: result.people.map(({ track_id, source }) => ({ track_id, source })),
      });
    }
  } finally {
    await frames.return(); // stops ffmpeg when the run ends before the video does
  }
  return records;
}

/** Prints the report; the exit status. */
function report({ input, videoId, simulateMisses, minCoverage }, records) {
  if (records.length === 0) {
    console.error(`no frames could be read from ${input}`);
    return 2;
  }
  const people = records.flatMap((record) => record.people);
  const count = (source) => people.filter((person) => person.source === source).length;
  const tracks = new Map();
  for (const { track_id } of people) tracks.set(track_id, (tracks.get(track_id) ?? 0) + 1);
  const coverage = records.filter((record) => record.people.length > 0).length / records.length;
  console.log(`frames: ${records.length} (${input}, video_id=${videoId}, simulate_misses=${simulateMisses})`);
  console.log(`coverage: ${coverage.toFixed(3)} (min ${minCoverage})`);
  console.log(`detected: ${count('detected')}   predicted: ${count('predicted')}`);
  const perTrack = [...tracks].sort(([a], [b]) => a - b).map(([id, frames]) => `${id}: ${frames} frames`);
  console.log(`tracks: ${perTrack.join(', ') || 'none'}`);
  console.log(`round trip:         ${percentiles(records.map((record) => record.roundTripMs))}`);
  console.log(`processing_time_ms: ${percentiles(records.map((record) => record.processingMs))}`);
  return coverage >= minCoverage ? 0 : 1;
}

/** p50, p90 and p99, interpolated linearly between the closest ranks (numpy's default). */
function percentiles(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p) => {
    const rank = (p / 100) * (sorted.length - 1);
    const low = Math.floor(rank);
    const high = Math.min(low + 1, sorted.length - 1);
    return sorted[low] + (sorted[high] - sorted[low]) * (rank - low);
  };
  return [50, 90, 99].map((p) => `p${p} ${at(p).toFixed(1).padStart(7)} ms`).join('   ');
}
