// In-process Transport: a map of addresses to handlers in one process. Messages
// are copied so sender and receiver never share a buffer, as over a socket.
// One-way sends are delivered on a microtask (never synchronously, as over a
// socket; no timers, which core code may not use) and a missing listener or a
// failing handler just loses the message. With `messageBytesMax`, a longer
// message throws 'too_large' at the sender, as the TCP transport's frame limit
// does.

import { assert } from '../stdx/assert.js';
import { TransportError } from './transport.js';
import type { MessageHandler, NodeAddress, Transport } from './transport.js';

export class InProcessTransport implements Transport {
  private readonly handlers = new Map<NodeAddress, MessageHandler>();

  constructor(private readonly options: { readonly messageBytesMax?: number } = {}) {
    const limit = options.messageBytesMax;
    assert(limit === undefined || (Number.isSafeInteger(limit) && limit >= 1), `message limit of ${limit} bytes`);
  }

  listen(address: NodeAddress, handler: MessageHandler): void {
    if (this.handlers.has(address)) throw new Error(`Address "${address}" is already listening`);
    this.handlers.set(address, handler);
  }

  unlisten(address: NodeAddress): void {
    this.handlers.delete(address);
  }

  async request(from: NodeAddress, to: NodeAddress, message: Uint8Array): Promise<Uint8Array> {
    this.checkSize(to, message);
    const handler = this.handlers.get(to);
    if (handler === undefined) throw new TransportError('unreachable', `No listener at "${to}"`);
    let reply: Uint8Array;
    try {
      reply = await handler(from, Uint8Array.from(message));
    } catch (error) {
      const text = error instanceof Error ? error.message : String(error);
      throw new TransportError('remote_error', `Request to "${to}" failed in the handler: ${text}`, { cause: error });
    }
    return Uint8Array.from(reply);
  }

  send(from: NodeAddress, to: NodeAddress, message: Uint8Array): void {
    this.checkSize(to, message);
    const copy = Uint8Array.from(message); // copied now: the caller may reuse its buffer
    queueMicrotask(() => {
      const handler = this.handlers.get(to);
      if (handler === undefined) return; // lost, as a one-way message may be
      try {
        handler(from, copy).catch(() => undefined);
      } catch {
        // A handler throwing synchronously loses the message too.
      }
    });
  }

  private checkSize(to: NodeAddress, message: Uint8Array): void {
    const limit = this.options.messageBytesMax;
    if (limit !== undefined && message.length > limit) throw new TransportError('too_large', `Message to "${to}" has ${message.length} bytes, the limit is ${limit}`);
  }
}
