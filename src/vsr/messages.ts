// VSR messages, named as in "Viewstamped Replication Revisited" (Liskov and
// Cowling, 2012), plus two repair messages: GetState/NewState fill a gap in a
// backup's log within one view, RequestStartView asks the primary of a newer
// view to resend StartView (TigerBeetle's repair for a replica that missed it).
// Messages are plain values; the driver serializes them.

import type { LogEntry } from './log-entry.js';

export type ReplicaIndex = number;

export type Message<Op> =
  | { readonly type: 'request'; readonly clientId: string; readonly requestNumber: number; readonly op: Op }
  | {
      readonly type: 'prepare';
      readonly view: number;
      readonly from: ReplicaIndex;
      /** Consecutive entries (a batch). */
      readonly entries: readonly LogEntry<Op>[];
      readonly commitNumber: number;
    }
  /** "I hold, durably, every entry of this view's log up to opNumber." */
  | { readonly type: 'prepare_ok'; readonly view: number; readonly from: ReplicaIndex; readonly opNumber: number }
  | { readonly type: 'commit'; readonly view: number; readonly from: ReplicaIndex; readonly commitNumber: number }
  | { readonly type: 'start_view_change'; readonly view: number; readonly from: ReplicaIndex }
  | {
      readonly type: 'do_view_change';
      readonly view: number;
      readonly from: ReplicaIndex;
      /** The last view in which the sender's status was normal. */
      readonly logView: number;
      readonly log: readonly LogEntry<Op>[];
      readonly commitNumber: number;
    }
  | {
      readonly type: 'start_view';
      readonly view: number;
      readonly from: ReplicaIndex;
      readonly log: readonly LogEntry<Op>[];
      readonly commitNumber: number;
    }
  | { readonly type: 'request_start_view'; readonly view: number; readonly from: ReplicaIndex }
  /** "My log in this view ends at opNumber; send what follows." */
  | { readonly type: 'get_state'; readonly view: number; readonly from: ReplicaIndex; readonly opNumber: number }
  | {
      readonly type: 'new_state';
      readonly view: number;
      readonly from: ReplicaIndex;
      readonly entries: readonly LogEntry<Op>[];
      readonly commitNumber: number;
    };

export type MessageType = Message<unknown>['type'];

export type ReplicaMessage<Op> = Exclude<Message<Op>, { type: 'request' }>;

/** A message addressed to one replica. */
export interface Envelope<Op> {
  readonly to: ReplicaIndex;
  readonly message: ReplicaMessage<Op>;
}

/** The answer to a client, sent by the primary once the request is committed. */
export interface Reply<Result> {
  readonly clientId: string;
  readonly requestNumber: number;
  readonly view: number;
  readonly opNumber: number;
  readonly result: Result;
}
