// The simulated I/O the cluster simulation wires production code to: a disk
// that keeps only what was synced across a crash, a network that is FIFO per
// channel, times out lost requests and refuses when nobody listens, a clock
// whose timers die with their node, and the model that says which values a
// read may return.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DiskError } from '../../io/disk.js';
import { TransportError } from '../../io/transport.js';
import { EventQueue } from '../event-queue.js';
import { Prng } from '../prng.js';
import { TraceHash } from '../trace-hash.js';
import { Incarnation } from './incarnation.js';
import { ObjectModel } from './object-model.js';
import { SimClock } from './sim-clock.js';
import { SimDisk } from './sim-disk.js';
import { SimNetwork } from './sim-transport.js';

/** Runs the queue until `promise` settles (or the queue is empty). */
async function settle<T>(queue: EventQueue, promise: Promise<T>): Promise<T> {
  let done = false;
  const watched = promise.finally(() => {
    done = true;
  });
  watched.catch(() => undefined);
  while (!done && queue.runNext()) await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  return watched;
}

describe('SimDisk', () => {
  it('a crash keeps synced bytes and synced names only', async () => {
    const queue = new EventQueue(10_000);
    const disk = new SimDisk(queue, new Prng(1), { latencyMsMax: 2, capacityBytes: 1 << 20 });
    disk.makeDurableDirectory('/d');
    const view = disk.view(new Incarnation('n', 1));
    const write = async (path: string, text: string, sync: boolean): Promise<void> => {
      const file = await view.open(path, 'create');
      await file.write(Buffer.from(text), 0);
      if (sync) await file.sync();
      await file.close();
    };
    await settle(queue, write('/d/synced', 'kept', true));
    await settle(queue, view.syncDirectory('/d'));
    await settle(queue, write('/d/unsynced-name', 'gone', true));
    const file = await settle(queue, view.open('/d/synced', 'write'));
    await settle(queue, file.write(Buffer.from('-and-more'), 4));
    disk.crash(0);
    const after = disk.view(new Incarnation('n', 2));
    assert.equal(Buffer.from(await settle(queue, after.readFile('/d/synced'))).toString(), 'kept');
    assert.deepEqual(await settle(queue, after.readdir('/d')), ['synced']);
    await assert.rejects(settle(queue, after.open('/d/unsynced-name', 'read')), (error: unknown) => error instanceof DiskError && error.code === 'not_found');
  });

  it('a torn write keeps the synced bytes and a prefix of the unsynced tail', async () => {
    const queue = new EventQueue(10_000);
    const disk = new SimDisk(queue, new Prng(2), { latencyMsMax: 0, capacityBytes: 1 << 20 });
    disk.makeDurableDirectory('/d');
    const view = disk.view(new Incarnation('n', 1));
    const file = await settle(queue, view.open('/d/f', 'create'));
    await settle(queue, file.write(Buffer.from('0123'), 0));
    await settle(queue, file.sync());
    await settle(queue, view.syncDirectory('/d'));
    await settle(queue, file.write(Buffer.from('456789'), 4));
    disk.crash(1);
    assert.equal(disk.tornWrites, 1);
    const text = Buffer.from(await settle(queue, disk.view(new Incarnation('n', 2)).readFile('/d/f'))).toString();
    assert.ok('0123456789'.startsWith(text) && text.length >= 4, `"${text}" is the synced bytes and a prefix of the rest`);
  });

  it('operations of a crashed life never complete', async () => {
    const queue = new EventQueue(10_000);
    const disk = new SimDisk(queue, new Prng(3), { latencyMsMax: 1, capacityBytes: 1 << 20 });
    disk.makeDurableDirectory('/d');
    const life = new Incarnation('n', 1);
    let completed = false;
    void disk.view(life).mkdirp('/d/x').then(() => (completed = true));
    life.end();
    while (queue.runNext()) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(completed, false);
    assert.equal(disk.lookup('/d/x'), undefined);
  });
});

describe('SimNetwork', () => {
  function world(): { queue: EventQueue; network: SimNetwork } {
    const queue = new EventQueue(100_000);
    return { queue, network: new SimNetwork(queue, new Prng(4), new TraceHash(), 1000) };
  }

  it('requests on one channel arrive in the order sent, whatever their delays', async () => {
    const { queue, network } = world();
    network.conditions = { lossProbability: 0, duplicateProbability: 0, delayMsMin: 1, delayMsMax: 50 };
    const seen: number[] = [];
    network.endpoint(new Incarnation('server', 1)).listen('server', (_from, message) => {
      seen.push(message[0]!);
      return Promise.resolve(message);
    });
    const client = network.endpoint(new Incarnation('client', 1));
    const replies = Array.from({ length: 20 }, (_, index) => client.request('client', 'server', Uint8Array.of(index)));
    await settle(queue, Promise.all(replies));
    assert.deepEqual(seen, Array.from({ length: 20 }, (_, index) => index));
  });

  it('nobody listening: unreachable; partitioned: timeout; a crashed server never answers', async () => {
    const { queue, network } = world();
    const client = network.endpoint(new Incarnation('client', 1));
    const code = (request: Promise<Uint8Array>): Promise<string> =>
      settle(queue, request).then(
        () => 'ok',
        (error: unknown) => (error instanceof TransportError ? error.code : String(error)),
      );
    assert.equal(await code(client.request('client', 'nobody', Uint8Array.of(1))), 'unreachable');
    const serverLife = new Incarnation('server', 1);
    network.endpoint(serverLife).listen('server', (_from, message) => Promise.resolve(message));
    assert.equal(await code(client.request('client', 'server', Uint8Array.of(1))), 'ok');
    network.partition([['server']]);
    assert.equal(await code(client.request('client', 'server', Uint8Array.of(1))), 'timeout');
    network.heal();
    serverLife.end();
    network.dropListeners(serverLife);
    assert.equal(await code(client.request('client', 'server', Uint8Array.of(1))), 'unreachable');
  });
});

describe('SimClock', () => {
  it('fires timers in due order on the queue, and never once its node crashed', () => {
    const queue = new EventQueue(100);
    const life = new Incarnation('n', 1);
    const clock = new SimClock(queue, life, 1000);
    const fired: number[] = [];
    clock.setTimer(20, () => fired.push(20));
    clock.setTimer(10, () => fired.push(10));
    const cleared = clock.setTimer(5, () => fired.push(5));
    clock.clearTimer(cleared);
    clock.setTimer(30, () => fired.push(30));
    queue.runUntil(25);
    assert.deepEqual(fired, [10, 20]);
    assert.equal(clock.nowMs(), 1025);
    life.end();
    queue.runUntil(100);
    assert.deepEqual(fired, [10, 20]);
  });
});

describe('ObjectModel', () => {
  it('after an acknowledged write only it (or a write racing the read) may be read', () => {
    const model = new ObjectModel();
    const a = model.begin('k', 'put', Uint8Array.of(1), 0);
    model.acknowledge(a, 10);
    assert.deepEqual(model.candidates('k', 5, 8).map((candidate) => candidate.writeId), [0, a.id]);
    assert.deepEqual(model.candidates('k', 11, 12).map((candidate) => candidate.writeId), [a.id]);
    const gone = model.begin('k', 'delete', undefined, 20);
    model.acknowledge(gone, 30);
    assert.deepEqual(model.candidates('k', 31, 32).map((candidate) => candidate.writeId), [gone.id]);
    const unknown = model.begin('k', 'put', Uint8Array.of(2), 40);
    model.giveUp(unknown);
    const later = model.begin('k', 'put', Uint8Array.of(3), 50);
    model.acknowledge(later, 60);
    // The unknown write may still land after `later`: it stays a candidate.
    assert.deepEqual(model.candidates('k', 70, 71).map((candidate) => candidate.writeId), [unknown.id, later.id]);
  });
});
