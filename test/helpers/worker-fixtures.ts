// What the worker tests (healer, orphan sweep) share: a clock whose wall time
// a test moves past a grace period while its timers stay real, one temp
// folder per test case kept alive for the file's tests, and the real parts a
// case starts from (an LMDB MetaService behind a LocalMetaClient, a
// FragmentStore over one folder per drive).

import { after, before } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FragmentStore } from '../../src/blob/fragment-store.js';
import { LocalMetaClient } from '../../src/gateway/local-meta-client.js';
import type { Clock, TimerHandle } from '../../src/io/clock.js';
import type { Env } from '../../src/io/env.js';
import { noFaults } from '../../src/io/env.js';
import { InProcessTransport } from '../../src/io/in-process-transport.js';
import { silentLogger } from '../../src/io/logger.js';
import { LmdbStore } from '../../src/io/node/lmdb-store.js';
import { NodeClock } from '../../src/io/node/node-clock.js';
import { NodeDisk } from '../../src/io/node/node-disk.js';
import { NodeRandom } from '../../src/io/node/node-random.js';
import { MetaService } from '../../src/meta/meta-service.js';

/** Real timers, wall time that a test can move forward (`offsetMs`: a grace period passing). */
export class WallClock implements Clock {
  private readonly clock = new NodeClock();
  offsetMs = 0;
  nowMs(): number {
    return this.clock.nowMs() + this.offsetMs;
  }
  monotonicMs(): number {
    return this.clock.monotonicMs();
  }
  setTimer(delayMs: number, callback: () => void): TimerHandle {
    return this.clock.setTimer(delayMs, callback);
  }
  clearTimer(handle: TimerHandle): void {
    this.clock.clearTimer(handle);
  }
  sleep(delayMs: number): Promise<void> {
    return this.clock.sleep(delayMs);
  }
}

/**
 * Registers before/after hooks for a test file: a temp folder removed at the
 * end, and a ref'd interval meanwhile (NodeClock's timers do not keep the
 * process alive; a test waiting only on them, a replica's tick or a writer's
 * retry, would end with its promise pending). Returns the function that gives
 * each test case a fresh folder under it.
 */
export function caseFolders(prefix: string): () => string {
  let root = '';
  let next = 0;
  let keepAlive: ReturnType<typeof setInterval> | undefined;
  before(() => {
    root = mkdtempSync(join(tmpdir(), prefix));
    keepAlive = setInterval(() => undefined, 50);
  });
  after(() => {
    clearInterval(keepAlive);
    rmSync(root, { recursive: true, force: true });
  });
  return () => join(root, `case-${next++}`);
}

export interface WorkerParts {
  readonly env: Env;
  readonly clock: WallClock;
  readonly meta: LocalMetaClient;
  readonly store: FragmentStore;
  /** The folder of drive `id`, by id. */
  readonly drivePaths: readonly string[];
  /** Closes the metadata service and its LMDB, then the store. */
  close(): Promise<void>;
}

/** A fresh metadata group of 1 on LMDB and a fragment store over `driveIds`, under `base`. */
export async function startWorkerParts(base: string, driveIds: readonly number[]): Promise<WorkerParts> {
  const clock = new WallClock();
  const env: Env = { clock, random: new NodeRandom(), disk: new NodeDisk(), transport: new InProcessTransport(), faults: noFaults, logger: silentLogger };
  await env.disk.mkdirp(join(base, 'meta'));
  const kv = new LmdbStore({ path: join(base, 'meta', 'lmdb') });
  const service = await MetaService.open(env, kv);
  const meta = new LocalMetaClient(service);
  const drivePaths = driveIds.map((id) => join(base, `drive-${id}`));
  const store = new FragmentStore({ disk: env.disk, drives: driveIds.map((id) => ({ id, path: drivePaths[id]! })) });
  await store.init();
  const close = async (): Promise<void> => {
    await service.close();
    await kv.close();
    await store.close();
  };
  return { env, clock, meta, store, drivePaths, close };
}
