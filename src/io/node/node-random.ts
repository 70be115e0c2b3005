// The real Random: the operating system's CSPRNG.

import { randomBytes } from 'node:crypto';
import type { Random } from '../random.js';

export class NodeRandom implements Random {
  bytes(length: number): Uint8Array {
    return randomBytes(length);
  }

  uint32(): number {
    return randomBytes(4).readUInt32LE(0);
  }
}
