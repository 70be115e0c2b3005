// The erasure coder's native addon (@ronomon/reed-solomon, used by
// erasure/reed-solomon.ts) computes on libuv's thread pool and calls back
// whenever the pool is done: real asynchrony inside the world, so two runs of
// one seed could interleave differently. While a cluster simulation runs its
// loop, the addon's callbacks are held here instead, and the loop hands them
// back one at a time in the order the calls were made, each after the event
// that started it and before the next event (`settleNativeCalls`). Outside a
// simulation loop the callbacks pass straight through, so other users of the
// coder in the same process are unaffected.

import { createRequire } from 'node:module';
import { assert } from '../../stdx/assert.js';

type Callback = (error?: unknown) => void;

interface NativeAddon {
  encode: (...args: unknown[]) => void;
}

interface HeldCall {
  done: boolean;
  error: unknown;
  readonly callback: Callback;
}

/** Native calls held at once (one event starts a handful). */
const heldCallsMax = 65_536;

const held: HeldCall[] = [];
let loopsRunning = 0;
let installed = false;

/** Wraps the addon's encode once per process; idempotent. */
export function holdNativeCalls(): void {
  if (installed) return;
  installed = true;
  const addon = createRequire(import.meta.url)('@ronomon/reed-solomon') as NativeAddon;
  const encode = addon.encode.bind(addon);
  addon.encode = (...args: unknown[]): void => {
    const callback = args.at(-1);
    assert(typeof callback === 'function', 'the addon is called with a callback last');
    if (loopsRunning === 0) {
      encode(...args);
      return;
    }
    const call: HeldCall = { done: false, error: undefined, callback: callback as Callback };
    held.push(call);
    assert(held.length <= heldCallsMax, `more than ${heldCallsMax} native erasure calls held`);
    encode(...args.slice(0, -1), (error?: unknown) => {
      call.done = true;
      call.error = error;
    });
  };
}

/** Marks a simulation loop running (callbacks are held) or stopped. */
export function simulationLoop(running: boolean): void {
  loopsRunning += running ? 1 : -1;
  assert(loopsRunning >= 0, 'simulation loops never negative');
}

/**
 * Hands back every held callback in call order, one at a time, draining the
 * microtasks each one starts (which may make more calls: those are handed
 * back too) before the next.
 */
export async function settleNativeCalls(drain: () => Promise<void>): Promise<void> {
  while (held.length > 0) {
    const call = held[0]!;
    // Waits for the thread pool in real time; this decides nothing in the world.
    while (!call.done) await new Promise<void>((resolve) => setImmediate(resolve));
    held.shift();
    if (call.error === undefined) call.callback();
    else call.callback(call.error);
    await drain();
  }
}
