/**
 * s3rver with a key pair of our choosing, for tests that must prove a credential never leaks.
 * s3rver's built-in pair is `S3RVER`/`S3RVER`: one short word for both halves, so a leak of the
 * secret could not be told from a leak of the key id. Here two distinct, unmistakable strings
 * are registered with the server before it starts.
 */
import { startS3rver, type S3rverInstance } from '../../scripts/lib/s3rver.js';

export type KeyedS3Server = S3rverInstance;

/**
 * @example
 * const server = await startKeyedS3Server();
 * await runCli(['info', `s3://${server.bucket}/x`], { env: server.env });
 */
export function startKeyedS3Server(options: { bucket?: string; accessKeyId?: string; secretAccessKey?: string } = {}): Promise<KeyedS3Server> {
  return startS3rver({
    bucket: options.bucket ?? 'fkd-keyed',
    accessKeyId: options.accessKeyId ?? 'AKIAFKDTESTKEY7Q2Z9X',
    secretAccessKey: options.secretAccessKey ?? 'fkdSecret+Never/Print+ThisValue0123456789',
  });
}
