// InProcessTransport tests: request/response copies buffers and reports
// handler errors as TransportError; one-way sends arrive on a later microtask,
// copied, and a missing listener or failing handler only loses the message.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InProcessTransport } from './in-process-transport.js';
import { TransportError } from './transport.js';

describe('InProcessTransport', () => {
  it('request copies the message and the reply', async () => {
    const transport = new InProcessTransport();
    const sent = Uint8Array.of(1, 2, 3);
    const replied = Uint8Array.of(9);
    transport.listen('b', (from, message) => {
      assert.equal(from, 'a');
      assert.notEqual(message, sent);
      assert.deepEqual(message, sent);
      return Promise.resolve(replied);
    });
    const reply = await transport.request('a', 'b', sent);
    assert.deepEqual(reply, replied);
    assert.notEqual(reply, replied);
  });

  it('request reports a missing listener and a handler error as TransportError', async () => {
    const transport = new InProcessTransport();
    await assert.rejects(transport.request('a', 'nobody', new Uint8Array(0)), (error: unknown) => error instanceof TransportError && error.code === 'unreachable');
    transport.listen('b', () => Promise.reject(new Error('no such fragment')));
    await assert.rejects(transport.request('a', 'b', new Uint8Array(0)), (error: unknown) => {
      assert.ok(error instanceof TransportError);
      assert.equal(error.code, 'remote_error');
      assert.match(error.message, /no such fragment/);
      return true;
    });
  });

  it('send delivers later, a copy, and ignores the reply', async () => {
    const transport = new InProcessTransport();
    const delivered: Uint8Array[] = [];
    transport.listen('b', (_from, message) => {
      delivered.push(message);
      return Promise.resolve(new Uint8Array(0));
    });
    const message = Uint8Array.of(7);
    transport.send('a', 'b', message);
    assert.equal(delivered.length, 0, 'never synchronously');
    message[0] = 8; // the caller reusing its buffer does not change what was sent
    await Promise.resolve();
    assert.deepEqual(delivered, [Uint8Array.of(7)]);
  });

  it('send to a missing listener or a failing handler loses the message quietly', async () => {
    const transport = new InProcessTransport();
    transport.send('a', 'nobody', Uint8Array.of(1));
    transport.listen('rejects', () => Promise.reject(new Error('boom')));
    transport.listen('throws', () => {
      throw new Error('boom');
    });
    transport.send('a', 'rejects', Uint8Array.of(1));
    transport.send('a', 'throws', Uint8Array.of(1));
    await new Promise((resolve) => setImmediate(resolve)); // an unhandled rejection would fail the run
  });
});
