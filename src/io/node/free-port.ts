// A TCP port free right now on 127.0.0.1, for components that must know
// their port before they listen (a cluster's node configs, benchmarks, tests).
// Another process may take it before it is used; callers that cannot retry
// should listen on port 0 instead.

import { createServer } from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address === null || typeof address === 'string') reject(new Error('no free port on 127.0.0.1'));
        else resolve(address.port);
      });
    });
  });
}
