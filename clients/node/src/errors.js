/**
 * What the client throws: the service's own errors (PoseServiceError), failures to reach it
 * (PoseConnectionError), and batch jobs that ended without a result (PoseJobError).
 */

/**
 * The service answered with an error status. `code` and `message` come from its JSON body,
 * `{"error": "<message>", "code": "<stable code>"}` (the README's error table); an answer that is not such JSON
 * (a proxy's error page) gets `code` "http_error" and the start of its text as the message.
 */
export class PoseServiceError extends Error {
  /**
   * @param {number} status HTTP status
   * @param {string} code the service's stable error code
   * @param {string} message the service's description
   * @param {{method: string, url: string, retryAfterS: number | null}} request what was asked, and the answer's
   *   `Retry-After` in seconds (503s carry one)
   */
  constructor(status, code, message, { method, url, retryAfterS }) {
    super(message);
    this.name = 'PoseServiceError';
    this.status = status;
    this.code = code;
    this.method = method;
    this.url = url;
    this.retryAfterS = retryAfterS;
  }
}

/** The service could not be reached, or did not answer within the client's `timeoutMs` (`timedOut`). */
export class PoseConnectionError extends Error {
  /**
   * @param {string} method
   * @param {string} url
   * @param {unknown} cause what fetch threw
   * @param {number} timeoutMs the client's per-request limit
   */
  constructor(method, url, cause, timeoutMs) {
    const timedOut = cause instanceof Error && cause.name === 'TimeoutError';
    const reason = timedOut ? `no answer within ${timeoutMs} ms` : describeCause(cause);
    super(`${method} ${url}: ${reason}`, { cause });
    this.name = 'PoseConnectionError';
    this.method = method;
    this.url = url;
    this.timedOut = timedOut;
  }
}

/** A batch job that ended `failed` or `cancelled`; `job` is its last `GET /jobs/<id>` answer. */
export class PoseJobError extends Error {
  /** @param {import('../index.js').Job} job */
  constructor(job) {
    super(`job ${job.job_id} ${job.status}${job.error ? `: ${job.error}` : ''}`);
    this.name = 'PoseJobError';
    this.job = job;
  }
}

/** fetch's "fetch failed" says little: the reason (ECONNREFUSED, ENOTFOUND, ...) is in its cause. */
function describeCause(cause) {
  const inner = cause instanceof Error ? cause.cause : undefined;
  if (inner instanceof Error) return /** @type {any} */ (inner).code ?? inner.message;
  return cause instanceof Error ? cause.message : String(cause);
}
