// Random seam: ids, jitter and secrets come from here, seeded in simulation.

export interface Random {
  /** `length` random bytes. */
  bytes(length: number): Uint8Array;
  /** Uniform integer in [0, 2^32). */
  uint32(): number;
}
