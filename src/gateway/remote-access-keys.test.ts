// RemoteAccessKeyCache tests on a manual clock and a scripted metadata
// client: the copy is refreshed every interval (a deleted key stops working
// within it), a miss refreshes at once but not more often than the gap, a
// miss during a refresh asks for one more, a failed refresh keeps the last
// copy, and stop() leaves no timer.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock as SharedManualClock } from '../io/manual-clock.js';
import type { Env } from '../io/env.js';
import { noFaults } from '../io/env.js';
import { InProcessTransport } from '../io/in-process-transport.js';
import { silentLogger } from '../io/logger.js';
import { NodeDisk } from '../io/node/node-disk.js';
import { NodeRandom } from '../io/node/node-random.js';
import type { AccessKeyRecord } from '../meta/records.js';
import { RemoteAccessKeyCache } from './remote-access-keys.js';

/** The manual clock, advanced asynchronously: promises settle between timers. */
class ManualClock extends SharedManualClock {
  constructor() {
    super({ startMs: 1000, epochMs: 0 });
  }
  get pending(): number {
    return this.timersPending;
  }
  /** Moves time forward by `ms`, firing due timers and letting their promises settle. */
  async advanceAsync(ms: number): Promise<void> {
    const endMs = this.monotonicMs() + ms;
    for (;;) {
      await settle();
      if (!this.fireNext(endMs)) break;
    }
    this.advance(endMs - this.monotonicMs());
    await settle();
  }
}

async function settle(): Promise<void> {
  for (let round = 0; round < 10; round++) await Promise.resolve();
}

function key(accessKeyId: string): AccessKeyRecord {
  return { format: 1, accessKeyId, secretAccessKey: `secret-${accessKeyId}`, userId: accessKeyId.padEnd(64, '0'), displayName: accessKeyId, createdMs: 0 };
}

/** A metadata client whose key table the test edits; reads can be held open or made to fail. */
class ScriptedMeta {
  keys: AccessKeyRecord[] = [];
  reads = 0;
  failing = false;
  private held: (() => void)[] = [];
  hold = false;

  listAccessKeys(): Promise<AccessKeyRecord[]> {
    this.reads++;
    const snapshot = [...this.keys];
    if (this.failing) return Promise.reject(new Error('metadata unavailable'));
    if (!this.hold) return Promise.resolve(snapshot);
    return new Promise((resolve) => {
      this.held.push(() => {
        resolve(snapshot);
      });
    });
  }

  release(): void {
    for (const resolve of this.held.splice(0)) resolve();
  }
}

function setup(options: { refreshMs?: number; missRefreshGapMs?: number } = {}): { clock: ManualClock; meta: ScriptedMeta; cache: RemoteAccessKeyCache } {
  const clock = new ManualClock();
  const env: Env = { clock, random: new NodeRandom(), disk: new NodeDisk(), transport: new InProcessTransport(), faults: noFaults, logger: silentLogger };
  const meta = new ScriptedMeta();
  return { clock, meta, cache: new RemoteAccessKeyCache(env, meta, { refreshMs: 1000, missRefreshGapMs: 100, ...options }) };
}

describe('RemoteAccessKeyCache', () => {
  it('refreshes every interval: a new key appears and a deleted key stops working within it', async () => {
    const { clock, meta, cache } = setup();
    meta.keys = [key('AK1')];
    await cache.start();
    assert.equal(cache.byKey('AK1')?.secretAccessKey, 'secret-AK1');
    assert.equal(cache.byId('AK1'.padEnd(64, '0'))?.accessKeyId, 'AK1');
    meta.keys = [key('AK2')];
    await clock.advanceAsync(999);
    assert.equal(cache.byKey('AK1')?.accessKeyId, 'AK1', 'a deleted key still works until the refresh');
    await clock.advanceAsync(1);
    assert.equal(cache.byKey('AK1'), undefined, 'gone after one interval');
    assert.equal(cache.byKey('AK2')?.accessKeyId, 'AK2');
    cache.stop();
    assert.equal(clock.pending, 0, 'no timer left');
  });

  it('a miss refreshes at once, but no sooner than the gap after the previous refresh', async () => {
    const { clock, meta, cache } = setup();
    await cache.start();
    assert.equal(meta.reads, 1);
    meta.keys = [key('AK1')];
    assert.equal(cache.byKey('AK1'), undefined, 'the request that misses fails');
    await clock.advanceAsync(99);
    assert.equal(meta.reads, 1, 'within the gap of the first load');
    await clock.advanceAsync(1);
    assert.equal(meta.reads, 2);
    assert.equal(cache.byKey('AK1')?.accessKeyId, 'AK1', 'the next request sees it');
    // A flood of misses costs one read per gap.
    for (let index = 0; index < 1000; index++) cache.byKey(`unknown-${index}`);
    await clock.advanceAsync(100);
    assert.equal(meta.reads, 3);
    assert.equal(cache.misses, 1 + 1000);
    cache.stop();
  });

  it('a miss during a refresh asks for one more after it', async () => {
    const { clock, meta, cache } = setup({ missRefreshGapMs: 0 });
    await cache.start();
    meta.hold = true;
    await clock.advanceAsync(1000);
    assert.equal(meta.reads, 2, 'a periodic refresh is out');
    meta.keys = [key('AK1')]; // created after that refresh read the table
    assert.equal(cache.byKey('AK1'), undefined);
    meta.hold = false;
    meta.release();
    await clock.advanceAsync(0);
    assert.equal(meta.reads, 3, 'one more refresh after the one under way');
    assert.equal(cache.byKey('AK1')?.accessKeyId, 'AK1');
    cache.stop();
  });

  it('a failed refresh keeps the last copy; start rejects when nothing can be read', async () => {
    const { clock, meta, cache } = setup();
    meta.keys = [key('AK1')];
    await cache.start();
    meta.failing = true;
    meta.keys = [];
    await clock.advanceAsync(3000);
    assert.equal(meta.reads, 4);
    assert.equal(cache.byKey('AK1')?.accessKeyId, 'AK1', 'served from the last copy');
    meta.failing = false;
    await clock.advanceAsync(1000);
    assert.equal(cache.byKey('AK1'), undefined);
    cache.stop();

    const other = setup();
    other.meta.failing = true;
    await assert.rejects(other.cache.start(), /metadata unavailable/);
    assert.equal(other.clock.pending, 0);
  });
});
