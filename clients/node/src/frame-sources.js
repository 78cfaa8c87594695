/**
 * Frames to post, in order, as encoded image files (Buffers): a video's, decoded by a spawned `ffmpeg`, or a
 * folder's images.
 */

import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

/** File types the service decodes (README, `POST /pose/hybrid`), by extension. */
const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.bmp']);

/**
 * The images of a folder, in natural name order (`frame_2.png` before `frame_10.png`); other files are ignored.
 *
 * @param {string} folder
 * @returns {AsyncGenerator<Buffer>}
 */
export async function* folderFrames(folder) {
  const names = (await readdir(folder)).filter((name) => IMAGE_EXTENSIONS.has(path.extname(name).toLowerCase()));
  names.sort(new Intl.Collator('en', { numeric: true }).compare);
  for (const name of names) yield await readFile(path.join(folder, name));
}

/**
 * A video's frames as JPEGs (ffmpeg's quality scale 2 of 31, near lossless), resampled to `fps` frames per
 * second when given; decoded as they are consumed (ffmpeg waits while a frame is being posted), and ffmpeg is
 * stopped when the consumer stops early.
 *
 * @param {string} file
 * @param {{fps?: number}} [options]
 * @returns {AsyncGenerator<Buffer>}
 */
export async function* videoFrames(file, { fps } = {}) {
  const args = ['-hide_banner', '-loglevel', 'error', '-nostdin', '-i', file, '-an',
    ...(fps ? ['-vf', `fps=${fps}`] : []), '-c:v', 'mjpeg', '-q:v', '2', '-f', 'mpjpeg', 'pipe:1'];
  const ffmpeg = spawn('ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr = [];
  ffmpeg.stderr.on('data', (chunk) => stderr.push(chunk));
  const exited = new Promise((resolve) => {
    ffmpeg.on('error', (error) => resolve({ error }));
    ffmpeg.on('close', (code) => resolve({ code }));
  });
  try {
    yield* multipartImages(ffmpeg.stdout);
    const { error, code } = await exited;
    if (error?.code === 'ENOENT') {
      throw new Error('ffmpeg was not found on the PATH: install it (Debian, Ubuntu: apt-get install ffmpeg)');
    }
    if (error) throw error;
    if (code !== 0) throw new Error(`ffmpeg exited with status ${code}: ${Buffer.concat(stderr).toString().trim()}`);
  } finally {
    ffmpeg.kill(); // the consumer stopped early (or ffmpeg has exited: then this does nothing)
  }
}

/**
 * The images of ffmpeg's multipart JPEG stream (`-f mpjpeg`): each part is `--ffmpeg\r\n`, headers including
 * `Content-length`, a blank line, then that many bytes of JPEG.
 *
 * @param {AsyncIterable<Buffer>} stream
 * @returns {AsyncGenerator<Buffer>}
 */
async function* multipartImages(stream) {
  let pending = Buffer.alloc(0);
  for await (const chunk of stream) {
    pending = Buffer.concat([pending, chunk]);
    for (;;) {
      const headEnd = pending.indexOf('\r\n\r\n');
      if (headEnd < 0) break;
      const length = Number(/content-length:\s*(\d+)/i.exec(pending.toString('latin1', 0, headEnd))?.[1]);
      if (Number.isNaN(length)) throw new Error('ffmpeg wrote a multipart JPEG part without a Content-length');
      const start = headEnd + 4;
      if (pending.length < start + length) break;
      yield pending.subarray(start, start + length);
      pending = pending.subarray(start + length);
    }
  }
}
