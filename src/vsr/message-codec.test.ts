// Replica messages on the wire (message-codec.ts): entries travel as their
// records, byte for byte what the sender made, and whatever is not a replica
// message of this group is refused rather than handed to the replica.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRecord, encodeRecord } from '../stdx/codec.js';
import { entryRecord, logOriginChecksum, makeEntry } from './log-entry.js';
import type { LogEntry } from './log-entry.js';
import { encodeReplicaMessage, replicaMessageFromWire } from './message-codec.js';
import type { ReplicaMessage } from './messages.js';

type Op = { readonly key: string };

function entries(count: number): LogEntry<Op>[] {
  const made: LogEntry<Op>[] = [];
  for (let opNumber = 1; opNumber <= count; opNumber++) {
    made.push(makeEntry<Op>({ opNumber, view: 2, clientId: 'c', requestNumber: opNumber, timestampMs: 5, op: { key: `k${opNumber}` }, previousChecksum: made.at(-1)?.checksum ?? logOriginChecksum }));
  }
  return made;
}

/** Encodes as the sender does and decodes as replica 1 of 3 addresses does. */
function roundTrip(message: ReplicaMessage<Op, string>): ReplicaMessage<Op, string> | undefined {
  return replicaMessageFromWire<Op, string>(decodeRecord(encodeReplicaMessage(message)), 3, 1);
}

describe('replica messages on the wire', () => {
  it('a Prepare carries its entries as their records and arrives equal', () => {
    const prepare: ReplicaMessage<Op, string> = { type: 'prepare', epoch: 0, view: 2, from: 0, entries: entries(3), commitNumber: 0 };
    const wire = decodeRecord(encodeReplicaMessage(prepare)) as { entries: Uint8Array[] };
    assert.deepEqual(
      wire.entries.map((record) => Buffer.from(record)),
      prepare.entries.map((entry) => Buffer.from(entryRecord(entry))),
    );
    const arrived = roundTrip(prepare);
    assert.deepEqual(arrived, prepare);
  });

  it('DoViewChange and StartView carry their log suffix the same way; other messages pass as they are', () => {
    const log = { baseOpNumber: 0, baseChecksum: logOriginChecksum, baseTimestampMs: 0, entries: entries(2) };
    const doViewChange: ReplicaMessage<Op, string> = { type: 'do_view_change', epoch: 1, view: 3, from: 2, logView: 2, log, commitNumber: 1 };
    assert.deepEqual(roundTrip(doViewChange), doViewChange);
    const startView: ReplicaMessage<Op, string> = { type: 'start_view', epoch: 1, view: 3, from: 0, log, commitNumber: 1 };
    assert.deepEqual(roundTrip(startView), startView);
    const prepareOk: ReplicaMessage<Op, string> = { type: 'prepare_ok', epoch: 1, view: 3, from: 2, opNumber: 2 };
    assert.deepEqual(roundTrip(prepareOk), prepareOk);
  });

  it('refuses a malformed entry, a sender that is not another replica, and what is no replica message', () => {
    const prepare = decodeRecord(encodeReplicaMessage<Op, string>({ type: 'prepare', epoch: 0, view: 2, from: 0, entries: entries(2), commitNumber: 0 })) as { entries: unknown[] };
    assert.equal(replicaMessageFromWire({ ...prepare, entries: [Uint8Array.of(1, 2)] }, 3, 1), undefined);
    assert.equal(replicaMessageFromWire({ ...prepare, entries: 'none' }, 3, 1), undefined);
    assert.equal(replicaMessageFromWire({ ...prepare, from: 1 }, 3, 1), undefined, 'from itself');
    assert.equal(replicaMessageFromWire({ ...prepare, from: 3 }, 3, 1), undefined, 'from beyond the addresses');
    assert.equal(replicaMessageFromWire({ type: 'start_view', epoch: 0, view: 1, from: 0, log: 7, commitNumber: 0 }, 3, 1), undefined);
    assert.equal(replicaMessageFromWire(decodeRecord(encodeRecord({ type: 'request', clientId: 'c' })), 3, 1), undefined);
    assert.equal(replicaMessageFromWire(null, 3, 1), undefined);
  });
});
