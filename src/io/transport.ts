// Transport seam: messages between roles (gateway, meta, blob) and between VSR
// replicas. Two shapes: request/response (blob RPC, meta client) and one-way
// send (VSR messages: losing one is allowed, the protocol retries). In-process
// for the embedded server (io/in-process-transport.ts), TCP between nodes
// (io/node/tcp-transport.ts); the simulated network implements it later.
//
// Errors: implementations reject with TransportError and one of the codes
// below, so callers branch on `code` without knowing the implementation.

export type NodeAddress = string;

/**
 * Handles a message sent to a listening address. The reply goes back to the
 * requester; for a one-way `send` the reply is ignored. A thrown error (or a
 * rejection) reaches the requester as a TransportError with code 'remote_error'.
 */
export type MessageHandler = (from: NodeAddress, message: Uint8Array) => Promise<Uint8Array>;

export interface Transport {
  /** Registers the handler for messages sent to `address`. */
  listen(address: NodeAddress, handler: MessageHandler): void;
  unlisten(address: NodeAddress): void;
  /** Sends `message` from `from` to `to` and resolves with the reply. */
  request(from: NodeAddress, to: NodeAddress, message: Uint8Array): Promise<Uint8Array>;
  /**
   * Sends `message` from `from` to `to` without waiting for anything: delivery
   * is best effort (a message may be lost, never corrupted or forged), and the
   * handler's reply is dropped. Never throws for a missing or dead peer.
   */
  send(from: NodeAddress, to: NodeAddress, message: Uint8Array): void;
}

export type TransportErrorCode =
  | 'bad_address' // the address is not "host:port"
  | 'unreachable' // no listener, connection refused, connect or handshake failed
  | 'connection_lost' // the connection closed while the request was in flight
  | 'timeout' // no reply within the request timeout
  | 'busy' // too many requests already waiting for this peer
  | 'too_large' // the message or the reply exceeds the frame limit
  | 'remote_error' // the handler threw; the message carries its message
  | 'closed'; // the transport was closed

export class TransportError extends Error {
  override readonly name = 'TransportError';
  constructor(
    readonly code: TransportErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
