// Mesh faces, measurements (of a session, and of photos) and exports, against the running service at POSE_URL,
// which must fit bodies (POSE_BODY_MODEL anny, the default, or smpl).

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { before, test } from 'node:test';

import { ASTRONAUT_JPG, readyClient, uniqueId } from '../test-support/service.js';

const MEASUREMENTS = ['height', 'chest', 'waist', 'hip', 'thigh', 'neck', 'inseam', 'shoulder_width', 'arm_length'];
const HEIGHT_CM = 172;

const client = await readyClient();
const astronaut = await readFile(ASTRONAUT_JPG);
const videoId = uniqueId('measure');
let faces; // at the default resolution, as frames are served
let fullFaces; // the body model's own mesh: the avatar (obj export, photo measurements)
let trackId;

before(async () => {
  faces = await client.meshFaces();
  fullFaces = await client.meshFaces(undefined, { meshResolution: 'full' });
  for (let frame = 0; frame < 4; frame += 1) {
    const result = await client.pose(astronaut,
      { frame_number: frame, video_id: videoId, height_cm: HEIGHT_CM, include_mesh: false });
    trackId = result.people[0].track_id;
  }
});

/** The nine measurements, in cm; the height is the one given (the stature parameter is solved for it). */
function assertMeasured(entry) {
  assert.deepEqual(Object.keys(entry.measurements_cm).sort(), [...MEASUREMENTS].sort());
  assert.deepEqual(Object.keys(entry.uncertainty_cm).sort(), [...MEASUREMENTS].sort());
  assert.ok(Math.abs(entry.measurements_cm.height - HEIGHT_CM) <= 0.5, `height ${entry.measurements_cm.height}`);
  const { chest, inseam } = entry.measurements_cm;
  assert.ok(chest > 50 && chest < 160, `chest ${chest}`);
  assert.ok(inseam > 50 && inseam < 100, `inseam ${inseam}`);
}

test('mesh faces: the triangles of the service body model, once', async () => {
  assert.ok(['anny', 'smpl'].includes(faces.body_model), `body model ${faces.body_model}`);
  assert.equal(faces.mesh_resolution, 'high');
  assert.ok(faces.mesh_faces_data.length > 10_000);
  assert.ok(faces.mesh_faces_data.every((face) => face.length === 3 && face.every(Number.isInteger)));
  assert.equal(faces.vertex_indices.length, faces.vertex_count);
  assert.equal(fullFaces.vertex_indices, null);
  assert.ok(fullFaces.vertex_count > faces.vertex_count);
  const low = await client.meshFaces(undefined, { meshResolution: 'low', meshEncoding: 'base64_float32' });
  const packed = Buffer.from(low.mesh_faces_data, 'base64');
  const triangles = new Uint32Array(packed.buffer, packed.byteOffset, packed.length / 4);  // little-endian hosts
  assert.ok(triangles.length % 3 === 0 && triangles.length / 3 > low.vertex_count);
  assert.equal(Math.max(...triangles), low.vertex_count - 1);
  const other = faces.body_model === 'anny' ? 'smpl' : 'anny';
  await assert.rejects(client.meshFaces(other), { status: 404, code: 'not_found' });
});

test("a session's measurements, at the height it was given", async () => {
  const measured = await client.measurements(videoId);
  assert.equal(measured.video_id, videoId);
  assert.equal(measured.tracks.length, 1);
  const [track] = measured.tracks;
  assert.equal(track.track_id, trackId);
  assert.equal(track.scale, 'given');
  assert.equal(track.height_cm_given, HEIGHT_CM);
  assert.equal(track.body_model, faces.body_model);
  assert.ok(track.frames_used >= 1 && track.frames_used <= 4);
  assertMeasured(track);
});

test('exports: npz (a zip of arrays), obj (the neutral body on the served mesh), json', async () => {
  const npz = await client.exportTrack(videoId, trackId, 'npz');
  assert.equal(npz.contentType, 'application/octet-stream');
  assert.equal(npz.filename, `${videoId}-track${trackId}.npz`);
  const zip = Buffer.from(npz.data);
  assert.equal(zip.readUInt32LE(0), 0x04034b50, 'a zip file');
  for (const array of ['frame_numbers', 'global_orient', 'body_pose', 'transl', 'fit_confidence', 'frame_shapes']) {
    assert.ok(zip.includes(`${array}.npy`), array);
  }

  const obj = await client.exportTrack(videoId, trackId, 'obj');
  assert.match(obj.contentType, /^text\/plain/);
  const lines = Buffer.from(obj.data).toString().split('\n');
  const faceLines = lines.filter((line) => line.startsWith('f '));
  assert.equal(faceLines.length, fullFaces.mesh_faces_data.length);
  assert.equal(lines.filter((line) => line.startsWith('v ')).length, fullFaces.vertex_count);

  const json = JSON.parse(Buffer.from((await client.exportTrack(videoId, trackId, 'json')).data).toString());
  assert.equal(json.video_id, videoId);
  assert.equal(json.track_id, trackId);
  assert.equal(json.body_model, faces.body_model);
  assert.ok(json.frames.length >= 1);
  assert.ok(json.frames.every((frame) => frame.frame_number >= 0 && frame.frame_number <= 3));
  assertMeasured(json.measurements);

  await assert.rejects(client.exportTrack(videoId, trackId, 'xyz'), { status: 400, code: 'invalid_field' });
  await assert.rejects(client.exportTrack(videoId, trackId + 100, 'obj'), { status: 404, code: 'track_not_found' });
});

test('photos of a person: one body, its measurements and mesh', async () => {
  const measured = await client.measurePhotos([astronaut], { height_cm: HEIGHT_CM });
  assert.equal(measured.photos, 1);
  assert.equal(measured.photos_used, 1);
  assert.equal(measured.scale, 'given');
  assert.equal(measured.sex_given, null);
  assertMeasured(measured);
  assert.ok(measured.body_params.shape.length >= 6);
  assert.deepEqual(measured.mesh_faces_data, fullFaces.mesh_faces_data);
  assert.equal(measured.mesh_vertices_data.length, fullFaces.vertex_count);
  await assert.rejects(client.measurePhotos([]), { status: 400, code: 'invalid_field' });
});
