// RemoteMetaClient: the gateway's MetaClient over the Transport, talking to a
// metadata group of replicas (meta/meta-service.ts on vsr/kv-driver.ts).
//
// Ops: each goes out on a client session (a VSR client id and its request
// numbers, one request at a time), taken from a bounded pool as MetaService
// does, so many ops are in flight at once and ride the primary's batches.
// Reads: `{type: 'query', query}` (meta/meta-queries.ts), answered by the
// primary after it confirms it still leads (linearizable, like a local read
// after an acknowledged op).
//
// Both go to the replica believed to be the primary. `{ok: false, view,
// primaryIndex}` redirects (the guess follows it when its view is not older
// than one already seen); a transport failure (timeout, unreachable, lost
// connection, a replica that closed or could not confirm a read) moves on to
// the next replica. A retried op keeps its client id and request number: the
// replicas' client table answers a retry of a committed request with the
// first reply, so an op is applied at most once however often it is sent.
// Between failures the client backs off (doubling, jittered by env.random);
// a redirect to another replica is followed at once. Past the deadline the
// call rejects with MetaUnavailableError, which the S3 layer answers with 503
// SlowDown and Retry-After. An op that failed so may still have been applied
// (its outcome is unknown, as with any timed-out request); S3 clients retry.
//
// Every attempt has its own timer on env.clock, whatever the transport does,
// so a deposed primary that never answers costs one attempt, not the call.

import type { Clock } from '../io/clock.js';
import type { Env } from '../io/env.js';
import type { Random } from '../io/random.js';
import { TransportError } from '../io/transport.js';
import type { NodeAddress, Transport, TransportErrorCode } from '../io/transport.js';
import type { MetaQueryOf, MetaQueryResults, MetaQueryType } from '../meta/meta-queries.js';
import { ClientSessions, MetaBusyError } from '../meta/client-sessions.js';
import type { MetaOp, MetaResult } from '../meta/ops.js';
import { assert } from '../stdx/assert.js';
import { decodeRecord, encodeRecord } from '../stdx/codec.js';
import { QueryMetaClient } from './query-meta-client.js';

export interface RemoteMetaClientOptions {
  /** This node's address: the `from` of every request. */
  readonly localAddress: NodeAddress;
  /** The group's replica addresses, by replica index. */
  readonly replicas: readonly NodeAddress[];
  /** A call (all its retries) fails with MetaUnavailableError after this long. Default 10 s. */
  readonly deadlineMs?: number;
  /** One attempt at one replica is given up after this long. Default 2.5 s. */
  readonly attemptTimeoutMs?: number;
  /** First pause after a failed attempt; doubles per failure up to backoffMsMax. Defaults 10 and 500 ms. */
  readonly backoffMsMin?: number;
  readonly backoffMsMax?: number;
  /** Client sessions (ops in flight at once). Default 256. */
  readonly sessionsMax?: number;
  /** Ops waiting for a session; beyond this submit() rejects with MetaBusyError. Default 16384. */
  readonly queueOpsMax?: number;
  /** Reads in flight; beyond this a read rejects with MetaBusyError. Default 4096. */
  readonly queriesInFlightMax?: number;
  /** The replica tried first. Default 0 (the primary of view 0). */
  readonly primaryGuess?: number;
}

/** No replica answered within the deadline: the metadata group is unreachable or has no primary. Retry later. */
export class MetaUnavailableError extends Error {
  override readonly name = 'MetaUnavailableError';
}

/** A replica refused a call for a reason retrying elsewhere cannot fix (a malformed query, a reply we cannot read). */
export class MetaRemoteError extends Error {
  override readonly name = 'MetaRemoteError';
}


type Attempt =
  | { readonly kind: 'ok'; readonly result: unknown }
  | { readonly kind: 'redirect'; readonly view: number; readonly primaryIndex: number }
  | { readonly kind: 'retry'; readonly problem: string }
  | { readonly kind: 'fail'; readonly error: Error };

/** Transport codes no other replica or later attempt can fix. */
const finalCodes: ReadonlySet<TransportErrorCode> = new Set(['bad_address', 'too_large']);

export class RemoteMetaClient extends QueryMetaClient {
  private readonly transport: Transport;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly replicas: readonly NodeAddress[];
  private readonly deadlineMs: number;
  private readonly attemptTimeoutMs: number;
  private readonly backoffMsMin: number;
  private readonly backoffMsMax: number;
  private readonly queriesInFlightMax: number;
  private readonly sessions: ClientSessions;
  private queriesInFlight = 0;
  private primaryGuess: number;
  private viewSeen = 0;
  private closed = false;
  /** Attempts that failed and were retried, and redirects followed (for tests and metrics). */
  retries = 0;
  redirects = 0;

  constructor(
    env: Env,
    private readonly options: RemoteMetaClientOptions,
  ) {
    super();
    this.transport = env.transport;
    this.clock = env.clock;
    this.random = env.random;
    this.replicas = options.replicas;
    this.deadlineMs = options.deadlineMs ?? 10_000;
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 2500;
    this.backoffMsMin = options.backoffMsMin ?? 10;
    this.backoffMsMax = options.backoffMsMax ?? 500;
    this.queriesInFlightMax = options.queriesInFlightMax ?? 4096;
    this.primaryGuess = options.primaryGuess ?? 0;
    // Fresh client ids per client: request numbers restart at 1, and two gateways never share an id.
    this.sessions = new ClientSessions(env.random, options.sessionsMax ?? 256, options.queueOpsMax ?? 16384, (clientId, requestNumber, op) => {
      const message = encodeRecord({ type: 'request', clientId, requestNumber, op });
      return this.call(message, `op ${op.type}`) as Promise<MetaResult>;
    });
    assert(this.replicas.length >= 1 && this.replicas.length <= 7, `a metadata group of ${this.replicas.length} replicas`);
    assert(this.primaryGuess >= 0 && this.primaryGuess < this.replicas.length, `primaryGuess ${this.primaryGuess}`);
    assert(this.deadlineMs > 0 && this.attemptTimeoutMs > 0, `deadlineMs ${this.deadlineMs}, attemptTimeoutMs ${this.attemptTimeoutMs}`);
    assert(this.backoffMsMin > 0 && this.backoffMsMax >= this.backoffMsMin, `backoff ${this.backoffMsMin}..${this.backoffMsMax} ms`);
    assert(this.queriesInFlightMax > 0, 'remote meta client limits');
  }

  /** The replica index currently believed to be the primary. */
  get primaryIndex(): number {
    return this.primaryGuess;
  }

  /** Replicates `op` through the group's primary; resolves with its result once committed. */
  submit(op: MetaOp): Promise<MetaResult> {
    if (this.closed) return Promise.reject(new MetaUnavailableError('metadata client closed'));
    return this.sessions.submit(op);
  }

  protected async query<T extends MetaQueryType>(query: MetaQueryOf<T>): Promise<MetaQueryResults[T]> {
    if (this.closed) throw new MetaUnavailableError('metadata client closed');
    if (this.queriesInFlight >= this.queriesInFlightMax) throw new MetaBusyError(`metadata reads in flight at the limit (${this.queriesInFlightMax})`);
    this.queriesInFlight++;
    try {
      return (await this.call(encodeRecord({ type: 'query', query }), `query ${query.type}`)) as MetaQueryResults[T];
    } finally {
      this.queriesInFlight--;
      assert(this.queriesInFlight >= 0, 'queries in flight never negative');
    }
  }

  /** Sends `message` to the primary, following redirects and retrying failures until it is answered or the deadline passes. */
  private async call(message: Uint8Array, what: string): Promise<unknown> {
    const deadlineMs = this.clock.monotonicMs() + this.deadlineMs;
    let target = this.primaryGuess;
    let backoffMs = this.backoffMsMin;
    let redirectsInARow = 0;
    let selfRedirected = false;
    let problem = 'no attempt made';
    for (let attempt = 1; ; attempt++) {
      const remainingMs = deadlineMs - this.clock.monotonicMs();
      if (this.closed) throw new MetaUnavailableError(`metadata ${what}: client closed`);
      if (remainingMs <= 0) {
        throw new MetaUnavailableError(`metadata ${what}: no primary answered within ${this.deadlineMs} ms (${attempt - 1} attempts; last: ${problem})`);
      }
      const outcome = await this.attempt(target, message, Math.min(this.attemptTimeoutMs, remainingMs));
      if (outcome.kind === 'ok') {
        this.primaryGuess = target;
        return outcome.result;
      }
      if (outcome.kind === 'fail') throw outcome.error;
      if (outcome.kind === 'redirect') {
        problem = `replica ${target} is not the primary (view ${outcome.view}, try ${outcome.primaryIndex})`;
        const next = this.followRedirect(target, outcome);
        redirectsInARow++;
        // A fresh pointer to another replica is tried at once; a loop or a view change in progress waits.
        if (next !== target && redirectsInARow <= this.replicas.length) {
          this.redirects++;
          target = next;
          continue;
        }
        // A replica naming itself is finishing a view change: ask it again once, then the others.
        const self = next === target;
        target = self && selfRedirected ? (target + 1) % this.replicas.length : next;
        selfRedirected = self && !selfRedirected;
      } else {
        selfRedirected = false;
        problem = `replica ${target}: ${outcome.problem}`;
        redirectsInARow = 0;
        target = (target + 1) % this.replicas.length;
      }
      this.retries++;
      const jitteredMs = backoffMs / 2 + ((this.random.uint32() / 2 ** 32) * backoffMs) / 2;
      await this.clock.sleep(Math.max(0, Math.min(jitteredMs, deadlineMs - this.clock.monotonicMs())));
      backoffMs = Math.min(backoffMs * 2, this.backoffMsMax);
    }
  }

  /** The replica to try after `from` said it is not the primary; the guess moves only with a view not older than one seen. */
  private followRedirect(from: number, redirect: { readonly view: number; readonly primaryIndex: number }): number {
    const valid = Number.isSafeInteger(redirect.primaryIndex) && redirect.primaryIndex >= 0 && redirect.primaryIndex < this.replicas.length;
    if (!valid || redirect.view < this.viewSeen) return (from + 1) % this.replicas.length;
    this.viewSeen = redirect.view;
    this.primaryGuess = redirect.primaryIndex;
    return redirect.primaryIndex;
  }

  /** One request to one replica, never rejecting: what it answered, or why to try elsewhere. */
  private async attempt(target: number, message: Uint8Array, timeoutMs: number): Promise<Attempt> {
    const address = this.replicas[target];
    assert(address !== undefined, `replica index ${target}`);
    let timer: ReturnType<Clock['setTimer']> | undefined;
    const timedOut = new Promise<Attempt>((resolve) => {
      timer = this.clock.setTimer(timeoutMs, () => {
        resolve({ kind: 'retry', problem: `no reply within ${timeoutMs} ms` });
      });
    });
    const answered = this.transport.request(this.options.localAddress, address, message).then(
      (bytes) => this.readReply(target, bytes),
      (error: unknown) => this.readFailure(error),
    );
    try {
      return await Promise.race([answered, timedOut]);
    } finally {
      if (timer !== undefined) this.clock.clearTimer(timer);
    }
  }

  private readReply(target: number, bytes: Uint8Array): Attempt {
    let reply: unknown;
    try {
      reply = decodeRecord(bytes);
    } catch (error) {
      return { kind: 'fail', error: new MetaRemoteError(`replica ${target} sent a reply that is not msgpack`, { cause: error }) };
    }
    const fields = (typeof reply === 'object' && reply !== null ? reply : {}) as { ok?: unknown; result?: unknown; error?: unknown; view?: unknown; primaryIndex?: unknown };
    if (fields.ok === true) return { kind: 'ok', result: fields.result };
    if (fields.ok === false && typeof fields.error === 'string') return { kind: 'fail', error: new MetaRemoteError(`replica ${target} refused: ${fields.error}`) };
    if (fields.ok === false && typeof fields.view === 'number' && typeof fields.primaryIndex === 'number') {
      return { kind: 'redirect', view: fields.view, primaryIndex: fields.primaryIndex };
    }
    return { kind: 'fail', error: new MetaRemoteError(`replica ${target} sent a reply of unknown shape`) };
  }

  private readFailure(error: unknown): Attempt {
    if (!(error instanceof TransportError)) return { kind: 'fail', error: error instanceof Error ? error : new Error(String(error)) };
    if (error.code === 'closed') return { kind: 'fail', error: new MetaUnavailableError('metadata client: the transport is closed', { cause: error }) };
    if (finalCodes.has(error.code)) return { kind: 'fail', error: new MetaRemoteError(`metadata request failed: ${error.message}`, { cause: error }) };
    return { kind: 'retry', problem: `${error.code}: ${error.message}` };
  }

  /** Refuses new calls; calls under way stop at their next retry with MetaUnavailableError. */
  close(): void {
    this.closed = true;
    this.sessions.rejectQueued(new MetaUnavailableError('metadata client closed'));
  }

  // Reads: one MetaQuery each (meta/meta-queries.ts).
}
