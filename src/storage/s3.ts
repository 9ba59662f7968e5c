/**
 * A label store in an S3 bucket (or anything that speaks the S3 API), at `s3://bucket/prefix`.
 *
 * Reliability comes from the AWS SDK's own retry strategy (`maxAttempts`, standard or adaptive
 * mode, jittered exponential backoff) plus request timeouts, so 5xx answers, stalls and reset
 * connections are retried without code of ours. One gap remains: the SDK's retry loop ends when
 * the response headers arrive, so a connection that drops while a GetObject body streams fails in
 * our hands. `get`/`getRange` therefore re-issue the request themselves in that one case.
 *
 * `put` is atomic because S3 is: a single PutObject, and a multipart upload, become visible only
 * when complete. No temp objects are written.
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type GetObjectCommandOutput,
  type ListObjectsV2CommandOutput,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { setTimeout as sleep } from 'node:timers/promises';
import { FkdError } from '../errors.js';
import { claimObject } from './claim.js';
import type { StoreDriver } from './driver.js';
import { checkKey } from './keys.js';
import { noticeEndOfLife, quietAwsNodeWarning } from '../node-support.js';

/** Used only when neither the options, `AWS_REGION` nor the shared config file name a region. */
export const DEFAULT_REGION = 'us-east-1';

export interface S3StoreOptions {
  /** S3-compatible endpoint such as `http://127.0.0.1:9000`. Defaults to `AWS_ENDPOINT_URL_S3`, then `AWS_ENDPOINT_URL`. */
  endpoint?: string | undefined;
  /** Address buckets as `endpoint/bucket` rather than `bucket.endpoint`. On by default when an endpoint is set. */
  forcePathStyle?: boolean | undefined;
  /** Overrides the SDK's region chain (`AWS_REGION`, shared config file). */
  region?: string | undefined;
  /** Attempts per request, first try included. Default `AWS_MAX_ATTEMPTS`, else 5. */
  maxAttempts?: number | undefined;
  /** `adaptive` also rate-limits the client when the service throttles. Default `AWS_RETRY_MODE`, else `standard`. */
  retryMode?: 'standard' | 'adaptive' | undefined;
  /** Time allowed to open a TCP connection. Default `FKD_S3_CONNECT_TIMEOUT_MS`, else 5 s. */
  connectionTimeoutMs?: number | undefined;
  /** Time allowed until response headers arrive, and for any silence while a body streams. Default `FKD_S3_REQUEST_TIMEOUT_MS`, else 60 s. */
  requestTimeoutMs?: number | undefined;
  /** Multipart part size for `put`; bodies up to this size go in one PutObject. Default and minimum 5 MiB. */
  partSize?: number | undefined;
  /** Keys per ListObjectsV2 page. Default 1000, the S3 maximum. */
  listPageSize?: number | undefined;
}

const MIN_PART_SIZE = 5 * 1024 * 1024;

type Action = 'read' | 'write' | 'stat' | 'list' | 'delete';

/**
 * Splits an `s3://bucket/prefix` URL. A trailing slash is ignored; the prefix must be a valid
 * store key itself, so a manifest can never name `s3://bucket/../elsewhere`.
 *
 * @example
 * parseS3Url('s3://labels/imagenet/v1/'); // { bucket: 'labels', prefix: 'imagenet/v1' }
 */
export function parseS3Url(location: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([^/]*)\/?(.*)$/i.exec(location);
  const bucket = match?.[1] ?? '';
  const prefix = (match?.[2] ?? '').replace(/\/+$/, '');
  const validPrefix = prefix === '' || isValidKey(prefix);
  if (!/^[A-Za-z0-9._-]+$/.test(bucket) || !validPrefix) {
    throw new FkdError('E_USAGE', `Expected a store URL like s3://bucket/prefix but received "${location}".`, { path: location });
  }
  return { bucket, prefix };
}

/**
 * A `StoreDriver` on S3 via `@aws-sdk/client-s3` v3. Credentials come from the SDK's standard
 * chain (environment, shared files, SSO, instance/task roles); they are never logged or copied
 * into errors.
 *
 * @example
 * const store = new S3Store('s3://my-bucket/labels/run-1', { maxAttempts: 8 });
 * await store.put('manifest.json', bytes);
 * const header = await store.getRange('shards/00000.fkd', 0, 64);
 * store.close();
 */
export class S3Store implements StoreDriver {
  readonly location: string;
  readonly bucket: string;
  readonly prefix: string;
  private readonly client: S3Client;
  private readonly maxAttempts: number;
  private readonly partSize: number;
  private readonly listPageSize: number;
  /** Endpoint without user info, for messages. */
  private readonly endpointNote: string;

  constructor(location: string, options: S3StoreOptions = {}) {
    const { bucket, prefix } = parseS3Url(location);
    this.bucket = bucket;
    this.prefix = prefix;
    this.location = prefix === '' ? `s3://${bucket}` : `s3://${bucket}/${prefix}`;
    // Passing these explicitly would hide the SDK's own env settings, so read them here.
    this.maxAttempts = positiveInteger(options.maxAttempts ?? (Number(process.env['AWS_MAX_ATTEMPTS']) || 5), 'maxAttempts');
    const retryMode = options.retryMode ?? (process.env['AWS_RETRY_MODE'] === 'adaptive' ? 'adaptive' : 'standard');
    this.partSize = Math.max(MIN_PART_SIZE, positiveInteger(options.partSize ?? MIN_PART_SIZE, 'partSize'));
    this.listPageSize = Math.min(1000, positiveInteger(options.listPageSize ?? 1000, 'listPageSize'));
    // The SDK has no environment variables for timeouts; these let a CLI run or a Job tune them.
    const requestTimeout = positiveInteger(options.requestTimeoutMs ?? fromEnvironment('FKD_S3_REQUEST_TIMEOUT_MS') ?? 60_000, 'requestTimeoutMs (or FKD_S3_REQUEST_TIMEOUT_MS)');
    const connectionTimeout = positiveInteger(options.connectionTimeoutMs ?? fromEnvironment('FKD_S3_CONNECT_TIMEOUT_MS') ?? 5_000, 'connectionTimeoutMs (or FKD_S3_CONNECT_TIMEOUT_MS)');

    // An empty AWS_ENDPOINT_URL is "unset" for humans, so `||` rather than `??`.
    const endpoint = options.endpoint || process.env['AWS_ENDPOINT_URL_S3'] || process.env['AWS_ENDPOINT_URL'] || undefined;
    this.endpointNote = endpoint === undefined ? '' : ` at ${withoutUserInfo(endpoint)}`;
    const config: S3ClientConfig = {
      region: options.region ?? regionOrDefault(),
      maxAttempts: this.maxAttempts,
      retryMode,
      requestHandler: {
        connectionTimeout,
        requestTimeout,
        // Without this flag the SDK only logs a warning when requestTimeout passes.
        throwOnRequestTimeout: true,
        // Idle timeout: catches a body that stops mid-stream after the headers arrived.
        socketTimeout: requestTimeout,
      },
      // Custom endpoints (MinIO, s3rver, Ceph...) rarely have wildcard DNS for virtual hosts.
      forcePathStyle: options.forcePathStyle ?? endpoint !== undefined,
      // With the us-east-1 fallback below, a bucket elsewhere answers 301; follow it once.
      followRegionRedirects: true,
    };
    if (endpoint !== undefined) config.endpoint = endpoint;
    // On an end-of-life Node the SDK prints a multi-line warning; fkd says it once, in one line.
    quietAwsNodeWarning();
    noticeEndOfLife((line) => process.emitWarning(line, { code: 'FKD_NODE_END_OF_LIFE' }));
    this.client = new S3Client(config);
  }

  async get(key: string): Promise<Uint8Array> {
    const objectKey = this.objectKey(key);
    const { bytes } = await this.fetch(objectKey, undefined);
    return bytes;
  }

  async getRange(key: string, offset: number, length: number): Promise<Uint8Array> {
    const objectKey = this.objectKey(key);
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
      throw new FkdError('E_USAGE', `Expected non-negative integers for offset and length but received ${offset} and ${length}.`, { path: this.url(objectKey) });
    }
    // "bytes=a-(a-1)" is not a valid range; an empty read only has to prove the object exists.
    if (length === 0) {
      if ((await this.head(key)) === null) throw missing('read', this.url(objectKey));
      return new Uint8Array(0);
    }
    const last = offset + length - 1;
    const { bytes, contentRange } = await this.fetch(objectKey, { offset, last });
    // A server that ignores Range answers 200 with the whole object: the body starts at 0.
    const start = contentRange === undefined ? 0 : Number(/^bytes (\d+)-/.exec(contentRange)?.[1] ?? Number.NaN);
    if (start !== 0 && start !== offset) {
      throw new FkdError('E_STORE', `${this.url(objectKey)}: asked for bytes ${offset}..${last}, the server sent "${contentRange}". The endpoint${this.endpointNote} does not handle ranged reads correctly.`, { path: this.url(objectKey) });
    }
    // Some servers send more than asked (s3rver reads "bytes=0-0" as "from 0 to the end").
    const slice = bytes.subarray(offset - start, offset - start + length);
    if (slice.length !== length) throw tooShort(this.url(objectKey), offset, last, slice.length);
    return slice;
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    const objectKey = this.objectKey(key);
    try {
      // Upload sends one PutObject up to partSize, else a multipart upload (aborted on failure).
      await new Upload({ client: this.client, params: { Bucket: this.bucket, Key: objectKey, Body: data }, partSize: this.partSize, queueSize: 4 }).done();
    } catch (error) {
      throw this.failure(error, 'write', objectKey);
    }
  }

  /**
   * Exclusive by `claimObject`'s marks, which need only S3's read-after-write consistency, so
   * it holds on servers that ignore `If-None-Match` (s3rver, older S3-compatible stores). The
   * final write is still a conditional PutObject: S3 answers 412 when the key exists and 409
   * when another conditional write to it is in flight; `claimObject` takes either as a lost
   * claim once the object is there, and retries while it is not.
   */
  async putIfAbsent(key: string, data: Uint8Array): Promise<boolean> {
    return claimObject(this, (created, bytes) => this.putConditional(created, bytes), key, data);
  }

  private async putConditional(key: string, data: Uint8Array): Promise<boolean> {
    const objectKey = this.objectKey(key);
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: objectKey, Body: data, IfNoneMatch: '*' }));
      return true;
    } catch (error) {
      const status = statusOf(error);
      if (status === 412 || status === 409 || nameOf(error) === 'PreconditionFailed' || nameOf(error) === 'ConditionalRequestConflict') return false;
      throw this.failure(error, 'write', objectKey);
    }
  }

  async head(key: string): Promise<{ size: number } | null> {
    const objectKey = this.objectKey(key);
    try {
      const output = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: objectKey }));
      return { size: output.ContentLength ?? 0 };
    } catch (error) {
      // HEAD answers carry no body, so a missing bucket also looks like a plain 404 here.
      if (statusOf(error) === 404) return null;
      throw this.failure(error, 'stat', objectKey);
    }
  }

  async list(prefix: string): Promise<Array<{ key: string; size: number }>> {
    const root = this.prefix === '' ? '' : `${this.prefix}/`;
    const found: Array<{ key: string; size: number }> = [];
    let token: string | undefined;
    do {
      let page: ListObjectsV2CommandOutput;
      try {
        page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: root + prefix, MaxKeys: this.listPageSize, ...(token === undefined ? {} : { ContinuationToken: token }) }));
      } catch (error) {
        throw this.failure(error, 'list', root + prefix);
      }
      for (const object of page.Contents ?? []) {
        const key = object.Key?.slice(root.length);
        // Console "folder" markers (`dir/`) and keys other tools wrote (`a//b`) cannot be read
        // through this driver, so listing them would only hand callers keys that fail later.
        if (key !== undefined && isValidKey(key)) found.push({ key, size: object.Size ?? 0 });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
      if (page.IsTruncated && token === undefined) {
        throw new FkdError('E_STORE', `Cannot list ${this.url(root + prefix)}: the endpoint${this.endpointNote} said the listing was truncated but gave no continuation token.`, { path: this.url(root + prefix) });
      }
    } while (token !== undefined);
    // S3 orders by UTF-8 bytes, JavaScript by UTF-16 units; sort so every driver agrees.
    return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    const objectKey = this.objectKey(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: objectKey }));
    } catch (error) {
      throw this.failure(error, 'delete', objectKey);
    }
  }

  /** Closes pooled connections. The store must not be used afterwards. */
  close(): void {
    this.client.destroy();
  }

  private objectKey(key: string): string {
    checkKey(key);
    return this.prefix === '' ? key : `${this.prefix}/${key}`;
  }

  /** The store's own key for an S3 object key: without this store's prefix, as callers named it. */
  private storeKeyOf(objectKey: string): string {
    return this.prefix !== '' && objectKey.startsWith(`${this.prefix}/`) ? objectKey.slice(this.prefix.length + 1) : objectKey;
  }

  private url(objectKey: string): string {
    return `s3://${this.bucket}/${objectKey}`;
  }

  /** GetObject and read the whole body, re-issuing the request when the body breaks off. */
  private async fetch(objectKey: string, range: { offset: number; last: number } | undefined): Promise<{ bytes: Uint8Array; contentRange: string | undefined }> {
    for (let attempt = 1; ; attempt += 1) {
      let output: GetObjectCommandOutput;
      try {
        output = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: objectKey, ...(range === undefined ? {} : { Range: `bytes=${range.offset}-${range.last}` }) }));
      } catch (error) {
        if (range !== undefined && (statusOf(error) === 416 || nameOf(error) === 'InvalidRange')) {
          throw tooShort(this.url(objectKey), range.offset, range.last, 0);
        }
        throw this.failure(error, 'read', objectKey);
      }
      try {
        if (output.Body === undefined) throw new Error('The response had no body.');
        const bytes = await output.Body.transformToByteArray();
        if (output.ContentLength !== undefined && bytes.length !== output.ContentLength) {
          throw new Error(`The body ended after ${bytes.length} of ${output.ContentLength} bytes.`);
        }
        return { bytes, contentRange: output.ContentRange };
      } catch (error) {
        if (attempt >= this.maxAttempts) throw this.failure(error, 'read', objectKey, attempt);
        await sleep(Math.random() * Math.min(2_000, 50 * 2 ** attempt));
      }
    }
  }

  /** Turns an SDK error into an FkdError that names the object and the next step. */
  private failure(error: unknown, action: Action, objectKey: string, attempts?: number): FkdError {
    if (error instanceof FkdError) return error;
    const url = this.url(objectKey);
    const name = nameOf(error);
    const status = statusOf(error);
    const cause = sanitized(error);
    if (name === 'NoSuchKey' || (status === 404 && action === 'read' && name !== 'NoSuchBucket')) return missing(action, url, cause);
    if (name === 'NoSuchBucket') {
      return new FkdError('E_STORE', `Cannot ${action} ${url}: bucket "${this.bucket}" does not exist${this.endpointNote}. Check the s3:// URL and the endpoint.`, { cause, path: url, key: this.storeKeyOf(objectKey), status });
    }
    if (name === 'CredentialsProviderError') {
      return new FkdError('E_STORE', `Cannot ${action} ${url}: no AWS credentials found. Set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where an instance or task role is available.`, { cause, path: url, key: this.storeKeyOf(objectKey), status });
    }
    if (status === 401 || status === 403 || DENIED.has(name)) {
      return new FkdError('E_STORE', `Access to ${url} was denied${this.endpointNote} (${name === 'Unknown' || name === 'Error' ? `HTTP ${status}` : name}). Check which credentials the AWS SDK picked up (AWS_PROFILE, AWS_ACCESS_KEY_ID, SSO, instance role) and that the bucket policy allows this ${action}.`, { cause, path: url, key: this.storeKeyOf(objectKey), status });
    }
    const what = `${name}${status === undefined ? '' : ` (HTTP ${status})`}: ${messageOf(error)}`;
    if (status !== undefined && status >= 400 && status < 500 && attempts === undefined) {
      return new FkdError('E_STORE', `The object store${this.endpointNote} refused to ${action} ${url}: ${what}. Retrying will not help; check the bucket, the endpoint and the store options.`, { cause, path: url, key: this.storeKeyOf(objectKey), status });
    }
    const tries = attempts ?? attemptsOf(error);
    return new FkdError(
      'E_STORE',
      `Cannot ${action} ${url} after ${tries} attempt${tries === 1 ? '' : 's'}: ${what}. The object store${this.endpointNote} was unreachable or kept failing; check the endpoint and the network, then re-run (raise maxAttempts for a flaky link).`,
      { cause, path: url, key: this.storeKeyOf(objectKey), status },
    );
  }
}

const DENIED = new Set(['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken', 'TokenRefreshRequired', 'AllAccessDisabled']);

function missing(action: Action, url: string, cause?: Error): FkdError {
  return new FkdError('E_IO', `Cannot ${action} ${url}. It does not exist.`, cause === undefined ? { path: url } : { cause, path: url });
}

function tooShort(url: string, offset: number, last: number, got: number): FkdError {
  return new FkdError('E_CORRUPT_SHARD', `${url} is shorter than expected: wanted bytes ${offset}..${last}, got ${got}. The object is truncated; re-run the command that wrote it.`, { path: url });
}

/**
 * SDK errors can carry server echoes such as `AWSAccessKeyId` or `StringToSign`; an FkdError's
 * cause may be printed with --verbose, so keep only the name, message and HTTP status.
 */
function sanitized(error: unknown): Error {
  const copy = new Error(messageOf(error));
  copy.name = nameOf(error);
  const status = statusOf(error);
  return status === undefined ? copy : Object.assign(copy, { statusCode: status });
}

function nameOf(error: unknown): string {
  return error instanceof Error ? error.name : 'Error';
}

function messageOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.length > 300 ? `${message.slice(0, 300)}...` : message;
}

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

function attemptsOf(error: unknown): number {
  return (error as { $metadata?: { attempts?: number } } | undefined)?.$metadata?.attempts ?? 1;
}

function isValidKey(key: string): boolean {
  try {
    checkKey(key);
    return true;
  } catch {
    return false;
  }
}

/** A number from an environment variable; unset or empty is `undefined`, anything else is validated by the caller. */
function fromEnvironment(name: string): number | undefined {
  const text = process.env[name];
  return text === undefined || text.trim() === '' ? undefined : Number(text);
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new FkdError('E_USAGE', `Expected positive integer for ${name} but received ${value}.`);
  }
  return value;
}

function withoutUserInfo(endpoint: string): string {
  try {
    const url = new URL(endpoint);
    url.username = '';
    url.password = '';
    return url.toString().replace(/\/$/, '');
  } catch {
    return '(unparsable endpoint)';
  }
}

/**
 * The SDK's own region chain, falling back to us-east-1 instead of failing with "Region is
 * missing": S3-compatible servers mostly ignore the region, and on AWS the client follows the
 * 301 that names the bucket's real region (`followRegionRedirects`).
 */
function regionOrDefault(): () => Promise<string> {
  let resolved: Promise<string> | undefined;
  return () => {
    resolved ??= (async () => {
      const probe = new S3Client({});
      try {
        return await probe.config.region();
      } catch {
        return DEFAULT_REGION;
      } finally {
        probe.destroy();
      }
    })();
    return resolved;
  };
}
