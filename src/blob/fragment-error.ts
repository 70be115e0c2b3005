// FragmentError: the one error class of the blob module, with a stable code
// (STYLE.md "Errors"). Callers branch on `code`: 'corrupt' sends the shard to
// the healer, 'not_found' means the fragment is missing, 'io' means the drive
// misbehaved. When a DiskError caused it, that error is chained as `cause`.

import { DiskError } from '../io/disk.js';

export type FragmentErrorCode = 'corrupt' | 'not_found' | 'io';

export class FragmentError extends Error {
  override readonly name = 'FragmentError';
  constructor(
    readonly code: FragmentErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Rethrows a DiskError as a FragmentError naming what was being done; a
 * missing file maps to `notFoundCode` ('io' where absence means a broken
 * drive layout). Anything else (an AssertionError, a bug) is rethrown as is,
 * so bugs are never disguised as drive faults.
 */
export function throwAsFragmentError(error: unknown, what: string, notFoundCode: FragmentErrorCode = 'not_found'): never {
  if (error instanceof FragmentError) throw error;
  if (!(error instanceof DiskError)) throw error;
  const code = error.code === 'not_found' ? notFoundCode : 'io';
  throw new FragmentError(code, `${what}: ${error.message}`, { cause: error });
}
