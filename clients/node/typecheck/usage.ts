// Compiled by `npm run typecheck` (tsc, never run): the declarations in index.d.ts are coherent and describe the
// calls README.md shows; each @ts-expect-error is a misuse they must refuse.

import { readFile } from 'node:fs/promises';

import {
  PoseClient, PoseConnectionError, PoseJobError, PoseServiceError,
  type BatchResult, type ExportedFile, type Health, type Job, type Keypoint, type PoseResponse, type TrackExport,
} from 'pose-service-client';

export async function usage(): Promise<void> {
  const client = new PoseClient({ url: 'http://127.0.0.1:5000', token: 't', timeoutMs: 60_000, retries: 5 });
  const health: Health = await client.waitUntilReady();
  if (health.status === 'error') throw new Error(health.error ?? '');

  const jpeg = await readFile('frame.jpg');
  const frame: PoseResponse = await client.pose(jpeg, { frame_number: 0, video_id: 'clip-1', include_faces: false });
  const nose: Keypoint | undefined = frame.people[0]?.keypoints.find((k) => k.name === 'nose');
  const depth: number | undefined = frame.people[0]?.camera_translation?.[2];
  await client.pose(jpeg.toString('base64'), { frame_number: 1, height_cm: { '1': 172 } });
  await client.pose(new Uint8Array(640 * 480 * 3), { frame_number: 2, width: 640, height: 480, pixel_format: 'rgb24' });
  // @ts-expect-error frame_number is required
  await client.pose(jpeg, { video_id: 'clip-1' });
  // @ts-expect-error not a keypoint name
  frame.keypoints.find((k) => k.name === 'left_hand');

  const submitted = await client.submitBatch([jpeg, { image: jpeg, frame_number: 5 }], { async: true, smooth: false });
  if ('job_id' in submitted) {
    const job: Job = await client.waitForJob(submitted.job_id, { onProgress: (p) => p.frames_done / p.frames_total });
    const coverage: number | null | undefined = job.result?.summary.coverage;
    for await (const page of client.iterateJobFrames(submitted.job_id, { pageSize: 50 })) page.people.length;
    void coverage;
  } else {
    const inline: BatchResult = submitted;
    inline.summary.track_ids.length;
  }
  const fromVideo: BatchResult = await client.batchVideo(new Blob([jpeg]), { max_frames: 300, height_cm: 180 });
  // @ts-expect-error a form field carries one height, not a height per track
  await client.submitVideo(jpeg, { height_cm: { '1': 172 } });

  const session = await client.session('clip-1');
  const confirmed = session.tracks.filter((t) => t.state === 'confirmed').length;
  const measured = await client.measurements('clip-1');
  const chest: number | null | undefined = measured.tracks[0]?.measurements_cm.chest;
  const avatar = await client.measurePhotos([jpeg, jpeg], { height_cm: 172, sex: 'female' });
  avatar.mesh_vertices_data.length;
  const file: ExportedFile = await client.exportTrack('clip-1', 1, 'glb');
  const parsed = JSON.parse(Buffer.from((await client.exportTrack('clip-1', 1, 'json')).data).toString()) as TrackExport;
  // @ts-expect-error not an export format
  await client.exportTrack('clip-1', 1, 'fbx');
  (await client.meshFaces('anny')).mesh_faces_data[0]?.[2];
  (await client.meshFaces(undefined, { meshResolution: 'low', meshEncoding: 'base64_float32' })).vertex_indices?.[0];
  await client.deleteSession('clip-1');

  try {
    await client.job('j');
  } catch (error) {
    if (error instanceof PoseServiceError && error.code === 'job_not_found' && error.status === 404) return;
    if (error instanceof PoseConnectionError && error.timedOut) return;
    if (error instanceof PoseJobError) error.job.progress.frames_done;
  }
  void [nose, depth, fromVideo, confirmed, chest, file, parsed];
}
