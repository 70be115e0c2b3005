// BlobService: a blob node's drives served over the Transport. It listens on
// one address and answers the messages of blob-protocol.ts from a local
// FragmentStore, so a gateway on another node writes and reads fragments with
// the same guarantees as the embedded node's direct binding: a fragment is
// published by the store's temp → fsync → rename → directory fsync, and a
// finish is acknowledged only after that; every block read is checked by the
// store's CRC32C before it leaves the node.
//
// Shape, and why:
// - Writers are streams. open_writer creates a FragmentWriter and names it by
//   `<incarnation>.<n>` (random per start, so a writer id from before a
//   restart can never reach a new writer). Only the client that opened a
//   writer may use it. Appends must come in sequence; any refused append (a
//   gap, a duplicate, a bad block, a limit) fails the writer at once, because
//   the stream now has a hole: later operations get the same error and the
//   temp file is removed. The operations of one writer run one at a time in
//   arrival order on a promise chain (FragmentWriter allows one at a time).
// - Everything that grows is bounded: writers per service and per client,
//   queued appends per writer, queued append bytes per service. Past a bound
//   the answer is 'busy'. A writer idle for writerIdleTimeoutMs (a gateway
//   that died mid-write) is aborted by a sweep on env.clock, so its temp file
//   and its slot do not leak.
// - Input off the wire is checked here (drive served, id and block sizes
//   valid, short block last) before it reaches the store, whose assertions
//   are for local caller bugs. FragmentErrors become error replies with the
//   same code; anything else is a bug and propagates to the transport.
// - I/O and corrupt errors are counted per drive and the newest kept for the
//   status message (capacity, health, recent errors).

import type { Env } from '../io/env.js';
import type { TimerHandle } from '../io/clock.js';
import type { NodeAddress } from '../io/transport.js';
import { assert } from '../stdx/assert.js';
import {
  appendBytesMax,
  decodeBlobRequest,
  encodeBlobError,
  encodeBlobReply,
  listLimitMax,
  readReplyBytesMax,
  recentErrorsMax,
} from './blob-protocol.js';
import type {
  AbortRequest,
  AppendRequest,
  BlobErrorCode,
  BlobReplies,
  BlobRequest,
  DriveErrorReport,
  DriveStatus,
  FinishRequest,
  ListRequest,
  NodeStatus,
  OpenWriterRequest,
  ReadRequest,
} from './blob-protocol.js';
import { FragmentError } from './fragment-error.js';
import { isFragmentId, isValidBlockSize } from './fragment-format.js';
import { fragmentWritersMax } from './fragment-store.js';
import type { FragmentStore } from './fragment-store.js';
import type { FragmentWriter } from './fragment-writer.js';

export interface BlobServiceOptions {
  /** Where the service listens ("host:port" over TCP, any name in process). */
  readonly address: NodeAddress;
  /** Writers open at once on this node. Default 1024. */
  readonly writersMax?: number;
  /** Writers open at once for one client address. Default 256. */
  readonly writersPerClientMax?: number;
  /** Appends accepted but not yet written, per writer. Default 16. */
  readonly appendsQueuedMax?: number;
  /** Block bytes accepted but not yet written, over all writers. Default 256 MiB. */
  readonly queuedAppendBytesMax?: number;
  /** A writer with no operation for this long is aborted. Default 60 s. */
  readonly writerIdleTimeoutMs?: number;
  /** I/O errors this recent make a drive 'degraded'; older ones leave the recent list. Default 10 min. */
  readonly recentErrorWindowMs?: number;
}

interface Limits {
  readonly writersMax: number;
  readonly writersPerClientMax: number;
  readonly appendsQueuedMax: number;
  readonly queuedAppendBytesMax: number;
  readonly writerIdleTimeoutMs: number;
  readonly recentErrorWindowMs: number;
}

/** An answer other than ok, decided by the service (not thrown by the store). */
class Refusal extends Error {
  override readonly name = 'Refusal';
  constructor(
    readonly code: BlobErrorCode,
    message: string,
  ) {
    super(message);
  }
}

interface RemoteWriter {
  readonly id: string;
  readonly client: NodeAddress;
  readonly driveId: number;
  readonly fragmentId: string;
  readonly blockSizeBytes: number;
  readonly writer: FragmentWriter;
  /** The sequence number the next append must carry. */
  nextSequence: number;
  /** Blocks accepted (written or queued). */
  blockCount: number;
  /** A short block was accepted: it must be the last. */
  sealed: boolean;
  /** Finish or abort accepted: no more appends. */
  closing: boolean;
  /** Set once the writer failed; every later operation answers it. */
  failure: Refusal | undefined;
  /** The writer's operations run one after another on this chain (it never rejects). */
  tail: Promise<void>;
  /** Operations queued or running on the chain. */
  pending: number;
  lastActiveMs: number;
}

interface DriveErrors {
  ioTotal: number;
  corruptTotal: number;
  /** Newest last, at most recentErrorsMax. */
  readonly recent: (DriveErrorReport & { readonly monotonicMs: number })[];
}

export class BlobService {
  private readonly limits: Limits;
  private readonly incarnation: string;
  private nextWriterNumber = 1;
  private readonly writers = new Map<string, RemoteWriter>();
  /** Writer slots taken per client, opening writers included. */
  private readonly clientSlots = new Map<NodeAddress, number>();
  private slotsTaken = 0;
  private queuedBytes = 0;
  private readonly driveErrors = new Map<number, DriveErrors>();
  private sweepTimer: TimerHandle | undefined;
  private listening = false;

  constructor(
    private readonly env: Env,
    private readonly store: FragmentStore,
    private readonly options: BlobServiceOptions,
  ) {
    this.limits = {
      writersMax: options.writersMax ?? 1024,
      writersPerClientMax: options.writersPerClientMax ?? 256,
      appendsQueuedMax: options.appendsQueuedMax ?? 16,
      queuedAppendBytesMax: options.queuedAppendBytesMax ?? 256 * 1024 * 1024,
      writerIdleTimeoutMs: options.writerIdleTimeoutMs ?? 60_000,
      recentErrorWindowMs: options.recentErrorWindowMs ?? 10 * 60_000,
    };
    for (const [name, value] of Object.entries(this.limits)) {
      assert(Number.isSafeInteger(value) && value > 0, `BlobService option ${name} must be a positive integer, got ${value}`);
    }
    assert(this.limits.writersMax <= fragmentWritersMax, `writersMax ${this.limits.writersMax} exceeds the store's ${fragmentWritersMax}`);
    assert(this.limits.queuedAppendBytesMax >= appendBytesMax, 'queuedAppendBytesMax holds at least one append');
    this.incarnation = env.random.uint32().toString(16).padStart(8, '0');
    for (const driveId of store.driveIds) this.driveErrors.set(driveId, { ioTotal: 0, corruptTotal: 0, recent: [] });
  }

  get address(): NodeAddress {
    return this.options.address;
  }

  /** Writers open now (tests, status). */
  get writersOpen(): number {
    return this.writers.size;
  }

  start(): void {
    assert(!this.listening, `BlobService on "${this.options.address}" started twice`);
    this.env.transport.listen(this.options.address, (from, message) => this.handle(from, message));
    this.listening = true;
  }

  /** Stops answering and aborts every open writer (their temp files are removed). */
  async stop(): Promise<void> {
    if (this.listening) this.env.transport.unlisten(this.options.address);
    this.listening = false;
    if (this.sweepTimer !== undefined) this.env.clock.clearTimer(this.sweepTimer);
    this.sweepTimer = undefined;
    const writers = [...this.writers.values()];
    for (const writer of writers) {
      this.failWriter(writer, new Refusal('unknown_writer', `${writerLabel(writer)}: the blob service stopped`));
      this.removeWriter(writer);
    }
    await Promise.all(writers.map((writer) => writer.tail));
  }

  private async handle(from: NodeAddress, message: Uint8Array): Promise<Uint8Array> {
    const decoded = decodeBlobRequest(message);
    if (decoded.status === 'invalid') {
      return encodeBlobError('bad_request', `Blob node "${this.options.address}": ${decoded.reason}`);
    }
    try {
      return await this.serve(from, decoded.request);
    } catch (error) {
      if (error instanceof Refusal || error instanceof FragmentError) return encodeBlobError(error.code, error.message);
      throw error; // a bug: the transport reports it to the caller as 'remote_error'
    }
  }

  private async serve(from: NodeAddress, request: BlobRequest): Promise<Uint8Array> {
    switch (request.type) {
      case 'open_writer':
        return encodeBlobReply(await this.openWriter(from, request));
      case 'append':
        return encodeBlobReply(await this.append(from, request));
      case 'finish':
        return encodeBlobReply(await this.finish(from, request));
      case 'abort':
        return encodeBlobReply(await this.abort(from, request));
      case 'read':
        return encodeBlobReply(await this.read(request));
      case 'delete':
        this.checkFragment(request.driveId, request.fragmentId);
        return encodeBlobReply({ deleted: await this.onDrive(request.driveId, () => this.store.delete(request.driveId, request.fragmentId)) });
      case 'list':
        return encodeBlobReply(await this.list(request));
      case 'stat': {
        this.checkFragment(request.driveId, request.fragmentId);
        const stat = await this.onDrive(request.driveId, () => this.store.statFragment(request.driveId, request.fragmentId));
        const fragment = stat === undefined ? null : { blockSizeBytes: stat.blockSizeBytes, blockCount: stat.blockCount, dataBytes: stat.dataBytes, modifiedMs: stat.modifiedMs };
        return encodeBlobReply({ fragment });
      }
      case 'status':
        return encodeBlobReply(await this.status());
    }
  }

  // -------------------------------------------------------------------------
  // Writers.

  private async openWriter(from: NodeAddress, request: OpenWriterRequest): Promise<BlobReplies['open_writer']> {
    const { driveId, fragmentId, blockSizeBytes } = request;
    this.checkFragment(driveId, fragmentId);
    if (!isValidBlockSize(blockSizeBytes)) throw new Refusal('bad_request', `Fragment "${fragmentId}": bad block size ${blockSizeBytes}`);
    const clientSlots = this.clientSlots.get(from) ?? 0;
    if (this.slotsTaken >= this.limits.writersMax) {
      throw new Refusal('busy', `Blob node "${this.options.address}": ${this.limits.writersMax} writers open, the most it allows`);
    }
    if (clientSlots >= this.limits.writersPerClientMax) {
      throw new Refusal('busy', `Blob node "${this.options.address}": client "${from}" has ${clientSlots} writers open, the most it allows`);
    }
    this.takeSlot(from);
    let writer: FragmentWriter;
    try {
      writer = await this.onDrive(driveId, () => this.store.createWriter(driveId, fragmentId, blockSizeBytes));
    } catch (error) {
      this.releaseSlot(from);
      throw error;
    }
    const id = `${this.incarnation}.${this.nextWriterNumber++}`;
    const entry: RemoteWriter = {
      id,
      client: from,
      driveId,
      fragmentId,
      blockSizeBytes,
      writer,
      nextSequence: 0,
      blockCount: 0,
      sealed: false,
      closing: false,
      failure: undefined,
      tail: Promise.resolve(),
      pending: 0,
      lastActiveMs: this.env.clock.monotonicMs(),
    };
    this.writers.set(id, entry);
    assert(this.writers.size <= this.slotsTaken && this.slotsTaken <= this.limits.writersMax, 'writer slots');
    this.armSweep();
    return { writerId: id };
  }

  private async append(from: NodeAddress, request: AppendRequest): Promise<BlobReplies['append']> {
    const writer = this.ownedWriter(from, request.writerId);
    this.checkWritable(writer, `append ${request.sequence}`);
    if (request.sequence !== writer.nextSequence) {
      const what = request.sequence < writer.nextSequence ? 'a duplicate' : 'a gap';
      this.refuse(writer, 'out_of_sequence', `append ${request.sequence} is ${what}: expected ${writer.nextSequence}`);
    }
    const bytes = this.checkBlocks(writer, request.blocks);
    if (writer.pending >= this.limits.appendsQueuedMax) this.refuse(writer, 'busy', `${writer.pending} operations queued, the most it allows`);
    if (this.queuedBytes + bytes > this.limits.queuedAppendBytesMax) {
      this.refuse(writer, 'busy', `node has ${this.queuedBytes} append bytes queued, the most it allows is ${this.limits.queuedAppendBytesMax}`);
    }
    writer.nextSequence += 1;
    writer.blockCount += request.blocks.length;
    writer.sealed ||= request.blocks.at(-1)!.length < writer.blockSizeBytes;
    const blockCount = writer.blockCount;
    this.queuedBytes += bytes;
    try {
      await this.enqueue(writer, async () => {
        this.throwIfFailed(writer);
        await this.onWriter(writer, () => writer.writer.appendBlocks(request.blocks));
      });
    } finally {
      this.queuedBytes -= bytes;
      assert(this.queuedBytes >= 0, 'queued append bytes');
    }
    return { blockCount };
  }

  /** The total bytes of an append's blocks after checking them against the fragment's block size. */
  private checkBlocks(writer: RemoteWriter, blocks: readonly Uint8Array[]): number {
    let bytes = 0;
    blocks.forEach((block, index) => {
      if (block.length > writer.blockSizeBytes) this.refuse(writer, 'bad_request', `block of ${block.length} bytes, block size ${writer.blockSizeBytes}`);
      const number = writer.blockCount + index;
      if (writer.sealed) this.refuse(writer, 'bad_request', `block ${number} follows the short final block`);
      if (block.length < writer.blockSizeBytes && index !== blocks.length - 1) {
        this.refuse(writer, 'bad_request', `short block ${number} is not the last; only a fragment's last block may be short`);
      }
      bytes += block.length;
    });
    if (bytes > appendBytesMax) this.refuse(writer, 'bad_request', `append of ${bytes} bytes, the most one may carry is ${appendBytesMax}`);
    return bytes;
  }

  private async finish(from: NodeAddress, request: FinishRequest): Promise<BlobReplies['finish']> {
    const writer = this.ownedWriter(from, request.writerId);
    this.checkWritable(writer, 'finish');
    if (request.appendCount !== writer.nextSequence || request.blockCount !== writer.blockCount) {
      const theirs = `${request.appendCount} appends and ${request.blockCount} blocks`;
      this.refuse(writer, 'out_of_sequence', `finish after ${theirs}, node has ${writer.nextSequence} appends and ${writer.blockCount} blocks`);
    }
    if (writer.blockCount === 0) this.refuse(writer, 'bad_request', 'finish with no blocks');
    writer.closing = true;
    await this.enqueue(writer, async () => {
      this.throwIfFailed(writer);
      await this.onWriter(writer, () => writer.writer.finish());
    });
    // Durable and published: the writer is done.
    this.removeWriter(writer);
    return {};
  }

  private async abort(from: NodeAddress, request: AbortRequest): Promise<BlobReplies['abort']> {
    const writer = this.writers.get(request.writerId);
    if (writer?.client !== from) return { aborted: false };
    writer.closing = true;
    this.removeWriter(writer);
    await this.enqueue(writer, () => this.onDrive(writer.driveId, () => writer.writer.abort()));
    return { aborted: true };
  }

  private ownedWriter(from: NodeAddress, writerId: string): RemoteWriter {
    const writer = this.writers.get(writerId);
    if (writer?.client !== from) {
      throw new Refusal('unknown_writer', `Blob node "${this.options.address}": no writer "${writerId}" open for "${from}" (finished, aborted, idle too long, or the node restarted)`);
    }
    writer.lastActiveMs = this.env.clock.monotonicMs();
    return writer;
  }

  private checkWritable(writer: RemoteWriter, operation: string): void {
    this.throwIfFailed(writer);
    if (writer.closing) this.refuse(writer, 'out_of_sequence', `${operation} after finish or abort`);
  }

  private throwIfFailed(writer: RemoteWriter): void {
    if (writer.failure !== undefined) throw writer.failure;
  }

  /** Fails the writer (its stream has a hole now) and throws the refusal. */
  private refuse(writer: RemoteWriter, code: BlobErrorCode, reason: string): never {
    const refusal = new Refusal(code, `${writerLabel(writer)}: ${reason}`);
    this.failWriter(writer, refusal);
    throw refusal;
  }

  /**
   * Marks the writer failed and queues the abort of its FragmentWriter behind
   * whatever is queued (those operations see the failure and do nothing).
   * The entry stays until the client aborts or the idle sweep removes it, so
   * the client hears the cause, not 'unknown_writer'.
   */
  private failWriter(writer: RemoteWriter, failure: Refusal): void {
    if (writer.failure !== undefined) return;
    writer.failure = failure;
    const aborted = this.enqueue(writer, () => writer.writer.abort());
    aborted.catch((error: unknown) => {
      this.env.logger.log('warn', 'blob: removing a failed writer’s temp file failed (the sweep removes it)', { writer: writer.id, error: String(error) });
    });
  }

  /** Runs FragmentWriter operations; a FragmentError fails the writer with the same code. */
  private async onWriter(writer: RemoteWriter, operation: () => Promise<void>): Promise<void> {
    try {
      await this.onDrive(writer.driveId, operation);
    } catch (error) {
      if (error instanceof FragmentError) this.failWriter(writer, new Refusal(error.code, error.message));
      throw error;
    }
  }

  /** Runs `operation` after the writer's queued operations; the result is the operation's own. */
  private enqueue<T>(writer: RemoteWriter, operation: () => Promise<T>): Promise<T> {
    writer.pending += 1;
    const result = writer.tail.then(operation);
    const settled = (): void => {
      writer.pending -= 1;
      writer.lastActiveMs = this.env.clock.monotonicMs();
      assert(writer.pending >= 0, `${writer.id}: pending`);
    };
    writer.tail = result.then(settled, settled);
    return result;
  }

  private removeWriter(writer: RemoteWriter): void {
    if (this.writers.get(writer.id) !== writer) return;
    this.writers.delete(writer.id);
    this.releaseSlot(writer.client);
  }

  private takeSlot(client: NodeAddress): void {
    this.clientSlots.set(client, (this.clientSlots.get(client) ?? 0) + 1);
    this.slotsTaken += 1;
  }

  private releaseSlot(client: NodeAddress): void {
    const slots = this.clientSlots.get(client) ?? 0;
    assert(slots >= 1 && this.slotsTaken >= 1, `writer slot of "${client}" released twice`);
    if (slots === 1) this.clientSlots.delete(client);
    else this.clientSlots.set(client, slots - 1);
    this.slotsTaken -= 1;
  }

  /** Keeps a sweep timer armed while writers are open. */
  private armSweep(): void {
    if (this.sweepTimer !== undefined || this.writers.size === 0 || !this.listening) return;
    const intervalMs = Math.max(1, Math.floor(this.limits.writerIdleTimeoutMs / 2));
    this.sweepTimer = this.env.clock.setTimer(intervalMs, () => {
      this.sweepTimer = undefined;
      this.sweepIdleWriters();
      this.armSweep();
    });
  }

  /** Aborts writers with nothing queued and no operation for writerIdleTimeoutMs. */
  private sweepIdleWriters(): void {
    const nowMs = this.env.clock.monotonicMs();
    for (const writer of [...this.writers.values()]) {
      if (writer.pending > 0 || nowMs - writer.lastActiveMs < this.limits.writerIdleTimeoutMs) continue;
      this.env.logger.log('info', 'blob: aborting an idle writer', { writer: writer.id, fragmentId: writer.fragmentId, client: writer.client });
      this.failWriter(writer, new Refusal('unknown_writer', `${writerLabel(writer)}: aborted after ${this.limits.writerIdleTimeoutMs} ms idle`));
      this.removeWriter(writer);
    }
  }

  // -------------------------------------------------------------------------
  // Reads, deletes, listing, status.

  private async read(request: ReadRequest): Promise<BlobReplies['read']> {
    const { driveId, fragmentId, firstBlock, blockCount } = request;
    this.checkFragment(driveId, fragmentId);
    if (blockCount < 1) throw new Refusal('bad_request', `Fragment "${fragmentId}" on drive ${driveId}: read of ${blockCount} blocks`);
    return this.onDrive(driveId, async () => {
      const stat = await this.store.statFragment(driveId, fragmentId);
      if (stat === undefined) throw new FragmentError('not_found', `Fragment "${fragmentId}" on drive ${driveId}: not found`);
      // Bounded reply: as many blocks as fit readReplyBytesMax, at least one; the client asks for the rest.
      const count = Math.min(blockCount, Math.max(1, Math.floor(readReplyBytesMax / stat.blockSizeBytes)));
      return { blocks: await this.store.readBlocks(driveId, fragmentId, firstBlock, count) };
    });
  }

  private async list(request: ListRequest): Promise<BlobReplies['list']> {
    const { driveId, after, limit } = request;
    this.checkDrive(driveId);
    if (limit < 1 || limit > listLimitMax) throw new Refusal('bad_request', `list limit ${limit} is not in 1..${listLimitMax}`);
    return this.onDrive(driveId, async () => {
      const fragmentIds: string[] = [];
      let more = false;
      for await (const fragmentId of this.store.list(driveId, after)) {
        if (fragmentIds.length === limit) {
          more = true;
          break;
        }
        fragmentIds.push(fragmentId);
      }
      return { fragmentIds, more };
    });
  }

  private async status(): Promise<NodeStatus> {
    const drives: DriveStatus[] = [];
    for (const driveId of this.store.driveIds) {
      let capacity = { freeBytes: 0, totalBytes: 0 };
      let capacityKnown = true;
      try {
        capacity = await this.onDrive(driveId, () => this.store.stat(driveId));
      } catch (error) {
        if (!(error instanceof FragmentError)) throw error;
        capacityKnown = false;
      }
      drives.push(this.driveStatus(driveId, capacity, capacityKnown));
    }
    return { incarnation: this.incarnation, writersOpen: this.writers.size, writersMax: this.limits.writersMax, drives };
  }

  private driveStatus(driveId: number, capacity: { freeBytes: number; totalBytes: number }, capacityKnown: boolean): DriveStatus {
    const errors = this.driveErrors.get(driveId)!;
    const nowMs = this.env.clock.monotonicMs();
    const recent = errors.recent.filter((error) => nowMs - error.monotonicMs < this.limits.recentErrorWindowMs);
    const health = !capacityKnown ? 'failed' : recent.some((error) => error.code === 'io') ? 'degraded' : 'ok';
    let writersOpen = 0;
    for (const writer of this.writers.values()) if (writer.driveId === driveId) writersOpen += 1;
    return {
      driveId,
      health,
      freeBytes: capacity.freeBytes,
      totalBytes: capacity.totalBytes,
      writersOpen,
      ioErrorsTotal: errors.ioTotal,
      corruptErrorsTotal: errors.corruptTotal,
      recentErrors: recent.map(({ atMs, code, message }) => ({ atMs, code, message })),
    };
  }

  /** Runs a store operation on a drive, counting its I/O and corrupt errors for status. */
  private async onDrive<T>(driveId: number, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (error instanceof FragmentError && error.code !== 'not_found') this.noteDriveError(driveId, error.code, error.message);
      throw error;
    }
  }

  private noteDriveError(driveId: number, code: 'io' | 'corrupt', message: string): void {
    const errors = this.driveErrors.get(driveId);
    assert(errors !== undefined, `error on unknown drive ${driveId}`);
    if (code === 'io') errors.ioTotal += 1;
    else errors.corruptTotal += 1;
    errors.recent.push({ atMs: this.env.clock.nowMs(), monotonicMs: this.env.clock.monotonicMs(), code, message });
    if (errors.recent.length > recentErrorsMax) errors.recent.shift();
    assert(errors.recent.length <= recentErrorsMax, 'recent errors bounded');
  }

  private checkDrive(driveId: number): void {
    if (!this.store.hasDrive(driveId)) {
      throw new Refusal('unknown_drive', `Blob node "${this.options.address}" does not serve drive ${driveId} (it serves ${this.store.driveIds.join(', ')})`);
    }
  }

  private checkFragment(driveId: number, fragmentId: string): void {
    this.checkDrive(driveId);
    if (!isFragmentId(fragmentId)) throw new Refusal('bad_request', `Bad fragment id "${fragmentId}": expected 8..40 of [0-9a-z-]`);
  }
}

function writerLabel(writer: RemoteWriter): string {
  return `Writer "${writer.id}" of fragment "${writer.fragmentId}" on drive ${writer.driveId}`;
}
