export interface S3rverInstance {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  bucket: string;
  /** Where s3rver keeps the bucket's objects. */
  directory: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Credentials for a child process that should talk to this server. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export function startS3rver(options?: { bucket?: string; accessKeyId?: string; secretAccessKey?: string }): Promise<S3rverInstance>;
