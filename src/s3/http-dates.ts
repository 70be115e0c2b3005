// Date formats S3 uses: RFC 7231 IMF-fixdate in headers, ISO 8601 with
// milliseconds in XML. Pure functions of a millisecond timestamp.

export function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

export function isoDate(ms: number): string {
  return new Date(ms).toISOString();
}

/** Parses an HTTP date header; undefined when it is not a date. */
export function parseHttpDate(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}
