/**
 * What the tests share: the running service they are pointed at (POSE_URL: a real one, never a stand-in; see
 * README.md, "Tests"), the repository's files, and the tools (the repo's Python, ffmpeg) that make test media.
 */

import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { PoseClient } from '../index.js';

export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
export const ASTRONAUT_JPG = path.join(ROOT, 'assets', 'astronaut.jpg');
/** The command under test. */
export const COVERAGE_BIN = path.join(ROOT, 'clients', 'node', 'bin', 'test-frame-coverage');

/** OpenPose BODY_25 order (README, "Conventions"). */
export const BODY25_NAMES = ['nose', 'neck', 'right_shoulder', 'right_elbow', 'right_wrist', 'left_shoulder',
  'left_elbow', 'left_wrist', 'mid_hip', 'right_hip', 'right_knee', 'right_ankle', 'left_hip', 'left_knee',
  'left_ankle', 'right_eye', 'left_eye', 'right_ear', 'left_ear', 'left_big_toe', 'left_small_toe', 'left_heel',
  'right_big_toe', 'right_small_toe', 'right_heel'];

export const run = promisify(execFile);

/** The service's URL; throws (failing the test file, never skipping it) when POSE_URL is not set. */
export function serviceUrl() {
  const url = process.env.POSE_URL;
  if (!url) {
    throw new Error('POSE_URL is not set: these tests need a running pose service, e.g. '
      + 'POSE_HOST=127.0.0.1 POSE_PORT=5077 .venv/bin/python -m gunicorn --config gunicorn.conf.py, then '
      + 'POSE_URL=http://127.0.0.1:5077 node --test clients/node (clients/node/README.md, "Tests")');
  }
  return url;
}

/** A client of the service at POSE_URL, once the service says it is ready. */
export async function readyClient() {
  const client = new PoseClient({ url: serviceUrl() });
  await client.waitUntilReady({ timeoutMs: 300_000 });
  return client;
}

/** A video id no other test or run uses (the service may outlive one run). */
export function uniqueId(name) {
  return `node-${name}-${randomUUID().slice(0, 8)}`;
}

/** Runs the repository's Python (.venv) on a script of the repository. */
export function python(script, args) {
  return run(path.join(ROOT, '.venv', 'bin', 'python'), [path.join(ROOT, script), ...args],
    { cwd: ROOT, maxBuffer: 16 << 20 });
}

/** Runs ffmpeg (quiet, overwriting), which the CI installs. */
export function ffmpeg(args) {
  return run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', ...args]);
}
