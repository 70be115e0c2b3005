// `tessera admin key create --name N | list | delete ACCESS_KEY`: manages
// access keys through the server's admin API, signed with the root
// credentials (TESSERA_ROOT_USER / TESSERA_ROOT_PASSWORD, or the data dir's
// generated root-credentials.json). Each key is its own account.

import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { signRequest } from '../s3/auth/sigv4-signer.js';
import { ConfigError, parseFlags } from './config.js';

interface RootCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

function rootCredentials(flags: ReadonlyMap<string, string>): RootCredentials {
  const user = process.env.TESSERA_ROOT_USER;
  const password = process.env.TESSERA_ROOT_PASSWORD;
  if (user !== undefined && password !== undefined) return { accessKeyId: user, secretAccessKey: password };
  const file = path.join(flags.get('data') ?? process.env.TESSERA_DATA ?? './data', 'root-credentials.json');
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as RootCredentials;
  } catch (error) {
    throw new ConfigError(`No root credentials: set TESSERA_ROOT_USER and TESSERA_ROOT_PASSWORD, or point --data at the server's data dir (${file}: ${(error as Error).message})`);
  }
}

function send(endpoint: URL, method: string, pathname: string, query: [string, string][], credentials: RootCredentials): Promise<{ status: number; body: string }> {
  const signed = signRequest({
    method,
    path: pathname,
    query,
    host: endpoint.host,
    accessKeyId: credentials.accessKeyId,
    secretAccessKey: credentials.secretAccessKey,
    region: process.env.TESSERA_REGION ?? 'us-east-1',
    nowMs: Date.now(),
  });
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: endpoint.hostname, port: endpoint.port, method, path: pathname + (signed.queryString === '' ? '' : `?${signed.queryString}`), headers: signed.headers },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
        });
      },
    );
    request.on('error', reject);
    request.end();
  });
}

export async function admin(argv: readonly string[]): Promise<number> {
  const [noun, verb, ...rest] = argv;
  if (noun !== 'key' || verb === undefined) throw new ConfigError('usage: tessera admin key create --name NAME | list | delete ACCESS_KEY');
  const positional = verb === 'delete' ? rest[0] : undefined;
  const flags = parseFlags(verb === 'delete' ? rest.slice(1) : rest);
  const endpoint = new URL(flags.get('endpoint') ?? process.env.TESSERA_ENDPOINT ?? 'http://127.0.0.1:9000');
  const credentials = rootCredentials(flags);
  let answer: { status: number; body: string };
  switch (verb) {
    case 'create': {
      const name = flags.get('name');
      if (name === undefined) throw new ConfigError('tessera admin key create needs --name NAME');
      answer = await send(endpoint, 'POST', '/_tessera/admin/keys', [['name', name]], credentials);
      break;
    }
    case 'list':
      answer = await send(endpoint, 'GET', '/_tessera/admin/keys', [], credentials);
      break;
    case 'delete':
      if (positional === undefined) throw new ConfigError('tessera admin key delete needs the access key');
      answer = await send(endpoint, 'DELETE', `/_tessera/admin/keys/${encodeURIComponent(positional)}`, [], credentials);
      break;
    default:
      throw new ConfigError(`unknown admin key command "${verb}"`);
  }
  if (answer.status >= 300) {
    process.stderr.write(`tessera admin: ${answer.status} ${answer.body}\n`);
    return 1;
  }
  process.stdout.write(answer.body === '' ? `deleted ${positional ?? ''}\n` : answer.body);
  return 0;
}
