// Env: everything core code may use to touch the outside world, passed to
// every core constructor (DESIGN.md §9). Nothing here is a global singleton.

import type { Clock } from './clock.js';
import type { Disk } from './disk.js';
import type { Logger } from './logger.js';
import type { Random } from './random.js';
import type { Transport } from './transport.js';

/** Fault points (FoundationDB's BUGGIFY): fire only in simulation. */
export interface FaultPoints {
  /** True when the named fault should fire now. Always false in production. */
  fire(name: string): boolean;
}

export const noFaults: FaultPoints = {
  fire() {
    return false;
  },
};

export interface Env {
  readonly clock: Clock;
  readonly random: Random;
  readonly disk: Disk;
  readonly transport: Transport;
  readonly faults: FaultPoints;
  readonly logger: Logger;
}
