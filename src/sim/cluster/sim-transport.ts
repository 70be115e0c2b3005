// The Transport seam for the cluster simulation: every message is an event
// on the simulation's queue, delayed by a seeded amount, possibly lost (a
// one-way message possibly duplicated), and dropped between the two sides of
// a partition. Messages from one life of a node to one address arrive in the
// order they were sent, as over one TCP connection. A request nobody listens to fails 'unreachable' (as a refused
// connection does); a lost request or reply fails 'timeout' once the
// transport's request deadline passes (callers usually give up earlier on
// their own timers). A crashed node's listeners are gone; replies to, and
// deadlines of, a crashed requester are dropped, since its code never runs
// again. One SimNetwork carries every node; each life of a node talks
// through its own SimTransport, which stamps that life on what it sends.

import { assert } from '../../stdx/assert.js';
import { TransportError } from '../../io/transport.js';
import type { MessageHandler, NodeAddress, Transport } from '../../io/transport.js';
import type { EventQueue } from '../event-queue.js';
import type { Prng } from '../prng.js';
import type { TraceHash } from '../trace-hash.js';
import type { Incarnation } from './incarnation.js';

export interface NetworkConditions {
  /** Chance that one message (a request, a reply, a one-way send) is lost. */
  readonly lossProbability: number;
  /** Chance that a one-way message is delivered twice. */
  readonly duplicateProbability: number;
  readonly delayMsMin: number;
  readonly delayMsMax: number;
}

export const quietConditions: NetworkConditions = { lossProbability: 0, duplicateProbability: 0, delayMsMin: 1, delayMsMax: 3 };

interface Listener {
  readonly handler: MessageHandler;
  readonly life: Incarnation;
}

/** Listening addresses at once (every role of every node; a leak shows up as an assertion). */
const listenersMax = 1024;
/** Channels remembered (lives × addresses over a run). */
const channelsMax = 1_000_000;

export class SimNetwork {
  conditions: NetworkConditions = quietConditions;
  messagesDelivered = 0;
  messagesLost = 0;
  private readonly listeners = new Map<NodeAddress, Listener>();
  /** Per channel (a life of a node → an address or a requester), when its last message arrives: channels are FIFO. */
  private readonly channelArrivalMs = new Map<string, number>();
  /** Node name → side; nodes not named are on side 0. Undefined: no partition. */
  private sides: ReadonlyMap<string, number> | undefined;

  constructor(
    private readonly queue: EventQueue,
    private readonly prng: Prng,
    private readonly trace: TraceHash,
    /** A request with no reply fails 'timeout' after this long. */
    readonly requestTimeoutMs: number,
  ) {
    assert(requestTimeoutMs > 0, `request timeout ${requestTimeoutMs} ms`);
  }

  /** The transport one life of a node sends and listens through. */
  endpoint(life: Incarnation): Transport {
    return new SimTransport(this, life);
  }

  /** Cuts the network into sides: `groups[i]` is side i + 1, every other node side 0. */
  partition(groups: readonly (readonly string[])[]): void {
    const sides = new Map<string, number>();
    groups.forEach((group, index) => {
      for (const node of group) sides.set(node, index + 1);
    });
    this.sides = sides;
  }

  heal(): void {
    this.sides = undefined;
  }

  get partitioned(): boolean {
    return this.sides !== undefined;
  }

  reachable(fromNode: string, toNode: string): boolean {
    if (this.sides === undefined) return true;
    return (this.sides.get(fromNode) ?? 0) === (this.sides.get(toNode) ?? 0);
  }

  /** A crashed life's listeners stop answering at once. */
  dropListeners(life: Incarnation): void {
    for (const [address, listener] of [...this.listeners]) {
      if (listener.life === life) this.listeners.delete(address);
    }
  }

  listen(life: Incarnation, address: NodeAddress, handler: MessageHandler): void {
    const current = this.listeners.get(address);
    if (current !== undefined && current.life.alive) throw new Error(`Address "${address}" is already listening (${current.life.node})`);
    this.listeners.set(address, { handler, life });
    assert(this.listeners.size <= listenersMax, `more than ${listenersMax} listening addresses`);
  }

  unlisten(life: Incarnation, address: NodeAddress): void {
    if (this.listeners.get(address)?.life === life) this.listeners.delete(address);
  }

  request(life: Incarnation, from: NodeAddress, to: NodeAddress, message: Uint8Array): Promise<Uint8Array> {
    const copy = Uint8Array.from(message);
    return new Promise<Uint8Array>((resolve, reject) => {
      let settled = false;
      const settle = (finish: () => void): void => {
        if (settled || !life.alive) return;
        settled = true;
        finish();
      };
      this.queue.schedule(this.requestTimeoutMs, () => {
        settle(() => { reject(new TransportError('timeout', `no reply from "${to}" within ${this.requestTimeoutMs} ms`)); });
      });
      const channel = `${life.node}#${life.number}>${to}`;
      const back = `${to}>${life.node}#${life.number}`;
      this.carry(channel, life.node, () => {
        const listener = this.listeners.get(to);
        if (listener === undefined || !listener.life.alive) {
          this.carry(back, life.node, () => { settle(() => { reject(new TransportError('unreachable', `No listener at "${to}"`)); }); }, undefined);
          return;
        }
        if (!this.reachable(life.node, listener.life.node)) {
          this.lost();
          return;
        }
        this.delivered(life.node, listener.life.node, copy.length);
        const receiver = listener.life;
        this.invoke(listener, from, copy).then(
          (reply) => {
            if (!receiver.alive) return;
            const bytes = Uint8Array.from(reply);
            this.carry(back, receiver.node, () => { settle(() => { resolve(bytes); }); }, life.node);
          },
          (error: unknown) => {
            if (!receiver.alive) return;
            const text = error instanceof Error ? error.message : String(error);
            const failure = new TransportError('remote_error', `Request to "${to}" failed in the handler: ${text}`, { cause: error });
            this.carry(back, receiver.node, () => { settle(() => { reject(failure); }); }, life.node);
          },
        );
      }, undefined);
    });
  }

  send(life: Incarnation, from: NodeAddress, to: NodeAddress, message: Uint8Array): void {
    const copy = Uint8Array.from(message);
    const copies = this.prng.chance(this.conditions.duplicateProbability) ? 2 : 1;
    for (let index = 0; index < copies; index++) {
      this.carry(`${life.node}#${life.number}>${to}`, life.node, () => {
        const listener = this.listeners.get(to);
        if (listener === undefined || !listener.life.alive || !this.reachable(life.node, listener.life.node)) {
          this.lost();
          return;
        }
        this.delivered(life.node, listener.life.node, copy.length);
        this.invoke(listener, from, copy).catch(() => undefined);
      }, undefined);
    }
  }

  /**
   * Runs `arrive` after a seeded delay unless the message is lost on the way.
   * With `toNode`, the message is a reply: a partition that came up meanwhile
   * drops it too.
   */
  private carry(channel: string, fromNode: string, arrive: () => void, toNode: string | undefined): void {
    const { lossProbability, delayMsMin, delayMsMax } = this.conditions;
    if (this.prng.chance(lossProbability)) {
      this.lost();
      return;
    }
    const nowMs = this.queue.nowMs;
    const arrivalMs = Math.max(nowMs + this.prng.between(delayMsMin, delayMsMax), this.channelArrivalMs.get(channel) ?? 0);
    this.channelArrivalMs.set(channel, arrivalMs);
    assert(this.channelArrivalMs.size <= channelsMax, `more than ${channelsMax} channels`);
    this.queue.schedule(arrivalMs - nowMs, () => {
      if (toNode !== undefined && !this.reachable(fromNode, toNode)) {
        this.lost();
        return;
      }
      arrive();
    });
  }

  private invoke(listener: Listener, from: NodeAddress, message: Uint8Array): Promise<Uint8Array> {
    try {
      return listener.handler(from, message);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  private delivered(fromNode: string, toNode: string, sizeBytes: number): void {
    this.messagesDelivered++;
    this.trace.mix('msg', this.queue.nowMs, fromNode, toNode, sizeBytes);
  }

  private lost(): void {
    this.messagesLost++;
  }
}

/** One life's view of the network. */
class SimTransport implements Transport {
  constructor(
    private readonly network: SimNetwork,
    private readonly life: Incarnation,
  ) {}

  listen(address: NodeAddress, handler: MessageHandler): void {
    this.network.listen(this.life, address, handler);
  }

  unlisten(address: NodeAddress): void {
    this.network.unlisten(this.life, address);
  }

  request(from: NodeAddress, to: NodeAddress, message: Uint8Array): Promise<Uint8Array> {
    return this.network.request(this.life, from, to, message);
  }

  send(from: NodeAddress, to: NodeAddress, message: Uint8Array): void {
    this.network.send(this.life, from, to, message);
  }
}
