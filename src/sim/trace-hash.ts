// A running hash of everything that happens in a simulation (deliveries,
// commits, replies, faults). Two runs from one seed must print the same hash;
// any hidden nondeterminism shows up as a different one. Two 32-bit FNV-1a
// lanes with different offsets give a 64-bit hex digest, cheap per event.

export class TraceHash {
  private low = 0x811c9dc5;
  private high = 0x01000193 ^ 0x5bd1e995;
  events = 0;

  mix(...parts: readonly (string | number)[]): void {
    this.events++;
    for (const part of parts) {
      const text = typeof part === 'number' ? part.toString(36) : part;
      for (let index = 0; index < text.length; index++) this.byte(text.charCodeAt(index));
      this.byte(0x1f);
    }
    this.byte(0x1e);
  }

  digest(): string {
    return (this.high >>> 0).toString(16).padStart(8, '0') + (this.low >>> 0).toString(16).padStart(8, '0');
  }

  private byte(value: number): void {
    this.low = Math.imul(this.low ^ (value & 0xffff), 0x01000193);
    this.high = Math.imul(this.high ^ (value & 0xffff), 0x01000193) ^ (this.low >>> 15);
  }
}
