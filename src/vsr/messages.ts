// VSR messages, named as in "Viewstamped Replication Revisited" (Liskov and
// Cowling, 2012), plus two repair messages: GetState/NewState fill a gap in a
// backup's log within one view, RequestStartView asks the primary of a newer
// view to resend StartView (TigerBeetle's repair for a replica that missed it).
// Checkpoint carries a primary's state machine snapshot to a replica whose log
// ends before the primary's compacted prefix (state transfer). Messages are
// plain values; the driver serializes them.
//
// Epochs (reconfiguration, VR Revisited §7): every replica message carries the
// sender's epoch, the number of configuration changes its log has committed.
// Replicas act only on messages of their own epoch. A replica in a newer
// epoch answers an older one with EpochStarted (where its epoch began); a
// replica that learns of a newer epoch asks for that (RequestEpoch), and for
// the state when its log cannot reach the epoch's start.

import type { ClientEntry } from './client-table.js';
import type { LogEntry, LogSuffix } from './log-entry.js';

export type ReplicaIndex = number;

/**
 * The state machine's state through `opNumber`, named by that entry's checksum
 * and timestamp, with the client table as of that op: what a replica restarts
 * from and what state transfer installs.
 */
export interface Checkpoint<Result> {
  readonly opNumber: number;
  readonly checksum: string;
  readonly timestampMs: number;
  readonly clients: readonly ClientEntry<Result>[];
}

/**
 * A configuration: `replicaCount` replicas, indexes 0 … replicaCount-1, in
 * force from the commit of the configuration entry at `startOpNumber` (whose
 * checksum is `startChecksum`; op 0 and the origin for the first epoch).
 */
export interface EpochConfig {
  readonly epoch: number;
  readonly replicaCount: number;
  readonly startOpNumber: number;
  readonly startChecksum: string;
}

export type Message<Op, Result = never> =
  | { readonly type: 'request'; readonly clientId: string; readonly requestNumber: number; readonly op: Op }
  | {
      readonly type: 'prepare';
      readonly epoch: number;
      readonly view: number;
      readonly from: ReplicaIndex;
      /** Consecutive entries (a batch). */
      readonly entries: readonly LogEntry<Op>[];
      readonly commitNumber: number;
    }
  /**
   * "I hold, durably, every entry of this view's log up to opNumber." With
   * `readRound`: the answer to a Commit that carried that round (reads).
   */
  | { readonly type: 'prepare_ok'; readonly epoch: number; readonly view: number; readonly from: ReplicaIndex; readonly opNumber: number; readonly readRound?: number }
  /**
   * Heartbeat and commit point. A `readRound` asks every backup to answer at
   * once: a quorum of answers proves the sender was still the primary after
   * the round began, so reads queued before it may be served (read index).
   */
  | { readonly type: 'commit'; readonly epoch: number; readonly view: number; readonly from: ReplicaIndex; readonly commitNumber: number; readonly readRound?: number }
  | { readonly type: 'start_view_change'; readonly epoch: number; readonly view: number; readonly from: ReplicaIndex }
  | {
      readonly type: 'do_view_change';
      readonly epoch: number;
      readonly view: number;
      readonly from: ReplicaIndex;
      /** The last view in which the sender's status was normal. */
      readonly logView: number;
      readonly log: LogSuffix<Op>;
      readonly commitNumber: number;
    }
  | {
      readonly type: 'start_view';
      readonly epoch: number;
      readonly view: number;
      readonly from: ReplicaIndex;
      readonly log: LogSuffix<Op>;
      readonly commitNumber: number;
    }
  | { readonly type: 'request_start_view'; readonly epoch: number; readonly view: number; readonly from: ReplicaIndex }
  /** "My log in this view ends at opNumber; send what follows." */
  | { readonly type: 'get_state'; readonly epoch: number; readonly view: number; readonly from: ReplicaIndex; readonly opNumber: number }
  | {
      readonly type: 'new_state';
      readonly epoch: number;
      readonly view: number;
      readonly from: ReplicaIndex;
      readonly entries: readonly LogEntry<Op>[];
      readonly commitNumber: number;
    }
  /**
   * A replica whose disk was replaced asks every other replica for its view
   * (VR Revisited's recovery, for the one case a persisted view cannot cover:
   * the views its predecessor voted in are lost). `view` is the sender's own.
   */
  | { readonly type: 'recovery'; readonly epoch: number; readonly view: number; readonly from: ReplicaIndex; readonly nonce: number }
  | { readonly type: 'recovery_response'; readonly epoch: number; readonly view: number; readonly from: ReplicaIndex; readonly nonce: number }
  /**
   * State transfer: the sender's state machine as of its commit number, and
   * its epoch's configuration (a replica of an older epoch takes both).
   */
  | {
      readonly type: 'checkpoint';
      readonly epoch: number;
      readonly view: number;
      readonly from: ReplicaIndex;
      readonly checkpoint: Checkpoint<Result>;
      readonly state: Uint8Array;
      readonly config: EpochConfig;
    }
  /**
   * A replica that heard from a newer epoch (or a joining replica, or a
   * retired one) asks where the newest epoch began; with `state`, asks for the
   * sender's state machine (a checkpoint) as well, because its log cannot
   * reach that start.
   */
  | { readonly type: 'request_epoch'; readonly epoch: number; readonly from: ReplicaIndex; readonly state: boolean }
  /** "My epoch began when this configuration entry committed." Sent to a replica of an older epoch. */
  | { readonly type: 'epoch_started'; readonly epoch: number; readonly from: ReplicaIndex; readonly config: EpochConfig };

export type MessageType = Message<unknown, unknown>['type'];

export type ReplicaMessage<Op, Result = never> = Exclude<Message<Op, Result>, { type: 'request' }>;

/** A message addressed to one replica. */
export interface Envelope<Op, Result = never> {
  readonly to: ReplicaIndex;
  readonly message: ReplicaMessage<Op, Result>;
}

/** The answer to a client, sent by the primary once the request is committed. */
export interface Reply<Result> {
  readonly clientId: string;
  readonly requestNumber: number;
  readonly view: number;
  readonly opNumber: number;
  readonly result: Result;
}
