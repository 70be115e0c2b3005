// RemoteBlobClient: the gateway's BlobClient over the Transport, talking to
// the BlobService of whichever node serves a drive (blob/blob-protocol.ts).
// It keeps the local FragmentStore binding's contract, so the stripe writer,
// part reader, GC and orphan sweep work unchanged: finish resolves only once
// the fragment is durable on the node; reads return checksum-verified blocks;
// failures are FragmentErrors with the same codes ('not_found', 'corrupt',
// 'io'). Failures only the network has (timeouts, unreachable nodes, refused
// or lost writers, a node that is busy) are 'io' whose message names node,
// drive and operation, with the TransportError or the node's code as cause.
//
// Writes are pipelined: appendBlocks encodes the blocks into a request at
// once (one copy; the caller may reuse its buffers when it returns), sends it
// and returns while up to appendsInFlightMax appends are unanswered, so the
// disk write on the node overlaps the next stripe's encoding and transfer
// here. An append's failure surfaces at a later appendBlocks or at finish.
// Reads longer than a node answers at once (readReplyBytesMax) are continued.
// Every request has a deadline on env.clock, whatever the transport does.

import { BlobProtocolError, appendBlocksMax, appendBytesMax, decodeBlobReply, encodeBlobRequest, listLimitMax } from '../blob/blob-protocol.js';
import type { BlobErrorCode, BlobReplies, BlobRequest, BlobRequestType, NodeStatus } from '../blob/blob-protocol.js';
import { FragmentError } from '../blob/fragment-error.js';
import type { FragmentErrorCode } from '../blob/fragment-error.js';
import { isFragmentId, isValidBlockSize } from '../blob/fragment-format.js';
import type { Clock } from '../io/clock.js';
import type { Env } from '../io/env.js';
import { TransportError } from '../io/transport.js';
import type { NodeAddress, Transport } from '../io/transport.js';
import { assert } from '../stdx/assert.js';
import type { BlobClient, FragmentWriter } from './clients.js';

export interface RemoteBlobClientOptions {
  /** This node's address: the `from` of every request (a node ties writers to it). */
  readonly localAddress: NodeAddress;
  /** The blob node serving a drive; throw for a drive the cluster map does not know. */
  readonly addressOf: (driveId: number) => NodeAddress;
  /** Deadline of one request, reply included. Default 30 s. */
  readonly requestTimeoutMs?: number;
  /** Unanswered appends per writer. Default 4. */
  readonly appendsInFlightMax?: number;
  /** Fragment ids asked per list request. Default 1000. */
  readonly listPageSize?: number;
}

/** A published fragment's shape, as the node reports it. */
export type RemoteFragmentStat = NonNullable<BlobReplies['stat']['fragment']>;

/** The node's code is kept as the FragmentError's `cause` when it is not one of FragmentError's own. */
export class BlobRemoteError extends Error {
  override readonly name = 'BlobRemoteError';
  constructor(
    readonly code: BlobErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export class RemoteBlobClient implements BlobClient {
  private readonly transport: Transport;
  private readonly clock: Clock;
  readonly requestTimeoutMs: number;
  readonly appendsInFlightMax: number;
  private readonly listPageSize: number;

  constructor(
    env: Env,
    private readonly options: RemoteBlobClientOptions,
  ) {
    this.transport = env.transport;
    this.clock = env.clock;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.appendsInFlightMax = options.appendsInFlightMax ?? 4;
    this.listPageSize = options.listPageSize ?? 1000;
    assert(Number.isSafeInteger(this.requestTimeoutMs) && this.requestTimeoutMs > 0, `requestTimeoutMs ${this.requestTimeoutMs}`);
    assert(Number.isSafeInteger(this.appendsInFlightMax) && this.appendsInFlightMax >= 1, `appendsInFlightMax ${this.appendsInFlightMax}`);
    assert(Number.isSafeInteger(this.listPageSize) && this.listPageSize >= 1 && this.listPageSize <= listLimitMax, `listPageSize ${this.listPageSize}`);
  }

  async createWriter(driveId: number, fragmentId: string, blockSizeBytes: number): Promise<FragmentWriter> {
    assertFragmentId(fragmentId);
    assert(isValidBlockSize(blockSizeBytes), `Bad block size ${blockSizeBytes}`);
    const address = this.options.addressOf(driveId);
    const label = fragmentLabel(fragmentId, driveId, address);
    const opened = await this.call(address, { type: 'open_writer', driveId, fragmentId, blockSizeBytes }, `${label}: opening a writer`);
    return new RemoteFragmentWriter(this, address, opened.writerId, blockSizeBytes, label);
  }

  /** Blocks firstBlock .. firstBlock + blockCount - 1, each verified by the node's checksum. */
  async readBlocks(driveId: number, fragmentId: string, firstBlock: number, blockCount: number): Promise<Buffer[]> {
    assertFragmentId(fragmentId);
    assert(Number.isSafeInteger(firstBlock) && firstBlock >= 0, `Bad first block ${firstBlock}`);
    assert(Number.isSafeInteger(blockCount) && blockCount >= 1, `Bad block count ${blockCount}`);
    const address = this.options.addressOf(driveId);
    const blocks: Buffer[] = [];
    // Bounded: every reply carries at least one block.
    while (blocks.length < blockCount) {
      const first = firstBlock + blocks.length;
      const what = `${fragmentLabel(fragmentId, driveId, address)}: reading blocks ${first}..${firstBlock + blockCount - 1}`;
      const read = await this.call(address, { type: 'read', driveId, fragmentId, firstBlock: first, blockCount: blockCount - blocks.length }, what);
      if (read.blocks.length > blockCount - blocks.length) throw new FragmentError('io', `${what}: the node answered ${read.blocks.length} blocks`);
      blocks.push(...read.blocks);
    }
    assert(blocks.length === blockCount, 'read the blocks asked');
    return blocks;
  }

  async delete(driveId: number, fragmentId: string): Promise<boolean> {
    assertFragmentId(fragmentId);
    const address = this.options.addressOf(driveId);
    const reply = await this.call(address, { type: 'delete', driveId, fragmentId }, `${fragmentLabel(fragmentId, driveId, address)}: deleting`);
    return reply.deleted;
  }

  /** Every fragment id on a drive in byte order, a page per request. */
  async *list(driveId: number): AsyncGenerator<string, void, undefined> {
    let after = '';
    for (;;) {
      const page = await this.listPage(driveId, after, this.listPageSize);
      for (const fragmentId of page.fragmentIds) {
        after = fragmentId;
        yield fragmentId;
      }
      if (!page.more || page.fragmentIds.length === 0) return;
    }
  }

  /** Up to `limit` fragment ids of a drive after `after` ('' from the start), in byte order; `more` when ids may follow. */
  async listPage(driveId: number, after: string, limit: number): Promise<{ readonly fragmentIds: readonly string[]; readonly more: boolean }> {
    assert(Number.isSafeInteger(limit) && limit >= 1 && limit <= listLimitMax, `list limit ${limit}`);
    const address = this.options.addressOf(driveId);
    const page = await this.call(address, { type: 'list', driveId, after, limit }, `Drive ${driveId} on blob node "${address}": listing after "${after}"`);
    if (page.fragmentIds.length > limit) throw new FragmentError('io', `Drive ${driveId} on blob node "${address}": a list page of ${page.fragmentIds.length} ids, ${limit} asked`);
    let previous = after;
    for (const fragmentId of page.fragmentIds) {
      assert(fragmentId > previous, `Drive ${driveId}: list not in order ("${fragmentId}" after "${previous}")`);
      previous = fragmentId;
    }
    return page;
  }

  /** A fragment's block size, block count, data bytes and (from nodes that say) when it was written, or undefined when it is not there. */
  async statFragment(driveId: number, fragmentId: string): Promise<RemoteFragmentStat | undefined> {
    assertFragmentId(fragmentId);
    const address = this.options.addressOf(driveId);
    const reply = await this.call(address, { type: 'stat', driveId, fragmentId }, `${fragmentLabel(fragmentId, driveId, address)}: stat`);
    return reply.fragment ?? undefined;
  }

  /** Capacity, health and recent errors of every drive of the node at `address`. */
  async status(address: NodeAddress): Promise<NodeStatus> {
    return this.call(address, { type: 'status' }, `Blob node "${address}": status`);
  }

  /**
   * Sends one request and decodes its reply; every failure is a FragmentError
   * naming `what`. Internal to this file (the writer uses it).
   */
  async call<T extends BlobRequestType>(address: NodeAddress, request: BlobRequest & { readonly type: T }, what: string): Promise<BlobReplies[T]> {
    return this.settle(address, request.type, this.send(address, encodeBlobRequest(request)), what);
  }

  /** Starts a request now (the caller's buffers are copied into `message` already). */
  send(address: NodeAddress, message: Uint8Array): Promise<Uint8Array> {
    return this.transport.request(this.options.localAddress, address, message);
  }

  /** Waits for a sent request within the deadline and maps its outcome. */
  async settle<T extends BlobRequestType>(address: NodeAddress, type: T, sent: Promise<Uint8Array>, what: string): Promise<BlobReplies[T]> {
    let timer: ReturnType<Clock['setTimer']> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = this.clock.setTimer(this.requestTimeoutMs, () => {
        const cause = new TransportError('timeout', `no reply from "${address}" within ${this.requestTimeoutMs} ms`);
        reject(new FragmentError('io', `${what}: blob node "${address}" did not answer within ${this.requestTimeoutMs} ms (timeout)`, { cause }));
      });
    });
    // A reply or failure that comes after the deadline is dropped, not reported as unhandled.
    sent.catch(() => undefined);
    let bytes: Uint8Array;
    try {
      bytes = await Promise.race([sent, deadline]);
    } catch (error) {
      throw asFragmentError(error, what, address);
    } finally {
      if (timer !== undefined) this.clock.clearTimer(timer);
    }
    let reply;
    try {
      reply = decodeBlobReply(type, bytes);
    } catch (error) {
      if (error instanceof BlobProtocolError) throw new FragmentError('io', `${what}: ${error.message}`, { cause: error });
      throw error;
    }
    if (!reply.ok) throw fromRemoteError(reply.code, reply.message, what);
    return reply;
  }
}

/**
 * One fragment written on a remote node. Appends are numbered and pipelined;
 * finish waits for every append, then asks the node to publish and resolves
 * once it is durable. abort is idempotent and a no-op after finish, as locally.
 */
class RemoteFragmentWriter implements FragmentWriter {
  private state: 'open' | 'finished' | 'aborted' = 'open';
  private busy = false;
  private nextSequence = 0;
  private blockCount = 0;
  /** Set once a short block is sent: it must be the fragment's last. */
  private sealed = false;
  /** Unanswered appends, oldest first; each settles without rejecting. */
  private readonly inFlight: Promise<void>[] = [];
  /** The first failure of an append; the writer is unusable after it. */
  private failure: Error | undefined;

  constructor(
    private readonly client: RemoteBlobClient,
    private readonly address: NodeAddress,
    private readonly writerId: string,
    private readonly blockSizeBytes: number,
    private readonly label: string,
  ) {}

  async appendBlocks(blocks: readonly Uint8Array[]): Promise<void> {
    this.assertIdle('appendBlocks');
    assert(blocks.length >= 1 && blocks.length <= appendBlocksMax, `appendBlocks takes 1..${appendBlocksMax} blocks, got ${blocks.length}`);
    assert(!this.sealed, `${this.label}: block after the short final block`);
    blocks.forEach((block, index) => {
      assert(block.length >= 1 && block.length <= this.blockSizeBytes, `${this.label}: block of ${block.length} bytes, block size ${this.blockSizeBytes}`);
      if (block.length < this.blockSizeBytes) {
        assert(index === blocks.length - 1, `${this.label}: short block ${this.blockCount + index} is not the last`);
        this.sealed = true;
      }
    });
    this.busy = true;
    try {
      for (const batch of batches(blocks)) {
        while (this.inFlight.length >= this.client.appendsInFlightMax) await this.inFlight.shift();
        this.throwIfFailed();
        this.sendAppend(batch);
      }
    } finally {
      this.busy = false;
    }
  }

  private sendAppend(blocks: readonly Uint8Array[]): void {
    const sequence = this.nextSequence++;
    this.blockCount += blocks.length;
    const expectedBlockCount = this.blockCount;
    const message = encodeBlobRequest({ type: 'append', writerId: this.writerId, sequence, blocks });
    const what = `${this.label}: append ${sequence} (blocks to ${expectedBlockCount - 1})`;
    const answered = this.client
      .settle(this.address, 'append', this.client.send(this.address, message), what)
      .then((reply) => {
        if (reply.blockCount !== expectedBlockCount) throw new FragmentError('io', `${what}: node holds ${reply.blockCount} blocks, expected ${expectedBlockCount}`);
      })
      .catch((error: unknown) => {
        this.failure ??= error instanceof Error ? error : new FragmentError('io', `${what}: ${String(error)}`);
      });
    this.inFlight.push(answered);
    assert(this.inFlight.length <= this.client.appendsInFlightMax, 'appends in flight bounded');
  }

  /** Resolves once the node has made the fragment durable under its final name. */
  async finish(): Promise<void> {
    this.assertIdle('finish');
    assert(this.blockCount >= 1, `${this.label}: finish with no blocks`);
    this.busy = true;
    try {
      await this.drain();
      this.throwIfFailed();
      const request = { type: 'finish', writerId: this.writerId, appendCount: this.nextSequence, blockCount: this.blockCount } as const;
      await this.client.call(this.address, request, `${this.label}: finishing`);
      this.state = 'finished';
    } finally {
      this.busy = false;
    }
  }

  /** Removes the node's temp file. Idempotent; a no-op after finish. */
  async abort(): Promise<void> {
    assert(!this.busy, `${this.label}: abort while an operation is in flight`);
    if (this.state !== 'open') return;
    this.state = 'aborted';
    await this.drain();
    await this.client.call(this.address, { type: 'abort', writerId: this.writerId }, `${this.label}: aborting`);
  }

  private async drain(): Promise<void> {
    // Bounded by appendsInFlightMax; nothing is added while draining (busy or aborted).
    while (this.inFlight.length > 0) await this.inFlight.shift();
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  private assertIdle(operation: string): void {
    assert(!this.busy, `${this.label}: ${operation} while an operation is in flight`);
    assert(this.state === 'open', `${this.label}: ${operation} on a ${this.state} writer`);
  }
}

/** Splits blocks into appends of at most appendBytesMax bytes (at least one block each). */
function batches(blocks: readonly Uint8Array[]): Uint8Array[][] {
  const result: Uint8Array[][] = [];
  let current: Uint8Array[] = [];
  let bytes = 0;
  for (const block of blocks) {
    assert(block.length <= appendBytesMax, `block of ${block.length} bytes exceeds one append (${appendBytesMax})`);
    if (current.length > 0 && bytes + block.length > appendBytesMax) {
      result.push(current);
      current = [];
      bytes = 0;
    }
    current.push(block);
    bytes += block.length;
  }
  if (current.length > 0) result.push(current);
  return result;
}

function fromRemoteError(code: BlobErrorCode, message: string, what: string): FragmentError {
  const sameCode: FragmentErrorCode | undefined = code === 'not_found' || code === 'corrupt' || code === 'io' ? code : undefined;
  if (sameCode !== undefined) return new FragmentError(sameCode, message);
  return new FragmentError('io', `${what}: the node answered ${code}: ${message}`, { cause: new BlobRemoteError(code, message) });
}

function asFragmentError(error: unknown, what: string, address: NodeAddress): unknown {
  if (error instanceof FragmentError) return error;
  if (error instanceof TransportError) return new FragmentError('io', `${what}: blob node "${address}": ${error.code}: ${error.message}`, { cause: error });
  return error; // a bug: not disguised as a drive fault
}

function assertFragmentId(fragmentId: string): void {
  assert(isFragmentId(fragmentId), `Bad fragment id "${fragmentId}": expected 8..40 of [0-9a-z-]`);
}

function fragmentLabel(fragmentId: string, driveId: number, address: NodeAddress): string {
  return `Fragment "${fragmentId}" on drive ${driveId} (blob node "${address}")`;
}
