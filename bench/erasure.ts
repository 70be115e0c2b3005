// Erasure coding throughput: encode ~1 GiB of data in 256 KiB blocks for the
// 4+2 and 10+4 schemes, one stripe in flight and several, next to a plain
// Buffer.copy of the same bytes so the ratio says what coding costs over
// touching the memory once. The GiB is run as 4 rounds and the best round is
// reported, because a shared machine makes single runs noisy.
// Run: npm run build && node dist/bench/erasure.js

import { ReedSolomonCoder } from '../src/erasure/reed-solomon.js';

const blockSizeBytes = 256 * 1024;
const totalBytesTarget = 1024 ** 3;
const rounds = 4;

interface Row {
  readonly name: string;
  readonly bytes: number;
  readonly seconds: number;
}

function filled(length: number): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 2654435761) >>> 24;
  return bytes;
}

function secondsSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

async function encodeRow(k: number, m: number, inFlight: number): Promise<Row> {
  const coder = new ReedSolomonCoder(k, m);
  const stripesPerRound = Math.ceil(totalBytesTarget / rounds / (k * blockSizeBytes));
  const data = Array.from({ length: inFlight }, () => filled(k * blockSizeBytes));
  await coder.encode(data[0]!, blockSizeBytes); // warm up
  let secondsBest = Infinity;
  for (let round = 0; round < rounds; round++) {
    let started = 0;
    const worker = async (buffer: Buffer): Promise<void> => {
      while (started < stripesPerRound) {
        started++; // claimed before the await, so exactly stripesPerRound run
        await coder.encode(buffer, blockSizeBytes);
      }
    };
    const start = process.hrtime.bigint();
    await Promise.all(data.map(worker));
    secondsBest = Math.min(secondsBest, secondsSince(start));
  }
  return { name: `encode ${k}+${m}, ${inFlight} in flight`, bytes: stripesPerRound * k * blockSizeBytes, seconds: secondsBest };
}

function copyRow(): Row {
  const source = filled(10 * blockSizeBytes);
  const target = Buffer.allocUnsafe(source.length);
  const copiesPerRound = Math.ceil(totalBytesTarget / rounds / source.length);
  let secondsBest = Infinity;
  for (let round = 0; round < rounds; round++) {
    const start = process.hrtime.bigint();
    for (let copy = 0; copy < copiesPerRound; copy++) source.copy(target);
    secondsBest = Math.min(secondsBest, secondsSince(start));
  }
  return { name: 'baseline Buffer.copy', bytes: copiesPerRound * source.length, seconds: secondsBest };
}

function megabytesPerSecond(row: Row): number {
  return row.bytes / 1e6 / row.seconds;
}

async function main(): Promise<void> {
  const baseline = copyRow();
  const rows = [baseline];
  for (const [k, m] of [[4, 2], [10, 4]] as const) {
    for (const inFlight of [1, 4]) rows.push(await encodeRow(k, m, inFlight));
  }
  const threads = process.env['UV_THREADPOOL_SIZE'] ?? '4 (default)';
  console.log(`block ${blockSizeBytes / 1024} KiB, ~1 GiB per row in ${rounds} rounds (best shown), threadpool ${threads}`);
  console.log('case                           data MB/s   vs copy');
  for (const row of rows) {
    const rate = megabytesPerSecond(row);
    const ratio = rate / megabytesPerSecond(baseline);
    console.log(`${row.name.padEnd(30)} ${rate.toFixed(0).padStart(10)} ${ratio.toFixed(3).padStart(9)}`);
  }
}

await main();
