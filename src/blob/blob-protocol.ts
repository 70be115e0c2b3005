// The blob RPC wire messages: what a gateway (RemoteBlobClient) asks of a blob
// node (BlobService) over the Transport, and the answers. Pure encode/decode,
// no I/O, so both ends and the tests share one definition.
//
// Every message is one msgpack record (stdx/codec.ts). Requests carry
// `{ v: blobProtocolVersion, type, ...fields }`; replies are
// `{ ok: true, ...fields }` or `{ ok: false, code, message }`. Block bytes
// travel as msgpack binary values: encoding copies them once into the message
// (so the sender may reuse its buffers as soon as encode returns) and decoding
// returns views into the received message, not copies.
//
// A fragment is written as a stream: open_writer → writer id; append with
// sequence numbers 0, 1, 2, … (a gap or a duplicate is refused and fails the
// writer, so a fragment can never be published with a hole); finish names how
// many appends and blocks it covers, and its ok means fsync, rename and
// directory fsync are done. The service applies appends in the order they
// reach its handler, so the client relies on the transport delivering one
// peer's requests in order (InProcessTransport does; TcpTransport does over
// one connection per peer, its default).
//
// Decoding is strict: a request that is not exactly one of the shapes below
// is refused with 'bad_request', never passed on to the store (whose
// assertions are for local caller bugs, not for what arrives off the wire).

import { decodeRecord, encodeRecord } from '../stdx/codec.js';

/** Bumped on any incompatible change; a node refuses other versions with 'bad_request'. */
export const blobProtocolVersion = 1;
/** Most block bytes one append carries; the client splits larger appends. */
export const appendBytesMax = 8 * 1024 * 1024;
/** Most blocks one append carries (FragmentWriter's appendBlocksMax). */
export const appendBlocksMax = 256;
/** Most block bytes one read reply carries; a longer read is answered in part and continued. */
export const readReplyBytesMax = 8 * 1024 * 1024;
/** Most fragment ids one list page holds. */
export const listLimitMax = 10_000;
/** Recent errors a node reports per drive. */
export const recentErrorsMax = 16;

/**
 * not_found: no such fragment. corrupt: a checksum or the layout is wrong.
 * io: the drive failed. unknown_writer: no open writer by that id for this
 * client (never opened, finished, aborted, or dropped when idle). busy: a
 * limit on writers or queued appends was reached. out_of_sequence: an append
 * or finish does not follow the previous one. unknown_drive: the node does
 * not serve that drive. bad_request: a malformed message or values out of range.
 */
export type BlobErrorCode =
  | 'not_found'
  | 'corrupt'
  | 'io'
  | 'unknown_writer'
  | 'busy'
  | 'out_of_sequence'
  | 'unknown_drive'
  | 'bad_request';

const blobErrorCodes: readonly BlobErrorCode[] = [
  'not_found',
  'corrupt',
  'io',
  'unknown_writer',
  'busy',
  'out_of_sequence',
  'unknown_drive',
  'bad_request',
];

// ---------------------------------------------------------------------------
// Requests.

export interface OpenWriterRequest {
  readonly type: 'open_writer';
  readonly driveId: number;
  readonly fragmentId: string;
  readonly blockSizeBytes: number;
}

export interface AppendRequest {
  readonly type: 'append';
  readonly writerId: string;
  /** 0 for the writer's first append, then +1 per append. */
  readonly sequence: number;
  /** Every block but the fragment's last is exactly the block size. */
  readonly blocks: readonly Uint8Array[];
}

export interface FinishRequest {
  readonly type: 'finish';
  readonly writerId: string;
  /** Appends sent before this finish (the next sequence number). */
  readonly appendCount: number;
  readonly blockCount: number;
}

export interface AbortRequest {
  readonly type: 'abort';
  readonly writerId: string;
}

export interface ReadRequest {
  readonly type: 'read';
  readonly driveId: number;
  readonly fragmentId: string;
  readonly firstBlock: number;
  readonly blockCount: number;
}

export interface DeleteRequest {
  readonly type: 'delete';
  readonly driveId: number;
  readonly fragmentId: string;
}

export interface ListRequest {
  readonly type: 'list';
  readonly driveId: number;
  /** Ids strictly after this one ('' from the start). */
  readonly after: string;
  readonly limit: number;
}

export interface StatRequest {
  readonly type: 'stat';
  readonly driveId: number;
  readonly fragmentId: string;
}

export interface StatusRequest {
  readonly type: 'status';
}

export type BlobRequest =
  | OpenWriterRequest
  | AppendRequest
  | FinishRequest
  | AbortRequest
  | ReadRequest
  | DeleteRequest
  | ListRequest
  | StatRequest
  | StatusRequest;

export type BlobRequestType = BlobRequest['type'];

// ---------------------------------------------------------------------------
// Replies.

export interface FragmentStatReply {
  readonly blockSizeBytes: number;
  readonly blockCount: number;
  readonly dataBytes: number;
  /** When the fragment was last written, ms on the node's clock (absent from older nodes). */
  readonly modifiedMs?: number;
}

export type DriveHealth = 'ok' | 'degraded' | 'failed';

export interface DriveErrorReport {
  /** Wall-clock time of the error (ms since the epoch), for operators. */
  readonly atMs: number;
  readonly code: 'io' | 'corrupt';
  readonly message: string;
}

export interface DriveStatus {
  readonly driveId: number;
  /** failed: its capacity cannot be read; degraded: an I/O error within the recent-error window; else ok. */
  readonly health: DriveHealth;
  readonly freeBytes: number;
  readonly totalBytes: number;
  /** Writers open on this drive now. */
  readonly writersOpen: number;
  /** I/O errors and corrupt-data errors on this drive since the service started. */
  readonly ioErrorsTotal: number;
  readonly corruptErrorsTotal: number;
  /** The newest errors within the node's recent-error window, oldest first, at most recentErrorsMax. */
  readonly recentErrors: readonly DriveErrorReport[];
}

export interface NodeStatus {
  /** Random per BlobService start: a change means the node restarted (its writers are gone). */
  readonly incarnation: string;
  readonly writersOpen: number;
  readonly writersMax: number;
  readonly drives: readonly DriveStatus[];
}

export interface BlobReplies {
  readonly open_writer: { readonly writerId: string };
  /** Blocks the writer holds after this append. */
  readonly append: { readonly blockCount: number };
  readonly finish: Record<string, never>;
  /** False when the writer was already gone (aborting is idempotent). */
  readonly abort: { readonly aborted: boolean };
  /** At least one block, at most what was asked; fewer when the reply would pass readReplyBytesMax. */
  readonly read: { readonly blocks: readonly Buffer[] };
  readonly delete: { readonly deleted: boolean };
  /** `more`: ids may follow the last one; ask again with it as `after`. */
  readonly list: { readonly fragmentIds: readonly string[]; readonly more: boolean };
  readonly stat: { readonly fragment: FragmentStatReply | null };
  readonly status: NodeStatus;
}

export interface BlobErrorReply {
  readonly code: BlobErrorCode;
  readonly message: string;
}

export type BlobReply<T extends BlobRequestType> =
  | ({ readonly ok: true } & BlobReplies[T])
  | ({ readonly ok: false } & BlobErrorReply);

// ---------------------------------------------------------------------------
// Encoding.

export function encodeBlobRequest(request: BlobRequest): Uint8Array {
  return encodeRecord({ v: blobProtocolVersion, ...request });
}

export function encodeBlobReply(reply: BlobReplies[BlobRequestType]): Uint8Array {
  return encodeRecord({ ok: true, ...reply });
}

export function encodeBlobError(code: BlobErrorCode, message: string): Uint8Array {
  return encodeRecord({ ok: false, code, message });
}

// ---------------------------------------------------------------------------
// Decoding requests (untrusted input: every field checked).

export type RequestDecodeResult = { readonly status: 'ok'; readonly request: BlobRequest } | { readonly status: 'invalid'; readonly reason: string };

type FieldKind = 'count' | 'string' | 'blocks';

/** The fields of each request type; 'count' is a non-negative safe integer. */
const requestFields: { readonly [T in BlobRequestType]: Readonly<Record<string, FieldKind>> } = {
  open_writer: { driveId: 'count', fragmentId: 'string', blockSizeBytes: 'count' },
  append: { writerId: 'string', sequence: 'count', blocks: 'blocks' },
  finish: { writerId: 'string', appendCount: 'count', blockCount: 'count' },
  abort: { writerId: 'string' },
  read: { driveId: 'count', fragmentId: 'string', firstBlock: 'count', blockCount: 'count' },
  delete: { driveId: 'count', fragmentId: 'string' },
  list: { driveId: 'count', after: 'string', limit: 'count' },
  stat: { driveId: 'count', fragmentId: 'string' },
  status: {},
};

/** Longest string field a request may carry (ids are ≤ 40 characters). */
const requestStringLengthMax = 256;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

export function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function fieldProblem(kind: FieldKind, value: unknown): string | undefined {
  switch (kind) {
    case 'count':
      return isCount(value) ? undefined : 'is not a non-negative integer';
    case 'string':
      return typeof value === 'string' && value.length <= requestStringLengthMax ? undefined : `is not a string of at most ${requestStringLengthMax} characters`;
    case 'blocks':
      if (!Array.isArray(value) || value.length < 1 || value.length > appendBlocksMax) return `is not a list of 1..${appendBlocksMax} blocks`;
      return value.every((block) => block instanceof Uint8Array && block.length >= 1) ? undefined : 'holds a value that is not a non-empty byte string';
  }
}

export function decodeBlobRequest(bytes: Uint8Array): RequestDecodeResult {
  let value: unknown;
  try {
    value = decodeRecord(bytes);
  } catch (error) {
    return { status: 'invalid', reason: `not msgpack (${error instanceof Error ? error.message : String(error)})` };
  }
  if (!isRecord(value)) return { status: 'invalid', reason: 'not a record' };
  if (value.v !== blobProtocolVersion) return { status: 'invalid', reason: `protocol version ${String(value.v)}, this node speaks ${blobProtocolVersion}` };
  const type = value.type;
  if (typeof type !== 'string' || !Object.hasOwn(requestFields, type)) return { status: 'invalid', reason: `unknown request type ${String(type)}` };
  const fields = requestFields[type as BlobRequestType];
  const request: Record<string, unknown> = { type };
  for (const [name, kind] of Object.entries(fields)) {
    const problem = fieldProblem(kind, value[name]);
    if (problem !== undefined) return { status: 'invalid', reason: `${type}: field ${name} ${problem}` };
    request[name] = value[name];
  }
  const extra = Object.keys(value).filter((name) => name !== 'v' && name !== 'type' && !Object.hasOwn(fields, name));
  if (extra.length > 0) return { status: 'invalid', reason: `${type}: unknown fields ${extra.join(', ')}` };
  return { status: 'ok', request: request as unknown as BlobRequest };
}

// ---------------------------------------------------------------------------
// Decoding replies (from an authenticated peer, but still checked: a reply of
// the wrong shape is reported as a protocol error, not trusted).

export class BlobProtocolError extends Error {
  override readonly name = 'BlobProtocolError';
}

type ReplyCheck = (reply: Record<string, unknown>) => boolean;

const isString = (value: unknown): value is string => typeof value === 'string';

function isDriveStatus(value: unknown): boolean {
  if (!isRecord(value)) return false;
  const counts = ['driveId', 'freeBytes', 'totalBytes', 'writersOpen', 'ioErrorsTotal', 'corruptErrorsTotal'];
  return (
    counts.every((name) => isCount(value[name])) &&
    (value.health === 'ok' || value.health === 'degraded' || value.health === 'failed') &&
    Array.isArray(value.recentErrors) &&
    value.recentErrors.every((error) => isRecord(error) && isCount(error.atMs) && (error.code === 'io' || error.code === 'corrupt') && isString(error.message))
  );
}

const replyChecks: { readonly [T in BlobRequestType]: ReplyCheck } = {
  open_writer: (reply) => isString(reply.writerId),
  append: (reply) => isCount(reply.blockCount),
  finish: () => true,
  abort: (reply) => typeof reply.aborted === 'boolean',
  read: (reply) => Array.isArray(reply.blocks) && reply.blocks.length >= 1 && reply.blocks.every((block) => block instanceof Uint8Array),
  delete: (reply) => typeof reply.deleted === 'boolean',
  list: (reply) => Array.isArray(reply.fragmentIds) && reply.fragmentIds.every(isString) && typeof reply.more === 'boolean',
  stat: (reply) =>
    reply.fragment === null ||
    (isRecord(reply.fragment) &&
      isCount(reply.fragment.blockSizeBytes) &&
      isCount(reply.fragment.blockCount) &&
      isCount(reply.fragment.dataBytes) &&
      (reply.fragment.modifiedMs === undefined || isCount(reply.fragment.modifiedMs))),
  status: (reply) =>
    isString(reply.incarnation) && isCount(reply.writersOpen) && isCount(reply.writersMax) && Array.isArray(reply.drives) && reply.drives.every(isDriveStatus),
};

/** Decodes the reply to a request of `type`; throws BlobProtocolError on a malformed reply. */
export function decodeBlobReply<T extends BlobRequestType>(type: T, bytes: Uint8Array): BlobReply<T> {
  let value: unknown;
  try {
    value = decodeRecord(bytes);
  } catch (error) {
    throw new BlobProtocolError(`Reply to ${type} is not msgpack`, { cause: error });
  }
  if (!isRecord(value)) throw new BlobProtocolError(`Reply to ${type} is not a record`);
  if (value.ok === false) {
    const code = value.code;
    if (!blobErrorCodes.includes(code as BlobErrorCode) || !isString(value.message)) {
      throw new BlobProtocolError(`Error reply to ${type} has code ${String(code)}`);
    }
    return { ok: false, code: code as BlobErrorCode, message: value.message };
  }
  if (value.ok !== true || !replyChecks[type](value)) throw new BlobProtocolError(`Reply to ${type} has the wrong shape`);
  if (type === 'read') value.blocks = (value.blocks as Uint8Array[]).map(asBuffer);
  return value as BlobReply<T>;
}

/** msgpackr decodes binary to Buffer views already; this keeps the type honest without a copy. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
