// RemoteAccessKeyCache: a cluster gateway's copy of the access keys kept in
// metadata (`k/<accessKeyId>`), so SigV4 can look a key up synchronously
// (s3/users.ts UserSource: byKey / byId) without a metadata round trip per
// request.
//
// The copy is replaced whole by listAccessKeys (a linearizable read on the
// primary) every `refreshMs` (default 1 s) on env.clock timers, and soon after
// a miss (no sooner than `missRefreshGapMs` after the previous refresh began,
// so a flood of unknown keys costs at most one read per gap). The request that
// missed still fails (InvalidAccessKeyId); the next one after the refresh
// sees a key created meanwhile.
//
// Staleness, by design: a key created through another gateway works here
// within one refresh (sooner once a request has missed it); a deleted key
// keeps working here for up to `refreshMs` plus one read. While the metadata
// group is unreachable the last copy stays in use (keys keep working, deletes
// are not seen) and failures are logged once per streak.
//
// gateway/ sits below s3/, so this returns plain values shaped like S3User
// (the canonical id is the key record's userId, as s3/admin-api.ts sets it).

import type { Clock, TimerHandle } from '../io/clock.js';
import type { Env } from '../io/env.js';
import type { Logger } from '../io/logger.js';
import type { AccessKeyRecord } from '../meta/records.js';
import { assert } from '../stdx/assert.js';
import type { MetaClient } from './clients.js';

export interface RemoteAccessKeyCacheOptions {
  /** Time between refreshes of the whole copy. Default 1000 ms. */
  readonly refreshMs?: number;
  /** A miss refreshes at once, but no sooner than this after the previous refresh began. Default 100 ms. */
  readonly missRefreshGapMs?: number;
  /** Keys the copy may hold; a larger table is refused (the old copy stays) and logged. Default 100 000. */
  readonly accessKeysMax?: number;
}

/** What s3/users.ts calls an S3User. */
export interface AccessKeyUser {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly displayName: string;
  readonly canonicalId: string;
}

export class RemoteAccessKeyCache {
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly refreshMs: number;
  private readonly missRefreshGapMs: number;
  private readonly accessKeysMax: number;
  private byAccessKey = new Map<string, AccessKeyUser>();
  private byCanonicalId = new Map<string, AccessKeyUser>();
  private timer: TimerHandle | undefined;
  private timerDueMs = Infinity;
  private refreshing = false;
  private refreshAgain = false;
  private lastStartMs = -Infinity;
  private failing = false;
  private running = false;
  /** Refreshes begun and misses seen (for tests and metrics). */
  refreshes = 0;
  misses = 0;

  constructor(
    env: Env,
    private readonly meta: Pick<MetaClient, 'listAccessKeys'>,
    options: RemoteAccessKeyCacheOptions = {},
  ) {
    this.clock = env.clock;
    this.logger = env.logger;
    this.refreshMs = options.refreshMs ?? 1000;
    this.missRefreshGapMs = options.missRefreshGapMs ?? 100;
    this.accessKeysMax = options.accessKeysMax ?? 100_000;
    assert(this.refreshMs > 0 && this.missRefreshGapMs >= 0 && this.accessKeysMax > 0, 'access key cache limits');
  }

  /** Loads the first copy (rejecting if metadata cannot be read) and starts refreshing. */
  async start(): Promise<void> {
    assert(!this.running, 'access key cache started twice');
    this.lastStartMs = this.clock.monotonicMs();
    this.install(await this.meta.listAccessKeys());
    this.running = true;
    this.schedule(this.refreshMs);
  }

  private stopped(): boolean {
    return !this.running;
  }

  stop(): void {
    this.running = false;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.timerDueMs = Infinity;
  }

  /** Keys in the current copy. */
  get size(): number {
    return this.byAccessKey.size;
  }

  byKey(accessKeyId: string): AccessKeyUser | undefined {
    const user = this.byAccessKey.get(accessKeyId);
    if (user === undefined) this.onMiss();
    return user;
  }

  byId(canonicalId: string): AccessKeyUser | undefined {
    const user = this.byCanonicalId.get(canonicalId);
    if (user === undefined) this.onMiss();
    return user;
  }

  private install(keys: readonly AccessKeyRecord[]): void {
    if (keys.length > this.accessKeysMax) throw new Error(`${keys.length} access keys, the cache holds at most ${this.accessKeysMax}`);
    const byAccessKey = new Map<string, AccessKeyUser>();
    const byCanonicalId = new Map<string, AccessKeyUser>();
    for (const key of keys) {
      const user: AccessKeyUser = { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey, displayName: key.displayName, canonicalId: key.userId };
      byAccessKey.set(user.accessKeyId, user);
      // First key of an account wins, as a scan in key order does in the embedded node.
      if (!byCanonicalId.has(user.canonicalId)) byCanonicalId.set(user.canonicalId, user);
    }
    assert(byAccessKey.size === keys.length, 'access key ids are unique');
    this.byAccessKey = byAccessKey;
    this.byCanonicalId = byCanonicalId;
  }

  private onMiss(): void {
    this.misses++;
    if (!this.running) return;
    // A refresh under way may have read the table before the key was made: one more after it.
    if (this.refreshing) {
      this.refreshAgain = true;
      return;
    }
    this.schedule(Math.max(0, this.lastStartMs + this.missRefreshGapMs - this.clock.monotonicMs()));
  }

  /** Refreshes after `delayMs`, unless one is already due sooner. */
  private schedule(delayMs: number): void {
    const dueMs = this.clock.monotonicMs() + delayMs;
    if (this.timer !== undefined && this.timerDueMs <= dueMs) return;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timerDueMs = dueMs;
    this.timer = this.clock.setTimer(delayMs, () => {
      this.timer = undefined;
      this.timerDueMs = Infinity;
      void this.refresh();
    });
  }

  private async refresh(): Promise<void> {
    if (!this.running) return;
    assert(!this.refreshing, 'one refresh at a time');
    this.refreshing = true;
    this.lastStartMs = this.clock.monotonicMs();
    this.refreshes++;
    try {
      this.install(await this.meta.listAccessKeys());
      if (this.failing) this.logger.log('info', 'access keys: refreshed again', { keys: this.byAccessKey.size });
      this.failing = false;
    } catch (error) {
      if (!this.failing) this.logger.log('warn', 'access keys: refresh failed; serving the last copy', { keys: this.byAccessKey.size, error: String(error) });
      this.failing = true;
    } finally {
      this.refreshing = false;
    }
    if (this.stopped()) return; // stop() may have run while the read was out.
    const sinceStartMs = this.clock.monotonicMs() - this.lastStartMs;
    this.schedule(this.takeRefreshAgain() ? Math.max(0, this.missRefreshGapMs - sinceStartMs) : this.refreshMs);
  }

  /** Whether a miss during the refresh that just ended asked for another (set only while refreshing). */
  private takeRefreshAgain(): boolean {
    const again = this.refreshAgain;
    this.refreshAgain = false;
    return again;
  }
}
