/**
 * An image stored as one member of a tar shard: `length` bytes from `offset`, either in a
 * local file (read by range where it is decoded, on a render thread or not) or already
 * fetched (`bytes`, from object storage). `hash` is the content hash the shard's index gives
 * it, which the label pass checks before it labels the image.
 */
export interface ImageMember {
  /** The shard, for messages: its path or URL. */
  shard: string;
  file?: string;
  bytes?: Uint8Array;
  offset: number;
  length: number;
  hash: string;
}

/** Where an image's bytes are: a file's path, or a member of a tar shard. */
export type ImageLocation = string | ImageMember;

/**
 * Where the bytes of a dataset's images are, when they are not files under `Dataset.root`:
 * a shard set gives each image as a member of a tar shard.
 */
export interface ImageSource {
  /** The image stored under `path` (a path of `Dataset.images`). */
  locate(path: string, signal?: AbortSignal): Promise<ImageLocation>;
}
