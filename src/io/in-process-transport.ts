// In-process Transport: a map of addresses to handlers in one process. Messages
// are copied so sender and receiver never share a buffer, as over a socket.

import type { MessageHandler, NodeAddress, Transport } from './transport.js';

export class InProcessTransport implements Transport {
  private readonly handlers = new Map<NodeAddress, MessageHandler>();

  listen(address: NodeAddress, handler: MessageHandler): void {
    if (this.handlers.has(address)) throw new Error(`Address "${address}" is already listening`);
    this.handlers.set(address, handler);
  }

  unlisten(address: NodeAddress): void {
    this.handlers.delete(address);
  }

  async request(from: NodeAddress, to: NodeAddress, message: Uint8Array): Promise<Uint8Array> {
    const handler = this.handlers.get(to);
    if (handler === undefined) throw new Error(`No listener at "${to}"`);
    const reply = await handler(from, Uint8Array.from(message));
    return Uint8Array.from(reply);
  }
}
