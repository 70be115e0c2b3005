// How the KvStore driver puts replica messages on the wire: msgpack, with the
// log entries a message carries (Prepare, NewState, DoViewChange, StartView)
// sent as their records (log-entry.ts), the bytes a replica also persists. A
// primary encodes each entry once, when it makes it, and a backup persists
// the very bytes it received. replicaMessageFromWire checks the shape every
// replica message shares and decodes the entries (replicaMessageFromWire); anything else is refused,
// so a peer's bug never reaches the replica's assertions.

import { encodeRecord } from '../stdx/codec.js';
import { MalformedEntryError, entryFromRecord, entryRecord } from './log-entry.js';
import type { LogEntry, LogSuffix } from './log-entry.js';
import type { ReplicaMessage } from './messages.js';

/** The message as it travels: its entries replaced by their records. */
function toWire<Op, Result>(message: ReplicaMessage<Op, Result>): object {
  switch (message.type) {
    case 'prepare':
    case 'new_state':
      return { ...message, entries: recordsOf(message.entries) };
    case 'do_view_change':
    case 'start_view':
      return { ...message, log: { ...message.log, entries: recordsOf(message.log.entries) } };
    default:
      return message;
  }
}

function recordsOf<Op>(entries: readonly LogEntry<Op>[]): Uint8Array[] {
  return entries.map((entry) => entryRecord(entry));
}

export function encodeReplicaMessage<Op, Result>(message: ReplicaMessage<Op, Result>): Uint8Array {
  return encodeRecord(toWire(message));
}

const replicaMessageTypes = new Set<string>([
  'prepare',
  'prepare_ok',
  'commit',
  'start_view_change',
  'do_view_change',
  'start_view',
  'request_start_view',
  'get_state',
  'new_state',
  'checkpoint',
  'recovery',
  'recovery_response',
  'request_epoch',
  'epoch_started',
]);

function isCount(value: unknown): boolean {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * The shape every replica message shares: a known type, an epoch, a view
 * (but for the two epoch messages), and a sender that is another replica the
 * group may have (one of `addressCount` configured addresses, not `self`).
 */
function hasReplicaShape(message: unknown, addressCount: number, self: number): message is { type: string } {
  if (typeof message !== 'object' || message === null) return false;
  const { type, epoch, view, from } = message as { type?: unknown; epoch?: unknown; view?: unknown; from?: unknown };
  return (
    typeof type === 'string' &&
    replicaMessageTypes.has(type) &&
    isCount(epoch) &&
    (type === 'request_epoch' || type === 'epoch_started' || isCount(view)) &&
    typeof from === 'number' &&
    Number.isSafeInteger(from) &&
    from >= 0 &&
    from < addressCount &&
    from !== self
  );
}

function entriesFrom<Op>(records: unknown): LogEntry<Op>[] {
  if (!Array.isArray(records)) throw new MalformedEntryError('entries are not a list');
  return records.map((record) => entryFromRecord<Op>(record as Uint8Array));
}

/**
 * The replica message that arrived as `decoded` (msgpack already parsed);
 * undefined when it is not one (a malformed shape or entry).
 */
export function replicaMessageFromWire<Op, Result>(decoded: unknown, addressCount: number, self: number): ReplicaMessage<Op, Result> | undefined {
  if (!hasReplicaShape(decoded, addressCount, self)) return undefined;
  try {
    switch (decoded.type) {
      case 'prepare':
      case 'new_state': {
        const message = decoded as { entries?: unknown };
        return { ...message, entries: entriesFrom<Op>(message.entries) } as unknown as ReplicaMessage<Op, Result>;
      }
      case 'do_view_change':
      case 'start_view': {
        const message = decoded as { log?: unknown };
        if (typeof message.log !== 'object' || message.log === null) return undefined;
        const log = message.log as Omit<LogSuffix<Op>, 'entries'> & { entries?: unknown };
        return { ...message, log: { ...log, entries: entriesFrom<Op>(log.entries) } } as unknown as ReplicaMessage<Op, Result>;
      }
      default:
        return decoded as ReplicaMessage<Op, Result>;
    }
  } catch (error) {
    if (error instanceof MalformedEntryError) return undefined;
    throw error;
  }
}
