// The client's own HTTP behaviour (retries, headers, errors that are not the service's), against tiny local HTTP
// servers that answer as a script says: the service cannot be made to answer 503 on cue.

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, test } from 'node:test';

import { PoseClient, PoseConnectionError, PoseJobError, PoseServiceError } from '../index.js';

const servers = [];
after(() => Promise.all(servers.map((server) => new Promise((resolve) => {
  server.close(resolve);
  server.closeAllConnections(); // the timeout test's request is never answered
}))));

/**
 * A server on a free loopback port that answers its n-th request with `answers[n]` (the last one after that):
 * `{status, headers?, body}`, a body object being sent as JSON. Resolves to its URL and the requests it saw.
 */
async function scripted(answers) {
  const requests = [];
  const server = createServer(async (request, response) => {
    const chunks = [];
    for await (const chunk of request) chunks.push(chunk);
    const body = Buffer.concat(chunks).toString();
    requests.push({ method: request.method, url: request.url, headers: request.headers, body });
    if (!answers.length) return; // never answers: for timeouts
    const answer = answers[Math.min(requests.length, answers.length) - 1];
    const isText = typeof answer.body === 'string';
    response.writeHead(answer.status, { 'Content-Type': isText ? 'text/html' : 'application/json', ...answer.headers });
    response.end(isText ? answer.body : JSON.stringify(answer.body));
  });
  servers.push(server);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, requests };
}

const notReady = (retryAfter) => ({
  status: 503,
  headers: retryAfter === undefined ? {} : { 'Retry-After': retryAfter },
  body: { error: 'models are loading', code: 'not_ready' },
});
const session = { status: 200, body: { video_id: 'clip-1', frames_seen: 3 } };

test('a 503 is retried after its Retry-After, and the answer that follows is returned', async () => {
  const answer = { status: 200, body: { frame_number: 7, people: [] } };
  const { url, requests } = await scripted([notReady('0'), notReady('0'), answer]);
  const result = await new PoseClient({ url }).pose(Buffer.from('jpeg bytes'), { frame_number: 7, video_id: 'clip-1' });
  assert.deepEqual(result, { frame_number: 7, people: [] });
  assert.equal(requests.length, 3);
  const bodies = requests.map((request) => JSON.parse(request.body));
  for (const body of bodies) {
    assert.deepEqual(body,
      { frame_number: 7, video_id: 'clip-1', image_base64: Buffer.from('jpeg bytes').toString('base64') });
  }
  assert.ok(requests.every((request) => request.method === 'POST' && request.url === '/pose/hybrid'
    && request.headers['content-type'] === 'application/json'));
});

test('images go as base64: a string as it is, bytes of any kind encoded', async () => {
  const { url, requests } = await scripted([{ status: 200, body: { people: [] } }]);
  const client = new PoseClient({ url });
  const bytes = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 0xff, 0xd9]);
  const padded = new Uint8Array([9, 9, ...bytes, 9]); // a view into a larger buffer
  const dataUrl = `data:image/jpeg;base64,${bytes.toString('base64')}`;
  for (const image of [bytes, padded.subarray(2, 2 + bytes.length), new Uint8Array(bytes).buffer, dataUrl]) {
    await client.pose(image, { frame_number: 0 });
  }
  assert.deepEqual(requests.map((request) => JSON.parse(request.body).image_base64),
    [...Array(3).fill(bytes.toString('base64')), dataUrl]);
  await assert.rejects(client.pose({ path: 'frame.jpg' }, { frame_number: 0 }), TypeError);
  assert.equal(requests.length, 4);
});

test('the wait before a retry is the Retry-After', async () => {
  const { url } = await scripted([notReady('1'), session]);
  const started = performance.now();
  assert.deepEqual(await new PoseClient({ url }).session('clip-1'), session.body);
  assert.ok(performance.now() - started >= 950, `retried after ${performance.now() - started} ms`);
});

test('without a Retry-After, waits grow but stay under maxRetryDelayMs', async () => {
  const { url, requests } = await scripted([notReady(), notReady(), session]);
  const started = performance.now();
  await new PoseClient({ url, maxRetryDelayMs: 50 }).session('clip-1');
  assert.equal(requests.length, 3);
  assert.ok(performance.now() - started < 900, 'waited the uncapped 1 + 2 s');
});

test('retries are bounded: the last 503 is thrown as a PoseServiceError', async () => {
  const { url, requests } = await scripted([notReady('0')]);
  const refused = new PoseClient({ url, retries: 2 }).job('3f2a');
  await assert.rejects(refused, (error) => error instanceof PoseServiceError && error.status === 503
    && error.code === 'not_ready' && error.message === 'models are loading' && error.retryAfterS === 0
    && error.method === 'GET' && error.url === `${url}/jobs/3f2a`);
  assert.equal(requests.length, 3);
});

test('neither model_failed (it lasts until a restart) nor a 4xx is retried', async () => {
  const failed = await scripted(
    [{ status: 503, headers: { 'Retry-After': '0' }, body: { error: 'no weights', code: 'model_failed' } }]);
  await assert.rejects(new PoseClient({ url: failed.url }).meshFaces(), { status: 503, code: 'model_failed' });
  assert.equal(failed.requests.length, 1);
  const missing = await scripted(
    [{ status: 404, body: { error: "no session for video 'x'", code: 'session_not_found' } }]);
  await assert.rejects(new PoseClient({ url: missing.url }).session('x'), { status: 404, code: 'session_not_found' });
  assert.equal(missing.requests.length, 1);
});

test('the token goes in Authorization: Bearer, on every route', async () => {
  const { url, requests } = await scripted([session]);
  await new PoseClient({ url, token: 's3cret' }).session('clip 1/a');
  await new PoseClient({ url, token: 's3cret' }).health();
  await new PoseClient({ url }).session('clip-1');
  assert.deepEqual(requests.map((request) => request.headers.authorization),
    ['Bearer s3cret', 'Bearer s3cret', undefined]);
  assert.equal(requests[0].url, '/sessions/clip%201%2Fa');
});

test("an answer that is not the service's JSON error is an http_error", async () => {
  const { url } = await scripted([{ status: 502, body: '<html><body>Bad Gateway</body></html>' }]);
  await assert.rejects(new PoseClient({ url }).session('clip-1'), (error) => error instanceof PoseServiceError
    && error.status === 502 && error.code === 'http_error' && error.message.includes('Bad Gateway'));
});

test('no answer within timeoutMs, and no service at all, are PoseConnectionErrors', async () => {
  const { url } = await scripted([]);
  await assert.rejects(new PoseClient({ url, timeoutMs: 200 }).health(),
    (error) => error instanceof PoseConnectionError && error.timedOut && error.message.includes('200 ms'));
  const closed = await scripted([session]);
  await new Promise((resolve) => servers.pop().close(resolve));
  await assert.rejects(new PoseClient({ url: closed.url }).health(),
    (error) => error instanceof PoseConnectionError && !error.timedOut && error.message.includes('ECONNREFUSED'));
  await assert.rejects(new PoseClient({ url: closed.url }).waitUntilReady({ timeoutMs: 100, intervalMs: 20 }),
    /not ready after 100 ms \(GET .* ECONNREFUSED\)/);
});

test('waitForJob reports each poll, and a job that failed is a PoseJobError carrying it', async () => {
  const job = (status, framesDone, error = null) => ({ status: 200, body: { job_id: 'j1', status,
    progress: { frames_done: framesDone, frames_total: 3 }, error, result: null } });
  const { url, requests } = await scripted(
    [job('queued', 0), job('running', 2), job('failed', 2, 'the result is over 256 MiB')]);
  const progress = [];
  const onProgress = (p) => progress.push(p.frames_done);
  await assert.rejects(new PoseClient({ url }).waitForJob('j1', { pollIntervalMs: 1, onProgress }),
    (error) => error instanceof PoseJobError && error.job.status === 'failed'
      && error.message === 'job j1 failed: the result is over 256 MiB');
  assert.deepEqual(progress, [0, 2, 2]);
  assert.ok(requests.every((request) => request.url === '/jobs/j1'));
});
