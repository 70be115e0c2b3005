// A running hash of everything that happens in a simulation (deliveries,
// commits, replies, faults). Two runs from one seed must print the same hash;
// any hidden nondeterminism shows up as a different one. Two 32-bit FNV-1a
// lanes with different offsets give a 64-bit hex digest, cheap per event.
//
// It also keeps the last events it mixed in a fixed ring, so a failing run can
// print the trace right before the violation. The ring holds each event's raw
// parts (the array `mix` already receives) and formats them only when asked:
// a sweep runs hundreds of seeds a second and almost never needs the text.

import { assert } from '../stdx/assert.js';

type Part = string | number;

/** Events the tail keeps unless told otherwise. */
export const traceTailEventsDefault = 64;
const traceTailEventsMax = 4096;

export class TraceHash {
  private low = 0x811c9dc5;
  private high = 0x01000193 ^ 0x5bd1e995;
  events = 0;
  /** Slot `events % length` holds the newest event's parts. */
  private readonly tail: (readonly Part[] | undefined)[];
  private readonly tailTimesMs: Float64Array;
  private clock: (() => number) | undefined;

  constructor(tailEventsMax: number = traceTailEventsDefault) {
    assert(Number.isInteger(tailEventsMax) && tailEventsMax >= 1 && tailEventsMax <= traceTailEventsMax, `trace tail of ${tailEventsMax} events: must be 1…${traceTailEventsMax}`);
    this.tail = new Array<readonly Part[] | undefined>(tailEventsMax).fill(undefined);
    this.tailTimesMs = new Float64Array(tailEventsMax).fill(Number.NaN);
  }

  mix(...parts: readonly Part[]): void {
    const slot = this.events % this.tail.length;
    this.tail[slot] = parts;
    if (this.clock !== undefined) this.tailTimesMs[slot] = this.clock();
    this.events++;
    for (const part of parts) {
      const text = typeof part === 'number' ? part.toString(36) : part;
      for (let index = 0; index < text.length; index++) this.byte(text.charCodeAt(index));
      this.byte(0x1f);
    }
    this.byte(0x1e);
  }

  /**
   * Stamps each later event in the tail with `clock()` (the simulated time),
   * so events that do not carry a time (a commit) still print one. The hash
   * does not include the stamp.
   */
  stampWith(clock: () => number): void {
    this.clock = clock;
  }

  digest(): string {
    return (this.high >>> 0).toString(16).padStart(8, '0') + (this.low >>> 0).toString(16).padStart(8, '0');
  }

  /** The last events mixed (at most the ring's size), oldest first, one readable line each. */
  tailLines(): string[] {
    const kept = Math.min(this.events, this.tail.length);
    const lines: string[] = [];
    for (let event = this.events - kept; event < this.events; event++) {
      const slot = event % this.tail.length;
      const parts = this.tail[slot];
      assert(parts !== undefined, `trace tail slot ${slot} is empty after ${this.events} events`);
      const stampedMs = this.tailTimesMs[slot]!;
      lines.push(formatEvent(parts, Number.isNaN(stampedMs) ? undefined : stampedMs));
    }
    return lines;
  }

  private byte(value: number): void {
    this.low = Math.imul(this.low ^ (value & 0xffff), 0x01000193);
    this.high = Math.imul(this.high ^ (value & 0xffff), 0x01000193) ^ (this.low >>> 15);
  }
}

const replicaOrClient = (index: number): string => (index < 0 ? 'client' : String(index));

/**
 * One event as a line: `t=1234 prepare_ok 1→0 view 3`. Knows the shapes the
 * simulation mixes today; any other shape prints as its name and parts, the
 * first part taken as the time (as the simulation's events have it).
 */
export function formatEvent(parts: readonly Part[], stampedMs?: number): string {
  const [name, ...rest] = parts;
  const time = (ms: number | undefined): string => (ms === undefined ? '' : `t=${ms} `);
  if (typeof name !== 'string') return `${time(stampedMs)}${parts.join(' ')}`;
  // A committed entry: commit, replica, op number, checksum (no time part).
  if (name === 'commit' && rest.length === 3 && typeof rest[2] === 'string') {
    const [replica, opNumber, checksum] = rest;
    return `${time(stampedMs)}commit op ${opNumber} on ${replica} (${checksum.slice(0, 12)})`;
  }
  const [first, ...after] = rest;
  if (typeof first !== 'number') return `${time(stampedMs)}${parts.join(' ')}`;
  return `${time(stampedMs ?? first)}${describe(name, after)}`;
}

function describe(name: string, parts: readonly Part[]): string {
  switch (name) {
    case 'crash':
    case 'restart':
    case 'heal':
      return [name, ...parts].join(' ');
    case 'partition':
      return `partition [${parts.join(',')}] | rest`;
    case 'corrupt':
      if (parts.length === 3) return `corrupt replica ${parts[0]} op ${parts[1]} (bit ${parts[2]})`;
      break;
    case 'issue':
      if (parts.length === 2) return `issue ${parts[0]}#${parts[1]}`;
      break;
    case 'reply':
      if (parts.length === 4) return `reply ${parts[0]}→${parts[1]}#${parts[2]} op ${parts[3]}`;
      break;
    default:
      // A delivered message: type, time, from, to, view (-1 when it has none).
      if (parts.length === 3 && typeof parts[0] === 'number' && typeof parts[2] === 'number') {
        const [from, to, view] = parts;
        return `${name} ${replicaOrClient(from)}→${to}${view >= 0 ? ` view ${view}` : ''}`;
      }
  }
  return [name, ...parts].join(' ');
}
