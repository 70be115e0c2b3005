// Journal tests on a real file (NodeDisk in a temp directory): append and
// reopen replay exactly the entries after the applied position; a torn tail
// (short file, garbage, a flipped bit) is cut off while earlier entries
// survive; the hash chain is checked against the applied position; and
// encodeEntry/decodeEntry round-trip and reject damage (fast-check).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import type { LogLevel, Logger } from '../io/logger.js';
import { silentLogger } from '../io/logger.js';
import { NodeDisk } from '../io/node/node-disk.js';
import { AssertionError } from '../stdx/assert.js';
import { Journal, decodeEntry, encodeEntry, journalOrigin } from './journal.js';
import type { JournalPosition } from './journal.js';
import type { MetaOp, SequencedOp } from './ops.js';
import type { PartRecord, VersionRecord } from './records.js';

const disk = new NodeDisk();

function createBucketOp(index: number): MetaOp {
  return { type: 'create_bucket', bucket: `bucket-${index}`, bucketId: `id-${index}`, owner: 'alice', region: 'local' };
}

function sequence(first: number, count: number, timestampMs = 1_700_000_000_000): SequencedOp[] {
  return Array.from({ length: count }, (_, index) => ({
    opNumber: first + index,
    timestampMs: timestampMs + index,
    op: createBucketOp(first + index),
  }));
}

/** Positions after each entry of `entries`, chained from `from`. */
function positions(entries: readonly SequencedOp[], from: JournalPosition = journalOrigin): JournalPosition[] {
  let previous = from.checksum;
  return entries.map((entry) => {
    const { checksum } = encodeEntry(entry, previous);
    previous = checksum;
    return { opNumber: entry.opNumber, checksum };
  });
}

function entryBytes(entries: readonly SequencedOp[], from: JournalPosition = journalOrigin): number[] {
  let previous = from.checksum;
  return entries.map((entry) => {
    const encoded = encodeEntry(entry, previous);
    previous = encoded.checksum;
    return encoded.bytes.length;
  });
}

class CapturingLogger implements Logger {
  readonly lines: { level: LogLevel; message: string }[] = [];
  log(level: LogLevel, message: string): void {
    this.lines.push({ level, message });
  }
}

describe('Journal', () => {
  let root: string;
  let counter = 0;
  const freshPath = (): string => path.join(root, `journal-${counter++}`);

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'tessera-journal-'));
  });

  after(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });

  async function writeJournal(journalPath: string, batches: readonly SequencedOp[][]): Promise<JournalPosition> {
    const { journal, replay } = await Journal.open(disk, journalPath, journalOrigin, silentLogger);
    assert.deepEqual(replay, []);
    for (const batch of batches) await journal.append(batch);
    const position = journal.position;
    await journal.close();
    return position;
  }

  async function reopen(
    journalPath: string,
    applied: JournalPosition,
    logger: Logger = silentLogger,
  ): Promise<{ journal: Journal; replay: SequencedOp[] }> {
    return Journal.open(disk, journalPath, applied, logger);
  }

  it('a new journal is empty at the origin', async () => {
    const journalPath = freshPath();
    const { journal, replay } = await reopen(journalPath, journalOrigin);
    assert.deepEqual(replay, []);
    assert.deepEqual(journal.position, journalOrigin);
    assert.equal(journal.sizeBytes, 0);
    await journal.close();
    assert.equal((await disk.stat(journalPath))?.sizeBytes, 0);
  });

  it('reopen replays every entry after the applied position, in order', async () => {
    const journalPath = freshPath();
    const entries = sequence(1, 10);
    const head = await writeJournal(journalPath, [entries.slice(0, 1), entries.slice(1, 4), entries.slice(4)]);
    const expected = positions(entries);
    assert.deepEqual(head, expected[9]);
    assert.equal((await disk.stat(journalPath))?.sizeBytes, entryBytes(entries).reduce((a, b) => a + b, 0));

    const fromOrigin = await reopen(journalPath, journalOrigin);
    assert.deepEqual(fromOrigin.replay, entries);
    assert.deepEqual(fromOrigin.journal.position, head);
    await fromOrigin.journal.close();

    const fromFour = await reopen(journalPath, expected[3]!);
    assert.deepEqual(fromFour.replay, entries.slice(4));
    assert.deepEqual(fromFour.journal.position, head);
    await fromFour.journal.close();

    // Applied at the head: nothing to replay.
    const atHead = await reopen(journalPath, head);
    assert.deepEqual(atHead.replay, []);
    assert.deepEqual(atHead.journal.position, head);
    await atHead.journal.close();
  });

  it('appends after a reopen continue the chain', async () => {
    const journalPath = freshPath();
    const entries = sequence(1, 6);
    await writeJournal(journalPath, [entries.slice(0, 3)]);
    const middle = await reopen(journalPath, journalOrigin);
    assert.equal(middle.replay.length, 3);
    await middle.journal.append(entries.slice(3));
    await middle.journal.close();
    const all = await reopen(journalPath, journalOrigin);
    assert.deepEqual(all.replay, entries);
    assert.deepEqual(all.journal.position, positions(entries)[5]);
    await all.journal.close();
  });

  it('append refuses an empty batch and a gap in op numbers', async () => {
    const { journal } = await reopen(freshPath(), journalOrigin);
    await assert.rejects(journal.append([]), AssertionError);
    await assert.rejects(journal.append(sequence(2, 1)), AssertionError);
    await journal.append(sequence(1, 2));
    await assert.rejects(journal.append(sequence(2, 1)), AssertionError);
    await assert.rejects(journal.append([...sequence(3, 1), ...sequence(5, 1)]), AssertionError);
    assert.equal(journal.position.opNumber, 2);
    await journal.close();
  });

  describe('torn and corrupt tails', () => {
    const entries = sequence(1, 5);
    const sizes = entryBytes(entries);
    const validBytes = (count: number): number => sizes.slice(0, count).reduce((a, b) => a + b, 0);

    async function expectCutTo(journalPath: string, survivors: number): Promise<void> {
      const logger = new CapturingLogger();
      const { journal, replay } = await reopen(journalPath, journalOrigin, logger);
      assert.deepEqual(replay, entries.slice(0, survivors));
      assert.deepEqual(journal.position, survivors === 0 ? journalOrigin : positions(entries)[survivors - 1]);
      assert.equal(journal.sizeBytes, validBytes(survivors));
      assert.ok(logger.lines.some((line) => line.level === 'warn' && line.message.includes('torn')));
      await journal.close();
      // The file itself was cut, so a later open does not see the damage again.
      assert.equal((await disk.stat(journalPath))?.sizeBytes, validBytes(survivors));
      const logger2 = new CapturingLogger();
      const again = await reopen(journalPath, journalOrigin, logger2);
      assert.equal(again.replay.length, survivors);
      assert.deepEqual(logger2.lines, []);
      // New entries chain on from the survivors.
      await again.journal.append(sequence(survivors + 1, 2));
      await again.journal.close();
      const extended = await reopen(journalPath, journalOrigin);
      assert.deepEqual(extended.replay.map((entry) => entry.opNumber), Array.from({ length: survivors + 2 }, (_, i) => i + 1));
      await extended.journal.close();
    }

    for (const cut of [1, 5, 31, 32, 33]) {
      it(`a file truncated ${cut} bytes into the last entry loses only that entry`, async () => {
        const journalPath = freshPath();
        await writeJournal(journalPath, [entries]);
        await fs.truncate(journalPath, validBytes(4) + cut);
        await expectCutTo(journalPath, 4);
      });
    }

    it('a file truncated one byte short of the end loses the last entry', async () => {
      const journalPath = freshPath();
      await writeJournal(journalPath, [entries]);
      await fs.truncate(journalPath, validBytes(5) - 1);
      await expectCutTo(journalPath, 4);
    });

    it('a file cut inside the first entry replays nothing', async () => {
      const journalPath = freshPath();
      await writeJournal(journalPath, [entries]);
      await fs.truncate(journalPath, 20);
      await expectCutTo(journalPath, 0);
    });

    it('garbage appended after the last entry is cut off', async () => {
      const journalPath = freshPath();
      await writeJournal(journalPath, [entries]);
      await fs.appendFile(journalPath, Buffer.from('this is not a journal entry, just noise!'));
      await expectCutTo(journalPath, 5);
    });

    it('zeros appended after the last entry (a preallocated tail) are cut off', async () => {
      const journalPath = freshPath();
      await writeJournal(journalPath, [entries]);
      await fs.appendFile(journalPath, Buffer.alloc(4096));
      await expectCutTo(journalPath, 5);
    });

    it('a header claiming a huge body is cut off', async () => {
      const journalPath = freshPath();
      await writeJournal(journalPath, [entries]);
      const next = encodeEntry(sequence(6, 1)[0]!, positions(entries)[4]!.checksum).bytes;
      next.writeUInt32LE(0xffffffff, 4);
      await fs.appendFile(journalPath, next.subarray(0, 40));
      await expectCutTo(journalPath, 5);
    });

    for (const [where, offsetInEntry] of [
      ['checksum', 0],
      ['body length', 4],
      ['op number', 9],
      ['previous checksum', 17],
      ['magic', 22],
      ['timestamp', 30],
      ['body', 40],
      ['last body byte', -1],
    ] as const) {
      it(`a bit flip in the last entry's ${where} cuts that entry off`, async () => {
        const journalPath = freshPath();
        await writeJournal(journalPath, [entries]);
        const content = await fs.readFile(journalPath);
        const at = offsetInEntry >= 0 ? validBytes(4) + offsetInEntry : content.length + offsetInEntry;
        content[at] = content[at]! ^ 0x10;
        await fs.writeFile(journalPath, content);
        await expectCutTo(journalPath, 4);
      });
    }
  });

  describe('the chain', () => {
    it('applied equal to the head replays nothing, and appends chain from it', async () => {
      const journalPath = freshPath();
      const head = await writeJournal(journalPath, [sequence(1, 3)]);
      const { journal, replay } = await reopen(journalPath, head);
      assert.deepEqual(replay, []);
      await journal.append(sequence(4, 1));
      await journal.close();
      const next = await reopen(journalPath, head);
      assert.deepEqual(next.replay, sequence(4, 1));
      await next.journal.close();
    });

    it('after truncate the journal is empty and the next append chains from the head', async () => {
      const journalPath = freshPath();
      const { journal } = await reopen(journalPath, journalOrigin);
      await journal.append(sequence(1, 3));
      const head = journal.position;
      await journal.truncate();
      assert.equal(journal.sizeBytes, 0);
      assert.deepEqual(journal.position, head);
      assert.equal((await disk.stat(journalPath))?.sizeBytes, 0);
      await journal.append(sequence(4, 2));
      await journal.close();
      // Reopened by a state machine that applied up to op 3: ops 4 and 5 replay.
      const reopened = await reopen(journalPath, head);
      assert.deepEqual(reopened.replay, sequence(4, 2));
      assert.deepEqual(reopened.journal.position, positions([...sequence(1, 3), ...sequence(4, 2)])[4]);
      await reopened.journal.close();
    });

    it('an empty journal opened at an applied position starts there', async () => {
      const journalPath = freshPath();
      const applied = positions(sequence(1, 7))[6]!;
      const { journal, replay } = await reopen(journalPath, applied);
      assert.deepEqual(replay, []);
      assert.deepEqual(journal.position, applied);
      await journal.close();
    });

    it('entries entirely behind the applied position are not replayed', async () => {
      const journalPath = freshPath();
      await writeJournal(journalPath, [sequence(1, 3)]);
      const applied = positions(sequence(1, 7))[6]!;
      const { journal, replay } = await reopen(journalPath, applied);
      assert.deepEqual(replay, []);
      assert.deepEqual(journal.position, applied);
      await journal.close();
    });

    it('a journal that starts after the applied position is refused (ops missing)', async () => {
      const journalPath = freshPath();
      const { journal } = await reopen(journalPath, journalOrigin);
      await journal.append(sequence(1, 3));
      await journal.truncate();
      await journal.append(sequence(4, 1));
      await journal.close();
      await assert.rejects(reopen(journalPath, journalOrigin), /journal starts at op 4, applied 0/);
    });

    it('a first entry that does not chain from the applied checksum is refused', async () => {
      const journalPath = freshPath();
      const entries = sequence(1, 4);
      await writeJournal(journalPath, [entries]);
      // Only entries 3 and 4 remain, as after a truncation at op 2.
      const content = await fs.readFile(journalPath);
      const sizes = entryBytes(entries);
      await fs.writeFile(journalPath, content.subarray(sizes[0]! + sizes[1]!));
      const applied = positions(entries)[1]!;
      const good = await reopen(journalPath, applied);
      assert.deepEqual(good.replay, entries.slice(2));
      await good.journal.close();
      await assert.rejects(reopen(journalPath, { opNumber: 2, checksum: applied.checksum ^ 1 }), /does not chain from applied/);
    });

    it('valid entries whose previous checksum does not match are refused', async () => {
      const journalPath = freshPath();
      const [first, second] = sequence(1, 2);
      const one = encodeEntry(first!, 0);
      const two = encodeEntry(second!, one.checksum ^ 0xdead);
      await fs.writeFile(journalPath, Buffer.concat([one.bytes, two.bytes]));
      await assert.rejects(reopen(journalPath, journalOrigin), /journal chain broken at op 2/);
    });

    it('valid entries with a gap in op numbers are refused', async () => {
      const journalPath = freshPath();
      const [first, , third] = sequence(1, 3);
      const one = encodeEntry(first!, 0);
      const three = encodeEntry(third!, one.checksum);
      await fs.writeFile(journalPath, Buffer.concat([one.bytes, three.bytes]));
      await assert.rejects(reopen(journalPath, journalOrigin), /journal gap before op 3/);
    });
  });
});

// Codec properties.

const part: fc.Arbitrary<PartRecord> = fc.record({
  partNumber: fc.integer({ min: 1, max: 10_000 }),
  sizeBytes: fc.nat(),
  etag: fc.string(),
  scheme: fc.record({ k: fc.integer({ min: 1, max: 16 }), m: fc.integer({ min: 0, max: 8 }) }),
  blockSizeBytes: fc.integer({ min: 1, max: 1 << 24 }),
  drives: fc.array(fc.nat({ max: 1000 }), { maxLength: 24 }),
  missingShards: fc.array(fc.nat({ max: 23 }), { maxLength: 4 }),
});

const stringMap = fc.dictionary(fc.string({ unit: 'binary', maxLength: 8 }), fc.string({ unit: 'binary', maxLength: 16 }), {
  maxKeys: 3,
  noNullPrototype: true,
});

const version: fc.Arbitrary<VersionRecord> = fc.record(
  {
    format: fc.constant(1),
    bucket: fc.string({ minLength: 1, maxLength: 20 }),
    key: fc.string({ unit: 'binary', maxLength: 40 }),
    versionId: fc.string({ minLength: 1, maxLength: 20 }),
    state: fc.constantFrom('PREPARING' as const, 'COMMITTED' as const, 'DELETE_MARKER' as const),
    sizeBytes: fc.nat(),
    etag: fc.string(),
    contentType: fc.string(),
    headers: stringMap,
    userMetadata: stringMap,
    checksums: stringMap,
    owner: fc.string(),
    createdMs: fc.nat(),
    inline: fc.uint8Array({ maxLength: 64 }),
    parts: fc.array(part, { maxLength: 3 }),
  },
  { requiredKeys: ['format', 'bucket', 'key', 'versionId', 'state', 'sizeBytes', 'etag', 'contentType', 'headers', 'userMetadata', 'checksums', 'owner', 'createdMs', 'parts'] },
);

const conditions = fc.record({ ifNoneMatch: fc.constant('*' as const), ifMatch: fc.string() }, { requiredKeys: [] });

const metaOp: fc.Arbitrary<MetaOp> = fc.oneof(
  fc.record({
    type: fc.constant('create_bucket' as const),
    bucket: fc.string(),
    bucketId: fc.string(),
    owner: fc.string(),
    region: fc.string(),
  }),
  fc.record({ type: fc.constant('delete_bucket' as const), bucket: fc.string() }),
  fc.record({ type: fc.constant('put_version' as const), version, conditions }, { requiredKeys: ['type', 'version'] }),
  fc.record({ type: fc.constant('prepare_version' as const), version }),
  fc.record(
    {
      type: fc.constant('commit_version' as const),
      versionId: fc.string(),
      sizeBytes: fc.nat(),
      etag: fc.string(),
      parts: fc.array(part, { maxLength: 3 }),
      checksums: stringMap,
      conditions,
    },
    { requiredKeys: ['type', 'versionId', 'sizeBytes', 'etag', 'parts', 'checksums'] },
  ),
  fc.record({ type: fc.constant('abort_version' as const), versionId: fc.string() }),
  fc.record(
    { type: fc.constant('delete_object' as const), bucket: fc.string(), key: fc.string({ unit: 'binary' }), conditions },
    { requiredKeys: ['type', 'bucket', 'key'] },
  ),
  fc.record({ type: fc.constant('garbage_collected' as const), versionIds: fc.array(fc.string(), { maxLength: 5 }) }),
);

const sequencedOp: fc.Arbitrary<SequencedOp> = fc.record({
  opNumber: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  timestampMs: fc.double({ noNaN: true }),
  op: metaOp,
});

/** Uint8Array and Buffer compare equal by content: msgpack returns Buffers. */
function normalize(value: unknown): unknown {
  if (value instanceof Uint8Array) return { bytes: Buffer.from(value).toString('hex') };
  if (Array.isArray(value)) return value.map(normalize);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, normalize(inner)]));
  }
  return value;
}

describe('journal entry codec', () => {
  it('encodeEntry / decodeEntry round-trip at any offset', () => {
    fc.assert(
      fc.property(sequencedOp, fc.nat({ max: 0xffffffff }), fc.uint8Array({ maxLength: 40 }), (entry, previous, padding) => {
        const { bytes, checksum } = encodeEntry(entry, previous);
        const buffer = Buffer.concat([padding, bytes, Buffer.from('trailing')]);
        const decoded = decodeEntry(buffer, padding.length);
        assert.ok(decoded !== undefined);
        assert.equal(decoded.checksum, checksum);
        assert.equal(decoded.previous, previous);
        assert.equal(decoded.lengthBytes, bytes.length);
        assert.equal(decoded.entry.opNumber, entry.opNumber);
        assert.ok(Object.is(decoded.entry.timestampMs, entry.timestampMs));
        assert.deepEqual(normalize(decoded.entry.op), normalize(entry.op));
      }),
      { numRuns: 300 },
    );
  });

  it('every strict prefix of an entry decodes as absent', () => {
    fc.assert(
      fc.property(sequencedOp, fc.nat({ max: 0xffffffff }), (entry, previous) => {
        const { bytes } = encodeEntry(entry, previous);
        for (let length = 0; length < bytes.length; length++) {
          assert.equal(decodeEntry(bytes.subarray(0, length), 0), undefined, `prefix of ${length} bytes`);
        }
      }),
      { numRuns: 50 },
    );
  });

  it('any single bit flip makes the entry decode as absent', () => {
    fc.assert(
      fc.property(sequencedOp, fc.nat({ max: 0xffffffff }), fc.nat(), fc.nat({ max: 7 }), (entry, previous, byteSeed, bit) => {
        const { bytes } = encodeEntry(entry, previous);
        const at = byteSeed % bytes.length;
        bytes[at] = bytes[at]! ^ (1 << bit);
        assert.equal(decodeEntry(bytes, 0), undefined, `flip at byte ${at}, bit ${bit}`);
      }),
      { numRuns: 500 },
    );
  });

  it('the checksum covers the previous checksum: the chain is part of the entry', () => {
    fc.assert(
      fc.property(sequencedOp, fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff }), (entry, a, b) => {
        fc.pre(a !== b);
        assert.notEqual(encodeEntry(entry, a).checksum, encodeEntry(entry, b).checksum);
      }),
      { numRuns: 100 },
    );
  });
});
