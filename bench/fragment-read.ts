// FragmentStore read path: what a GET asks of the blob store. Writes 4
// fragments of 16 MiB (256 KiB blocks, a 4+2 part of 64 MiB without parity),
// then reads them back the way part-reader does: windows of 4 blocks, the 4
// shards of a window in parallel. With the open-handle cache each fragment is
// opened once; with openFragmentsMax 0, once per window (as before the cache).
// Also small reads (one block of 4 KiB-block fragments), where the per-read
// open/fstat/header/close cost dominates. Data is in the page cache: this
// measures the store's overhead, not the drive. Best of several rounds.
// Run: npm run build && node dist/bench/fragment-read.js

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { FragmentStore } from '../src/blob/fragment-store.js';
import type { FragmentStoreOptions } from '../src/blob/fragment-store.js';
import { NodeDisk } from '../src/io/node/node-disk.js';

const rounds = 7;
const shardCount = 4;

interface Layout {
  readonly name: string;
  readonly blockSizeBytes: number;
  readonly blocksPerFragment: number;
  readonly blocksPerRead: number;
  readonly readsPerRound: number;
}

const layouts: readonly Layout[] = [
  { name: '64 MiB object, 4-block windows', blockSizeBytes: 256 * 1024, blocksPerFragment: 64, blocksPerRead: 4, readsPerRound: 16 * 4 },
  { name: 'small reads, 1 block of 4 KiB', blockSizeBytes: 4096, blocksPerFragment: 256, blocksPerRead: 1, readsPerRound: 4000 },
];

function filled(length: number, seed: number): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  for (let at = 0; at < length; at++) bytes[at] = (at * 2654435761 + seed) >>> 24;
  return bytes;
}

async function writeFragments(store: FragmentStore, layout: Layout): Promise<string[]> {
  const ids: string[] = [];
  for (let shard = 0; shard < shardCount; shard++) {
    const id = `bench-${layout.blockSizeBytes}-${shard}`;
    const writer = await store.createWriter(0, id, layout.blockSizeBytes);
    for (let block = 0; block < layout.blocksPerFragment; block += 16) {
      await writer.appendBlocks(Array.from({ length: 16 }, (_, index) => filled(layout.blockSizeBytes, block + index)));
    }
    await writer.finish();
    ids.push(id);
  }
  return ids;
}

/** Seconds for one round: readsPerRound reads, all shards of a window in parallel. */
async function readRound(store: FragmentStore, layout: Layout, ids: readonly string[]): Promise<number> {
  const windows = layout.blocksPerFragment / layout.blocksPerRead;
  const start = performance.now();
  for (let read = 0; read < layout.readsPerRound; read += shardCount) {
    const firstBlock = ((read / shardCount) % windows) * layout.blocksPerRead;
    await Promise.all(ids.map((id) => store.readBlocks(0, id, firstBlock, layout.blocksPerRead)));
  }
  return (performance.now() - start) / 1000;
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'tessera-fragment-read-'));
  try {
    const variants = [
      { name: 'no cache (openFragmentsMax 0)', options: { openFragmentsMax: 0 } },
      { name: 'handle cache (default)', options: {} },
    ];
    console.log('layout                              variant                          reads/s     MB/s');
    for (const layout of layouts) {
      const stores = variants.map((variant, index) => {
        // Spread, so this file also builds against a FragmentStore without the option.
        const options = { disk: new NodeDisk(), drives: [{ id: 0, path: join(root, `${layout.blockSizeBytes}-${index}`) }], ...variant.options };
        return new FragmentStore(options as FragmentStoreOptions);
      });
      const ids: string[][] = [];
      for (const store of stores) {
        await store.init();
        ids.push(await writeFragments(store, layout));
      }
      const best = variants.map(() => Infinity);
      for (let round = 0; round < rounds; round++) {
        const order = round % 2 === 0 ? [0, 1] : [1, 0];
        for (const index of order) best[index] = Math.min(best[index]!, await readRound(stores[index]!, layout, ids[index]!));
      }
      const bytesPerRound = layout.readsPerRound * layout.blocksPerRead * layout.blockSizeBytes;
      variants.forEach((variant, index) => {
        const seconds = best[index]!;
        console.log(
          `${layout.name.padEnd(35)} ${variant.name.padEnd(30)} ${(layout.readsPerRound / seconds).toFixed(0).padStart(9)} ${(bytesPerRound / 1e6 / seconds).toFixed(0).padStart(8)}`,
        );
      });
      for (const store of stores) {
        const closable = store as unknown as { close?: () => Promise<void> };
        if (closable.close !== undefined) await closable.close();
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
