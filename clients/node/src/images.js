/**
 * Images as the service takes them: base64 text in JSON (`image_base64`), or a Blob in a multipart upload.
 */

/**
 * The `image_base64` of an image: a string is taken to be base64 already (with or without a
 * `data:image/...;base64,` prefix) and sent as it is; bytes (a Buffer, any typed array, an ArrayBuffer) are an
 * encoded file (JPEG, PNG, WebP, BMP), or raw pixels when the request gives `width`, `height` and `pixel_format`.
 *
 * @param {string | ArrayBufferView | ArrayBuffer} image
 * @returns {string}
 */
export function toBase64(image) {
  if (typeof image === 'string') return image;
  if (image instanceof ArrayBuffer) return Buffer.from(image).toString('base64');
  if (ArrayBuffer.isView(image)) {
    return Buffer.from(image.buffer, image.byteOffset, image.byteLength).toString('base64');
  }
  throw new TypeError(`an image is a base64 string, a Buffer, a typed array or an ArrayBuffer, not ${describe(image)}`);
}

/**
 * A Blob of a file's bytes, for a multipart upload.
 *
 * @param {Blob | ArrayBufferView | ArrayBuffer} data
 * @returns {Blob}
 */
export function toBlob(data) {
  if (data instanceof Blob) return data;
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return new Blob([data]);
  throw new TypeError(`a video is a Blob, a Buffer, a typed array or an ArrayBuffer, not ${describe(data)}`);
}

function describe(value) {
  return value === null ? 'null' : typeof value === 'object' ? value.constructor?.name ?? 'an object' : typeof value;
}
