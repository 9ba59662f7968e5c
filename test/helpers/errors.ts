import { expect } from 'vitest';
import { FkdError } from '../../src/errors.js';

/** The FkdError code `run` throws, or 'none'; anything thrown that is not an FkdError fails the test. */
export function errorCode(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(FkdError);
    return (error as FkdError).code;
  }
  return 'none';
}

/** The FkdError code `run` rejects with, or 'accepted'; a rejection that is not an FkdError is rethrown. */
export async function rejectionCode(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
  } catch (error) {
    if (!(error instanceof FkdError)) throw error;
    return error.code;
  }
  return 'accepted';
}

/** The FkdError `run` throws; a test fails if it throws anything else or nothing. */
export function thrownError(run: () => unknown): FkdError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(FkdError);
    return error as FkdError;
  }
  throw new Error('expected an FkdError, but nothing was thrown');
}
