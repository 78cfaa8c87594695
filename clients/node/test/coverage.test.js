// bin/test-frame-coverage on a clip rendered with ground truth (scripts/render_synthetic_clip.py: one person in
// every frame), posted to the running service at POSE_URL with misses simulated where the tracker predicts.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { COVERAGE_BIN, ffmpeg, python, readyClient, run, uniqueId } from '../test-support/service.js';

const FRAMES = 16;
const MISS_RATE = 0.2;

await readyClient();
const scratch = await mkdtemp(path.join(tmpdir(), 'pose-node-coverage-'));
const frames = path.join(scratch, 'frames');
const video = path.join(scratch, 'clip.mp4');
after(() => rm(scratch, { recursive: true, force: true }));

before(async () => {
  await python('scripts/render_synthetic_clip.py',
    ['single_person_3m', frames, '--frames', String(FRAMES), '--video', video]);
});

/** A fresh video id whose simulated misses all fall where the tracker predicts the person, and those frames. */
async function videoWithMisses(frameCount, minMisses) {
  const { stdout } = await python('clients/node/test-support/video_id_with_misses.py', ['--frames', String(frameCount),
    '--rate', String(MISS_RATE), '--min-misses', String(minMisses), '--prefix', uniqueId('coverage')]);
  return JSON.parse(stdout);
}

/** Runs the command (with this process's environment, POSE_URL included, and `env` on top); its exit status and its
 * report's lines as {name: value}. */
async function coverage(args, env = {}) {
  const options = { env: { ...process.env, ...env } };
  const { code, stdout, stderr } = await run(process.execPath, [COVERAGE_BIN, ...args], options)
    .then((done) => ({ code: 0, ...done }), (failed) => failed);
  const lines = Object.fromEntries(stdout.split('\n').filter((line) => line.includes(': '))
    .map((line) => [line.slice(0, line.indexOf(': ')), line.slice(line.indexOf(': ') + 2)]));
  return { code, lines, output: stdout + stderr };
}

function assertFullCoverage({ code, lines, output }, frameCount, missed) {
  assert.equal(code, 0, output);
  assert.match(lines.frames, new RegExp(`^${frameCount} \\(`), output);
  assert.equal(lines.coverage, '1.000 (min 1)', output);
  const [, detected, predicted] = /^(\d+) +predicted: (\d+)$/.exec(lines.detected);
  // One person in every frame; each simulated miss came back predicted (the detector may have missed others).
  assert.equal(Number(detected) + Number(predicted), frameCount, output);
  assert.ok(Number(predicted) >= missed.length, output);
  assert.equal(lines.tracks, `1: ${frameCount} frames`, output);
  assert.match(lines['round trip'], /^ *p50 +[\d.]+ ms +p90 +[\d.]+ ms +p99 +[\d.]+ ms$/);
  assert.match(lines.processing_time_ms, /^ *p50 +[\d.]+ ms +p90 +[\d.]+ ms +p99 +[\d.]+ ms$/);
}

test('a folder of rendered frames, with misses simulated: every frame has the person', async () => {
  assert.equal((await readdir(frames)).filter((name) => name.endsWith('.png')).length, FRAMES);
  const { video_id: videoId, missed } = await videoWithMisses(FRAMES, 2);
  const result = await coverage([frames, '--simulate-misses', String(MISS_RATE), // the service: $POSE_URL
    '--video-id', videoId, '--min-coverage', '1']);
  assertFullCoverage(result, FRAMES, missed);
  assert.match(result.lines.frames, new RegExp(`video_id=${videoId}, simulate_misses=${MISS_RATE}\\)$`));
});

test('the same clip as a video, decoded by ffmpeg at half its frame rate', async () => {
  const { fps } = JSON.parse(await readFile(path.join(frames, 'ground_truth.json'), 'utf8')).spec;
  const frameCount = FRAMES / 2;
  const { video_id: videoId, missed } = await videoWithMisses(frameCount, 1);
  const result = await coverage([video, '--url', process.env.POSE_URL, '--fps', String(fps / 2),
    '--simulate-misses', String(MISS_RATE), '--video-id', videoId]);
  assertFullCoverage(result, frameCount, missed);
});

test('below --min-coverage the command exits 1; on a usage or connection error, 2', async () => {
  const grey = path.join(scratch, 'grey.mp4');
  await ffmpeg(['-f', 'lavfi', '-i', 'color=c=gray:s=320x240:r=10', '-frames:v', '3', '-c:v', 'mpeg4', grey]);
  const nobody = await coverage(
    [grey, '--url', process.env.POSE_URL, '--video-id', uniqueId('grey'), '--min-coverage', '0.5']);
  assert.equal(nobody.code, 1, nobody.output);
  assert.equal(nobody.lines.coverage, '0.000 (min 0.5)');
  assert.equal(nobody.lines.tracks, 'none');

  const cut = await coverage(
    [video, '--url', process.env.POSE_URL, '--max-frames', '2', '--video-id', uniqueId('cut')]);
  assert.equal(cut.code, 0, cut.output);
  assert.match(cut.lines.frames, /^2 \(/);

  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve)); // a port nothing listens on
  const closed = await coverage([frames, '--url', `http://127.0.0.1:${port}`]);
  assert.equal(closed.code, 2);
  assert.match(closed.output, /ECONNREFUSED/);
  const noFfmpeg = await coverage([video], { PATH: scratch });
  assert.equal(noFfmpeg.code, 2);
  assert.match(noFfmpeg.output, /ffmpeg was not found on the PATH/);
  assert.equal((await coverage([frames, '--fps', '10'])).code, 2);
  assert.equal((await coverage([path.join(scratch, 'missing.mp4')])).code, 2);
});
