// Transport seam: request/response messages between roles (gateway, meta,
// blob). In-process for the embedded server (io/in-process-transport.ts); TCP
// and the simulated network implement the same interface later.

export type NodeAddress = string;

export type MessageHandler = (from: NodeAddress, message: Uint8Array) => Promise<Uint8Array>;

export interface Transport {
  /** Registers the handler for messages sent to `address`. */
  listen(address: NodeAddress, handler: MessageHandler): void;
  unlisten(address: NodeAddress): void;
  /** Sends `message` from `from` to `to` and resolves with the reply. */
  request(from: NodeAddress, to: NodeAddress, message: Uint8Array): Promise<Uint8Array>;
}
