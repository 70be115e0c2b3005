// VSR client sessions for metadata ops. A VSR client has one request in
// flight and numbers its requests; a session is such a client (a random
// per-process prefix and a counter name it), so many sessions let many ops
// ride one prepare. Ops wait for a free session in a bounded queue; beyond it
// they are refused with MetaBusyError. Used by MetaService (ops on this
// replica) and RemoteMetaClient (ops sent to the group's primary).

import type { Random } from '../io/random.js';
import { assert } from '../stdx/assert.js';
import { bytesToHex } from '../stdx/bytes.js';
import type { MetaOp, MetaResult } from './ops.js';

export class MetaBusyError extends Error {
  override readonly name = 'MetaBusyError';
}

/** Sends one op as request `requestNumber` of client `clientId`. */
export type SessionSend = (clientId: string, requestNumber: number, op: MetaOp) => Promise<MetaResult>;

interface Session {
  readonly clientId: string;
  requestNumber: number;
}

type Queued = { readonly op: MetaOp; readonly resolve: (result: MetaResult) => void; readonly reject: (error: Error) => void };

export class ClientSessions {
  private readonly idle: Session[] = [];
  private made = 0;
  private readonly queue: Queued[] = [];
  private readonly prefix: string;

  constructor(
    random: Random,
    private readonly sessionsMax: number,
    private readonly queueOpsMax: number,
    private readonly send: SessionSend,
  ) {
    assert(sessionsMax > 0 && queueOpsMax >= 0, 'client session limits');
    // Fresh client ids every time: request numbers restart at 1.
    this.prefix = bytesToHex(random.bytes(8));
  }

  submit(op: MetaOp): Promise<MetaResult> {
    const session = this.take();
    if (session !== undefined) return this.run(session, op);
    if (this.queue.length >= this.queueOpsMax) return Promise.reject(new MetaBusyError(`metadata queue full (${this.queueOpsMax} ops)`));
    return new Promise((resolve, reject) => this.queue.push({ op, resolve, reject }));
  }

  /** Rejects every op still waiting for a session. */
  rejectQueued(error: Error): void {
    for (const queued of this.queue.splice(0)) queued.reject(error);
  }

  private take(): Session | undefined {
    const idle = this.idle.pop();
    if (idle !== undefined) return idle;
    if (this.made >= this.sessionsMax) return undefined;
    this.made++;
    return { clientId: `${this.prefix}-${this.made}`, requestNumber: 0 };
  }

  private async run(session: Session, op: MetaOp): Promise<MetaResult> {
    try {
      session.requestNumber++;
      return await this.send(session.clientId, session.requestNumber, op);
    } finally {
      this.release(session);
    }
  }

  private release(session: Session): void {
    const next = this.queue.shift();
    if (next === undefined) {
      this.idle.push(session);
      assert(this.idle.length <= this.made, 'idle sessions within the sessions made');
      return;
    }
    this.run(session, next.op).then(next.resolve, next.reject);
  }
}
