/** The pose service's Node.js client: see README.md; types in index.d.ts. */
export { DEFAULT_URL, PoseClient } from './src/client.js';
export { PoseConnectionError, PoseJobError, PoseServiceError } from './src/errors.js';
