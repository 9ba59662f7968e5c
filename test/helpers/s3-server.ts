/**
 * A real S3 API for tests: s3rver on 127.0.0.1 (scripts/lib/s3rver.js, shared with the
 * benchmarks). Each test file starts its own, so CI needs no separate service.
 */
import { startS3rver, type S3rverInstance } from '../../scripts/lib/s3rver.js';

export type S3TestServer = S3rverInstance;

/**
 * Starts s3rver with one bucket and points the AWS SDK's credential chain at its fixed keys.
 *
 * @example
 * let server: S3TestServer;
 * beforeAll(async () => { server = await startS3Server(); });
 * afterAll(() => server.stop());
 */
export function startS3Server(bucket = 'fkd-test'): Promise<S3TestServer> {
  return startS3rver({ bucket });
}
