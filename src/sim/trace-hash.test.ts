// The trace hash keeps its digest (pinned: a changed digest would change every
// seed's replay hash) and keeps the last events, formatted only when asked.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TraceHash, formatEvent } from './trace-hash.js';

function mixSample(trace: TraceHash): void {
  trace.mix('crash', 1234, 1);
  trace.mix('prepare_ok', 1240, 1, 0, 3);
  trace.mix('commit', 0, 5, 'abcdef0123');
  trace.mix('partition', 1300, 0, 2);
  trace.mix('heal', 1400);
}

describe('trace hash', () => {
  it('digest is the one from before the tail existed, with or without a clock', () => {
    const plain = new TraceHash();
    mixSample(plain);
    assert.equal(plain.digest(), '21292e21a0f1b7f3');
    const stamped = new TraceHash(2);
    stamped.stampWith(() => 99);
    mixSample(stamped);
    assert.equal(stamped.digest(), '21292e21a0f1b7f3');
    assert.equal(stamped.events, 5);
  });

  it('the tail keeps the last events, oldest first, as readable lines', () => {
    const trace = new TraceHash(3);
    assert.deepEqual(trace.tailLines(), []);
    let nowMs = 1234;
    trace.stampWith(() => nowMs);
    mixSample(trace);
    nowMs = 1500;
    trace.mix('reply', 1500, 0, 'c1', 7, 12);
    assert.deepEqual(trace.tailLines(), ['t=1234 partition [0,2] | rest', 't=1234 heal', 't=1500 reply 0→c1#7 op 12']);
  });

  it('formats the simulation events, and anything else by name and parts', () => {
    assert.equal(formatEvent(['prepare_ok', 1240, 1, 0, 3]), 't=1240 prepare_ok 1→0 view 3');
    assert.equal(formatEvent(['request', 50, -1, 2, -1]), 't=50 request client→2');
    assert.equal(formatEvent(['commit', 60, 0, 2, 4]), 't=60 commit 0→2 view 4');
    assert.equal(formatEvent(['commit', 0, 5, 'abcdef0123456789'], 61), 't=61 commit op 5 on 0 (abcdef012345)');
    assert.equal(formatEvent(['commit', 0, 5, 'abcdef0123456789']), 'commit op 5 on 0 (abcdef012345)');
    assert.equal(formatEvent(['crash', 70, 2]), 't=70 crash 2');
    assert.equal(formatEvent(['corrupt', 80, 1, 9, 4]), 't=80 corrupt replica 1 op 9 (bit 4)');
    assert.equal(formatEvent(['issue', 90, 'c3', 2]), 't=90 issue c3#2');
    assert.equal(formatEvent(['checkpoint', 95, 2, 0, 5, 'x']), 't=95 checkpoint 2 0 5 x');
    assert.equal(formatEvent(['odd', 'shape']), 'odd shape');
  });

  it('the tail has a named limit', () => {
    assert.throws(() => new TraceHash(0));
    assert.throws(() => new TraceHash(1_000_000));
  });
});
