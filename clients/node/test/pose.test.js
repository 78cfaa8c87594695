// Health, single frames, the service's errors and sessions, against the running service at POSE_URL.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';

import { PoseServiceError } from '../index.js';
import { ASTRONAUT_JPG, BODY25_NAMES, readyClient, uniqueId } from '../test-support/service.js';

const client = await readyClient();
const astronaut = await readFile(ASTRONAUT_JPG); // a real photo of one person, 512 x 512

test('health: ready, with every model loaded', async () => {
  const health = await client.health();
  assert.equal(health.status, 'ready');
  assert.equal(health.ready, true);
  assert.equal(health.error, null);
  assert.ok(Object.keys(health.models).length >= 1);
  assert.ok(Object.values(health.models).every((state) => state === 'loaded'), JSON.stringify(health.models));
  assert.match(health.version, /^\d+\.\d+\.\d+/);
});

test('a photo of a person, sent as bytes: one person with 25 BODY_25 keypoints on the image', async () => {
  const videoId = uniqueId('photo');
  const result = await client.pose(astronaut, { frame_number: 0, video_id: videoId, include_faces: false });
  assert.equal(result.frame_number, 0);
  assert.equal(result.video_id, videoId);
  assert.deepEqual(result.image_size, [512, 512]);
  assert.equal(result.error, null);
  assert.ok(result.people.length >= 1);
  const [person] = result.people;
  assert.equal(person.source, 'detected');
  assert.equal(person.track_id, 1);
  assert.deepEqual(person.keypoints.map((k) => k.name), BODY25_NAMES);
  assert.deepEqual(result.keypoints, person.keypoints, 'the top level repeats people[0]');
  assert.equal(result.keypoint_count, 25);
  const seen = person.keypoints.filter((k) => k.confidence >= 0.5);
  assert.ok(seen.length >= 8, `${seen.length} confident keypoints`);
  assert.ok(seen.every((k) => k.x >= 0 && k.x < 512 && k.y >= 0 && k.y < 512));
  // The astronaut is seen from the waist up: the head above the shoulders, the shoulders above the hips.
  const at = Object.fromEntries(person.keypoints.map((k) => [k.name, k]));
  assert.ok(at.nose.y < at.neck.y && at.neck.y < at.mid_hip.y);
  const [x, y, w, h] = person.bbox;
  assert.ok(w > 100 && h > 100 && x >= 0 && y >= 0, `bbox ${person.bbox}`);
  // A body: 3D keypoints in metres, a mesh (its faces left out on request), a camera translation in front.
  assert.equal(result.has_3d, true);
  assert.deepEqual(person.keypoints_3d.map((k) => k.name), BODY25_NAMES);
  assert.ok(person.mesh_vertices_data.length > 1000 && person.mesh_vertices_data.every((v) => v.length === 3));
  assert.equal(result.mesh_faces_data, null);
  assert.ok(person.camera_translation[2] > 0.5, `camera_translation ${person.camera_translation}`);
});

test("the service's errors are PoseServiceErrors with its status and stable code", async () => {
  await assert.rejects(client.pose('not base64 at all!', { frame_number: 0 }),
    (error) => error instanceof PoseServiceError && error.status === 400 && error.code === 'invalid_base64'
      && /base64/.test(error.message));
  await assert.rejects(client.pose(astronaut, {}), { status: 400, code: 'missing_field', message: /frame_number/ });
  await assert.rejects(client.pose(astronaut, { frame_number: -1 }), { status: 400, code: 'invalid_field' });
  await assert.rejects(client.session(uniqueId('never-seen')), { status: 404, code: 'session_not_found' });
  await assert.rejects(client.job('no-such-job'), { status: 404, code: 'job_not_found' });
});

test('a session counts its frames and tracks, and is gone once deleted', async () => {
  const videoId = uniqueId('session');
  for (let frame = 0; frame < 4; frame += 1) {
    const result = await client.pose(astronaut, { frame_number: frame, video_id: videoId, include_mesh: false });
    assert.equal(result.people[0].track_id, 1);
  }
  const session = await client.session(videoId);
  assert.equal(session.video_id, videoId);
  assert.equal(session.frames_seen, 4);
  assert.equal(session.frames_with_body, 4);
  assert.equal(session.coverage, 1);
  assert.equal(session.detected_count, 4);
  assert.equal(session.last_frame_number, 3);
  assert.equal(session.primary_track_id, 1);
  assert.deepEqual(session.tracks, [{ track_id: 1, state: 'confirmed', hits: 4, frames_unseen: 0 }]);
  assert.deepEqual(await client.deleteSession(videoId), { deleted: videoId });
  await assert.rejects(client.session(videoId), { status: 404, code: 'session_not_found' });
});
