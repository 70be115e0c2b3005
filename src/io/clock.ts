// Clock seam: the only way core code learns the time or waits. Real timers live
// in io/node/clock.ts; the simulator provides a virtual clock.

export interface TimerHandle {
  readonly id: number;
}

export interface Clock {
  /** Wall-clock milliseconds since the Unix epoch (may jump; used for S3 dates). */
  nowMs(): number;
  /** Monotonic milliseconds from an arbitrary origin (never goes back; used for timeouts). */
  monotonicMs(): number;
  /** Calls `callback` once after `delayMs`. */
  setTimer(delayMs: number, callback: () => void): TimerHandle;
  clearTimer(handle: TimerHandle): void;
  sleep(delayMs: number): Promise<void>;
}
