// Starts the real services as child processes (as in production), on free ports, against the
// test's own topics and database; stop() is graceful, kill9() is a crash.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { stackEnv } from './stack.js';
import { waitFor } from './wait.js';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface RunningService {
  url: string;
  process: ChildProcess;
  output: () => string;
  stop(): Promise<number | null>;
  kill9(): Promise<void>;
}

export interface ServiceOptions {
  waitReady?: boolean;
  /** Node flags for the child, on its command line (NODE_OPTIONS refuses some, e.g. --cpu-prof). */
  nodeArgs?: string[];
}

async function startService(
  entry: string,
  portVar: 'PORT' | 'HEALTH_PORT',
  env: Record<string, string>,
  { waitReady = true, nodeArgs = [] }: ServiceOptions = {},
): Promise<RunningService> {
  const port = await freePort();
  const { kafkaBrokers, clickhouseUrl } = stackEnv();
  const child = spawn(process.execPath, [...nodeArgs, path.resolve(entry)], {
    env: { ...process.env, KAFKA_BROKERS: kafkaBrokers.join(','), CLICKHOUSE_URL: clickhouseUrl, LOG_LEVEL: 'info', [portVar]: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (b: Buffer) => {
    out += b.toString();
    if (out.length > 2_000_000) out = out.slice(-1_000_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const url = `http://127.0.0.1:${port}`;
  const service: RunningService = {
    url,
    process: child,
    output: () => out,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      return exited;
    },
    async kill9() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
  if (waitReady) {
    try {
      await waitFor(
        async () => {
          if (child.exitCode !== null) throw new Error(`${entry} exited with code ${child.exitCode} before it was ready`);
          return fetch(`${url}/readyz`).then((r) => r.status);
        },
        (s) => s === 200,
        { timeoutMs: 60_000, what: `${entry} ready` },
      ).catch((err: Error) => {
        if (child.exitCode !== null) throw new Error(`${entry} exited with code ${child.exitCode} before it was ready`);
        throw err;
      });
    } catch (err) {
      await service.kill9();
      throw new Error(`${(err as Error).message}\n--- output ---\n${out.slice(-5000)}`);
    }
  }
  return service;
}

export const startIngest = (env: Record<string, string>, o?: ServiceOptions) => startService('services/ingest/dist/main.js', 'PORT', env, o);
export const startAggregator = (env: Record<string, string>, o?: ServiceOptions) =>
  startService('services/aggregator/dist/main.js', 'HEALTH_PORT', env, o);

/** The environment both services need for one test's isolation. */
export function serviceEnv(iso: { topicPrefix: string; database: string; groupId: string }): Record<string, string> {
  return { TOPIC_PREFIX: iso.topicPrefix, CLICKHOUSE_DATABASE: iso.database, AGGREGATOR_GROUP_ID: iso.groupId };
}
