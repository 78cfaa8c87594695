// Batches (JSON frames and a video upload), inline and as jobs, against the running service at POSE_URL.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import { ASTRONAUT_JPG, ffmpeg, readyClient, uniqueId } from '../test-support/service.js';

const client = await readyClient();
const astronaut = await readFile(ASTRONAUT_JPG);
const scratch = await mkdtemp(path.join(tmpdir(), 'pose-node-batch-'));
after(() => rm(scratch, { recursive: true, force: true }));

/** What every batch of the still astronaut gives: every frame with the one person, in order. */
function assertStillPerson(result, frames) {
  assert.deepEqual(result.frames.map((frame) => frame.frame_number), [...Array(frames).keys()]);
  assert.ok(result.frames.every((frame) => frame.people.length >= 1 && frame.people[0].track_id === 1));
  assert.equal(result.summary.frames, frames);
  assert.equal(result.summary.frames_with_body, frames);
  assert.equal(result.summary.coverage, 1);
  assert.deepEqual(result.summary.track_ids, [1]);
}

test('a short JSON batch is answered inline', async () => {
  const videoId = uniqueId('batch');
  const submitted = await client.submitBatch([astronaut, astronaut.toString('base64'), { image: astronaut }],
    { video_id: videoId, include_mesh: false });
  assert.ok(!('job_id' in submitted));
  assertStillPerson(submitted, 3);
  assert.ok(submitted.frames.every((frame) => frame.video_id === videoId && frame.mesh_vertices_data === null));
});

test('a batch job: polled with progress until done, then its frames read page by page', async () => {
  const accepted = await client.submitBatch([0, 2, 4, 6, 8].map((frame_number) => ({ image: astronaut, frame_number })),
    { async: true, include_mesh: false });
  assert.match(accepted.job_id, /\S/);
  assert.equal(accepted.status_url, `/jobs/${accepted.job_id}`);

  const progress = [];
  const job = await client.waitForJob(accepted.job_id,
    { pollIntervalMs: 50, onProgress: (p) => progress.push({ ...p }) });
  assert.equal(job.status, 'done');
  assert.ok(progress.length >= 1);
  assert.ok(progress.every((p, i) => p.frames_total === 5 && (i === 0 || p.frames_done >= progress[i - 1].frames_done)),
    JSON.stringify(progress));
  assert.deepEqual(progress.at(-1), { frames_done: 5, frames_total: 5 });
  assert.equal(job.result.frames_url, `/jobs/${accepted.job_id}/frames`);
  assert.equal(job.result.summary.coverage, 1);

  const page = await client.jobFrames(accepted.job_id, { start: 3, limit: 100 });
  assert.deepEqual([page.start, page.frames_total, page.frames.map((f) => f.frame_number)], [3, 5, [6, 8]]);
  const frames = [];
  for await (const frame of client.iterateJobFrames(accepted.job_id, { pageSize: 2 })) frames.push(frame);
  assert.deepEqual(frames.map((frame) => frame.frame_number), [0, 2, 4, 6, 8]);

  assert.deepEqual(await client.deleteJob(accepted.job_id), { deleted: accepted.job_id });
  await assert.rejects(client.job(accepted.job_id), { status: 404, code: 'job_not_found' });
});

test('batch() gives the same result whether the service answers inline or runs a job', async () => {
  const calls = [];
  const viaJob = await client.batch([astronaut, astronaut], { async: true, include_mesh: false, pollIntervalMs: 50,
    onProgress: (p) => calls.push(p) });
  assertStillPerson(viaJob, 2);
  assert.deepEqual(calls.at(-1), { frames_done: 2, frames_total: 2 });
  assert.deepEqual(Object.keys(viaJob).sort(), ['frames', 'summary']);
});

test('a video upload (multipart), its first frames only', async () => {
  const video = path.join(scratch, 'astronaut.mp4');
  await ffmpeg(['-loop', '1', '-framerate', '10', '-i', ASTRONAUT_JPG, '-frames:v', '6', '-c:v', 'mpeg4', '-q:v', '3',
    video]);
  const videoId = uniqueId('upload');
  const result = await client.batchVideo(await readFile(video),
    { video_id: videoId, max_frames: 4, include_mesh: false });
  assertStillPerson(result, 4);
  assert.ok(result.frames.every((frame) => frame.video_id === videoId));
  await assert.rejects(client.batchVideo(Buffer.from('not a video at all'.repeat(100))),
    { status: 415, code: 'unsupported_video_format' });
});
