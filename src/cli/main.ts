// The `tessera` command. `tessera server` runs the embedded server: every role
// in one process over local drive folders. `tessera node` runs one cluster
// node; `tessera cluster` starts, shows and stops a local cluster of them.

import { readFileSync } from 'node:fs';
import { JsonLogger } from '../io/node/node-logger.js';
import { NodeConfigError, parseNodeConfig } from '../process/cluster-config.js';
import { startClusterNode } from '../process/cluster-node.js';
import { startEmbeddedServer } from '../process/embedded-server.js';
import { clusterCommand } from './cluster.js';
import { ConfigError, loadServerConfig, parseFlags } from './config.js';
import { simulate } from './simulate.js';
import { admin } from './admin.js';

const usage = `Usage: tessera <command> [flags]

Commands:
  server    Run the embedded S3 server (all roles in one process)
            --address HOST:PORT   listen address (default 127.0.0.1:9000, env TESSERA_ADDRESS)
            --data DIR            data directory (default ./data, env TESSERA_DATA)
            --drives N            drive folders under DIR/drives (default 6, env TESSERA_DRIVES)
            --ec K+M              erasure coding (default 4+2 for 6+ drives, env TESSERA_EC)
            --config FILE         JSON config file (env TESSERA_CONFIG)
            --log-level LEVEL     debug | info | warn | error
            Root credentials: TESSERA_ROOT_USER / TESSERA_ROOT_PASSWORD, else generated
            once and kept in DIR/root-credentials.json.
  admin     Manage access keys on a running server (root credentials from env or --data DIR)
            key create --name NAME     prints the new access key and secret (shown once)
            key list                   lists keys (no secrets)
            key delete ACCESS_KEY
            --endpoint URL (default http://127.0.0.1:9000, env TESSERA_ENDPOINT)
  cluster   A local cluster of separate processes on 127.0.0.1 (state in --dir, default ./cluster)
            start --nodes N --zones Z [--ec K+M] [--drives-per-node D] [--gateways G]
                  [--meta-groups G]
                                  starts it (or the stopped cluster in --dir again), waits until
                                  S3 answers, prints the endpoint and keys. --meta-groups: metadata
                                  groups of 3 replicas in distinct zones, buckets spread over them
                                  by hash (fixed at creation; default 1: on one machine more groups
                                  cost CPU and buy nothing)
            status                nodes, zones, drives, metadata groups (replicas, primary, slots,
                                  buckets), partition table, protection level
            stop                  stops exactly the processes start recorded
            drive --node NAME|--drive ID --state active|draining|failed
                                  a new cluster map epoch; gateways place new parts by it
  node      Run one cluster node: --config FILE (YAML or JSON: the cluster map and this
            node's roles: meta, blob, gateway)
  simulate  Run the deterministic simulation of a VSR metadata group under faults
            --seed N              replay one seed exactly (prints its trace hash)
            --seeds A..B          sweep seeds (default 1..200); failures print seed and faults
            --faults-max K        with --seed: inject only the first K scheduled faults
            --cluster             the whole cluster instead: meta replicas, blob nodes and
                                  gateways under faults, with S3 clients (same flags)
`;

async function node(argv: readonly string[]): Promise<void> {
  const flags = parseFlags(argv);
  const file = flags.get('config');
  if (file === undefined) throw new ConfigError('tessera node needs --config FILE');
  let config;
  try {
    config = parseNodeConfig(readFileSync(file, 'utf8'));
  } catch (error) {
    if (error instanceof NodeConfigError) throw new ConfigError(`${file}: ${error.message}`);
    throw error;
  }
  const logger = new JsonLogger(config.logLevel);
  const started = await startClusterNode(config, logger);
  const roles = Object.keys(config.roles).join(', ');
  process.stdout.write(`Tessera node ${config.name} (${roles})${started.endpoint === undefined ? '' : `: S3 at ${started.endpoint}`}\n  protection: ${started.protection}\n`);
  closeOnSignals(started);
}

/** SIGINT or SIGTERM closes `running` in order, then exits (1 if closing failed). */
function closeOnSignals(running: { close(): Promise<void> }): void {
  const stop = (): void => {
    running
      .close()
      .then(() => process.exit(0))
      .catch(() => process.exit(1));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

async function server(argv: readonly string[]): Promise<void> {
  const config = loadServerConfig(argv, process.env);
  const logger = new JsonLogger(config.logLevel);
  const root = config.rootUser === undefined || config.rootPassword === undefined ? undefined : { accessKeyId: config.rootUser, secretAccessKey: config.rootPassword };
  const started = await startEmbeddedServer({
    host: config.host,
    port: config.port,
    dataDir: config.dataDir,
    driveCount: config.driveCount,
    scheme: config.scheme,
    logger,
    region: config.region,
    virtualHostSuffixes: config.virtualHostSuffixes,
    extraUsers: config.users,
    ...(root === undefined ? {} : { root }),
  });
  const { k, m } = config.scheme;
  const lines = [
    `Tessera embedded server`,
    `  endpoint:    ${started.endpoint}`,
    `  access key:  ${started.root.accessKeyId}`,
    `  secret key:  ${started.root.secretAccessKey}${started.root.generated ? '   (generated; kept in the data dir)' : ''}`,
    `  data:        ${config.dataDir} (${config.driveCount} drive folder${config.driveCount === 1 ? '' : 's'})`,
    `  erasure:     ${k}+${m}: ${started.protection}`,
  ];
  if (m === 0) lines.push(`  WARNING: no parity. A damaged or lost drive folder loses data.`);
  lines.push(``, `  try: aws --endpoint-url ${started.endpoint} s3 mb s3://my-bucket`);
  process.stdout.write(lines.join('\n') + '\n');
  closeOnSignals(started);
}

async function main(argv: readonly string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'server':
      await server(rest);
      return;
    case 'admin':
      process.exitCode = await admin(rest);
      return;
    case 'simulate':
      process.exitCode = await simulate(rest);
      return;
    case 'node':
      await node(rest);
      return;
    case 'cluster':
      process.exitCode = await clusterCommand(rest);
      return;
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(usage);
      return;
    default:
      process.stderr.write(`tessera: unknown command "${command}"\n\n${usage}`);
      process.exit(2);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`tessera: ${error.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`tessera: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
