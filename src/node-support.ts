// Which Node.js releases fkd supports, and the one notice it prints on the others.
//
// Node 20 reached end of life on 2026-04-30 and the AWS SDK v3 then started printing a
// multi-line NodeVersionSupportWarning from every S3 client it builds. fkd says it once, in
// one line of its own, and asks the SDK (through the switch the SDK documents) to stay quiet.

/** Node.js major versions fkd is tested on and supports. */
export const SUPPORTED_NODE_MAJORS: readonly number[] = [22, 24];

/** The environment switch the AWS SDK for JavaScript v3 reads before warning about Node. */
export const AWS_NODE_WARNING_SWITCH = 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED';

const END_OF_LIFE: Readonly<Record<number, string>> = { 18: '2025-04-30', 20: '2026-04-30', 21: '2024-06-01', 23: '2025-06-01', 25: '2026-06-01' };

/**
 * The one-line notice for a Node.js version past its end of life, or undefined for a supported one.
 *
 * @example
 * endOfLifeNotice('v20.20.2'); // 'fkd: Node.js v20.20.2 is past end of life (2026-04-30); …'
 * endOfLifeNotice('v24.1.0');  // undefined
 */
export function endOfLifeNotice(version: string = process.version): string | undefined {
  const major = Number(/^v?(\d+)\./.exec(version)?.[1]);
  const ended = END_OF_LIFE[major];
  if (ended === undefined) return undefined;
  return `fkd: Node.js ${version} is past end of life (${ended}); fkd supports Node ${SUPPORTED_NODE_MAJORS.join(' and ')}, please upgrade.`;
}

let noticed = false;

/**
 * Writes the end-of-life notice through `write` the first time it is called in a process on an
 * unsupported Node.js, and never again (the CLI passes stderr; the S3 driver a process warning).
 */
export function noticeEndOfLife(write: (line: string) => void, version: string = process.version): void {
  if (noticed) return;
  noticed = true;
  const notice = endOfLifeNotice(version);
  if (notice !== undefined) write(notice);
}

/**
 * Turns off the AWS SDK's own Node.js version warning, unless the user set the switch
 * themselves. Call before constructing an S3 client: the SDK reads it at construction.
 */
export function quietAwsNodeWarning(env: NodeJS.ProcessEnv = process.env): void {
  env[AWS_NODE_WARNING_SWITCH] ??= 'true';
}
