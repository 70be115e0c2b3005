// Server configuration: defaults < config file (JSON) < environment < flags.
// Parsing is separate from starting so it can be tested and reported.

import { readFileSync } from 'node:fs';
import type { Scheme } from '../placement/drive-placement.js';

export interface ServerConfig {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  readonly driveCount: number;
  readonly scheme: Scheme;
  readonly schemeWasChosen: boolean;
  readonly rootUser?: string;
  readonly rootPassword?: string;
  readonly users: readonly { accessKeyId: string; secretAccessKey: string; displayName?: string }[];
  readonly region: string;
  readonly virtualHostSuffixes: readonly string[];
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
}

interface ConfigFile {
  address?: string;
  data?: string;
  drives?: number;
  ec?: string;
  rootUser?: string;
  rootPassword?: string;
  region?: string;
  virtualHostSuffixes?: string[];
  logLevel?: ServerConfig['logLevel'];
  users?: { accessKey: string; secretKey: string; displayName?: string }[];
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function parseFlags(argv: readonly string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new ConfigError(`Unexpected argument "${arg}"`);
    const eq = arg.indexOf('=');
    if (eq > 0) {
      flags.set(arg.slice(2, eq), arg.slice(eq + 1));
      continue;
    }
    const value = argv[i + 1];
    if (value === undefined || value.startsWith('--')) throw new ConfigError(`Flag ${arg} needs a value`);
    flags.set(arg.slice(2), value);
    i++;
  }
  return flags;
}

export function parseScheme(text: string): Scheme {
  const match = /^(\d+)\+(\d+)$/.exec(text.trim());
  if (match === null) throw new ConfigError(`--ec "${text}" is not of the form k+m (e.g. 4+2)`);
  const k = Number(match[1]);
  const m = Number(match[2]);
  if (k < 1 || k > 24) throw new ConfigError(`--ec ${text}: k must be 1…24`);
  if (m > 6) throw new ConfigError(`--ec ${text}: m must be 0…6`);
  return { k, m };
}

export function parseAddress(text: string): { host: string; port: number } {
  const match = /^(.*):(\d{1,5})$/.exec(text.trim());
  if (match === null) throw new ConfigError(`--address "${text}" is not host:port`);
  const port = Number(match[2]);
  if (port > 65535) throw new ConfigError(`--address ${text}: port out of range`);
  return { host: match[1] === '' ? '127.0.0.1' : match[1]!.replace(/^\[(.*)\]$/, '$1'), port };
}

/** The scheme used when only a drive count is given. */
export function defaultScheme(driveCount: number): Scheme {
  if (driveCount >= 6) return { k: 4, m: 2 };
  if (driveCount === 1) return { k: 1, m: 0 };
  return { k: driveCount - 1, m: 1 };
}

export function loadServerConfig(argv: readonly string[], env: NodeJS.ProcessEnv): ServerConfig {
  const flags = parseFlags(argv);
  const configPath = flags.get('config') ?? env.TESSERA_CONFIG;
  const file: ConfigFile = configPath === undefined ? {} : (JSON.parse(readFileSync(configPath, 'utf8')) as ConfigFile);
  const pick = (flag: string, envName: string, fromFile: string | number | undefined): string | undefined =>
    flags.get(flag) ?? env[envName] ?? (fromFile === undefined ? undefined : String(fromFile));
  const address = parseAddress(pick('address', 'TESSERA_ADDRESS', file.address) ?? '127.0.0.1:9000');
  const drivesText = pick('drives', 'TESSERA_DRIVES', file.drives) ?? '6';
  if (!/^\d+$/.test(drivesText) || Number(drivesText) < 1 || Number(drivesText) > 64) throw new ConfigError(`--drives "${drivesText}" must be 1…64`);
  const driveCount = Number(drivesText);
  const ecText = pick('ec', 'TESSERA_EC', file.ec);
  const scheme = ecText === undefined ? defaultScheme(driveCount) : parseScheme(ecText);
  if (scheme.k + scheme.m > driveCount) {
    throw new ConfigError(`--ec ${scheme.k}+${scheme.m} needs ${scheme.k + scheme.m} drives, but --drives is ${driveCount}`);
  }
  const rootUser = env.TESSERA_ROOT_USER ?? file.rootUser;
  const rootPassword = env.TESSERA_ROOT_PASSWORD ?? file.rootPassword;
  if ((rootUser === undefined) !== (rootPassword === undefined)) {
    throw new ConfigError('Set both TESSERA_ROOT_USER and TESSERA_ROOT_PASSWORD, or neither');
  }
  return {
    ...address,
    dataDir: pick('data', 'TESSERA_DATA', file.data) ?? './data',
    driveCount,
    scheme,
    schemeWasChosen: ecText !== undefined,
    ...(rootUser === undefined ? {} : { rootUser }),
    ...(rootPassword === undefined ? {} : { rootPassword }),
    users: (file.users ?? []).map((user) => ({ accessKeyId: user.accessKey, secretAccessKey: user.secretKey, ...(user.displayName === undefined ? {} : { displayName: user.displayName }) })),
    region: pick('region', 'TESSERA_REGION', file.region) ?? 'us-east-1',
    virtualHostSuffixes: file.virtualHostSuffixes ?? ['localhost'],
    logLevel: (pick('log-level', 'TESSERA_LOG_LEVEL', file.logLevel) ?? 'info') as ServerConfig['logLevel'],
  };
}
