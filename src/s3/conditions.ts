// HTTP preconditions on reads (RFC 7232 order, as S3 applies them): If-Match
// and If-Unmodified-Since fail with 412; If-None-Match and If-Modified-Since
// answer 304. If-Match true overrides If-Unmodified-Since false, and
// If-None-Match false overrides If-Modified-Since true.

import type { VersionRecord } from '../meta/records.js';
import { S3Error } from './errors.js';
import { httpDate, parseHttpDate } from './http-dates.js';

export interface ReadConditions {
  readonly ifMatch?: string | undefined;
  readonly ifNoneMatch?: string | undefined;
  readonly ifModifiedSince?: string | undefined;
  readonly ifUnmodifiedSince?: string | undefined;
}

export function etagMatches(condition: string, etag: string): boolean {
  return condition
    .split(',')
    .map((candidate) => candidate.trim())
    .some((candidate) => candidate === '*' || candidate === etag || `"${candidate}"` === etag || candidate.replace(/^W\//, '') === etag);
}

/** Throws PreconditionFailed (412) or NotModified (304) when a condition says so. */
export function checkReadConditions(version: VersionRecord, conditions: ReadConditions, failure: 'read' | 'copy' = 'read'): void {
  const lastModifiedSeconds = Math.floor(version.createdMs / 1000);
  const headers = { headers: { etag: version.etag, 'last-modified': httpDate(version.createdMs) } };
  const notModified = (): S3Error => new S3Error(failure === 'copy' ? 'PreconditionFailed' : 'NotModified', undefined, {}, headers);
  if (conditions.ifMatch !== undefined) {
    if (!etagMatches(conditions.ifMatch, version.etag)) throw new S3Error('PreconditionFailed', undefined, { Condition: 'If-Match' }, headers);
  } else {
    const since = parseHttpDate(conditions.ifUnmodifiedSince);
    if (since !== undefined && lastModifiedSeconds > Math.floor(since / 1000)) {
      throw new S3Error('PreconditionFailed', undefined, { Condition: 'If-Unmodified-Since' }, headers);
    }
  }
  if (conditions.ifNoneMatch !== undefined) {
    if (etagMatches(conditions.ifNoneMatch, version.etag)) throw notModified();
  } else {
    const since = parseHttpDate(conditions.ifModifiedSince);
    if (since !== undefined && lastModifiedSeconds <= Math.floor(since / 1000)) throw notModified();
  }
}
