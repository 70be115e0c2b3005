// The data directory's own files: the layout it was created with (so a restart
// with fewer drives is refused instead of losing shards) and the root
// credentials generated on first start.

import * as path from 'node:path';
import type { Disk } from '../io/disk.js';
import type { Random } from '../io/random.js';

export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function randomString(random: Random, length: number, chars: string): string {
  return Array.from(random.bytes(length), (byte) => chars[byte % chars.length]!).join('');
}

export async function loadOrCreateCredentials(
  disk: Disk,
  random: Random,
  dataDir: string,
  given: Credentials | undefined,
): Promise<Credentials & { generated: boolean }> {
  if (given !== undefined) return { ...given, generated: false };
  const file = path.join(dataDir, 'root-credentials.json');
  if ((await disk.stat(file)) !== undefined) {
    const saved = JSON.parse(Buffer.from(await disk.readFile(file)).toString('utf8')) as Credentials;
    return { ...saved, generated: true };
  }
  const created: Credentials = {
    accessKeyId: 'TS' + randomString(random, 18, alphabet),
    secretAccessKey: randomString(random, 40, alphabet + 'abcdefghijklmnopqrstuvwxyz01'),
  };
  await disk.writeFileAtomic(file, Buffer.from(JSON.stringify(created, null, 2) + '\n'));
  return { ...created, generated: true };
}

export async function checkLayout(disk: Disk, dataDir: string, driveCount: number): Promise<void> {
  const file = path.join(dataDir, 'layout.json');
  if ((await disk.stat(file)) !== undefined) {
    const saved = JSON.parse(Buffer.from(await disk.readFile(file)).toString('utf8')) as { driveCount: number };
    if (driveCount < saved.driveCount) {
      throw new Error(`The data directory ${dataDir} was created with ${saved.driveCount} drives; refusing to start with ${driveCount} (its shards would be unreachable)`);
    }
    if (driveCount === saved.driveCount) return;
  }
  await disk.writeFileAtomic(file, Buffer.from(JSON.stringify({ format: 1, driveCount }, null, 2) + '\n'));
}
