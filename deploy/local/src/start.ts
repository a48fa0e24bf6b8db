// `npm start` without containers: the local stack plus both services in the foreground, with
// readable logs, until Ctrl-C or SIGTERM; then services first, the stack last.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { z } from 'zod';
import { provisionStack, type Stack } from './stack.js';
import { repoDir } from './settings.js';
import { assertPortsFree, waitFor } from './processes.js';
import { formatLine } from './log-format.js';

const startedAt = performance.now();
const color = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
const say = (msg: string) => process.stdout.write(`${color ? '\x1b[1m' : ''}[start] ${msg}${color ? '\x1b[0m' : ''}\n`);
const seconds = () => ((performance.now() - startedAt) / 1000).toFixed(1);

const ports = z
  .object({ PORT: z.coerce.number().int().min(1).max(65535).default(8080), HEALTH_PORT: z.coerce.number().int().min(1).max(65535).default(8081) })
  .parse(process.env);
const fixture = 'test/fixtures/saner/measure-reports/ExampleNJ-20200404-CDCPatientImpactAndHospitalCapacity.json';

interface Service {
  name: string;
  pid: number;
  exited: Promise<number | null>;
  running: boolean;
}

const services: Service[] = [];
const abort = new AbortController();
let provisioning: Promise<Stack> | undefined;
let stopping = false;

// Services run in their own process groups (like the stack) so that the terminal's Ctrl-C reaches
// only this script, which stops everything in order. A crash here must not orphan them.
process.on('exit', () => {
  for (const s of services) if (s.running) signalGroup(s.pid, 'SIGKILL');
});

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

async function shutdown(code: number, reason: string): Promise<void> {
  // npm forwards the terminal's SIGINT as well, so a second signal is normal: ignore it.
  if (stopping) return;
  stopping = true;
  say(reason);
  abort.abort();
  await Promise.all(
    services.map(async (s) => {
      if (!s.running) return;
      signalGroup(s.pid, 'SIGTERM');
      const timer = setTimeout(() => signalGroup(s.pid, 'SIGKILL'), 15_000);
      await s.exited;
      clearTimeout(timer);
    }),
  );
  const stack = await provisioning?.catch(() => undefined);
  await stack?.stop();
  say(`stopped after ${seconds()}s`);
  process.exit(code);
}

process.on('SIGINT', () => void shutdown(0, 'SIGINT: stopping services, then Kafka and ClickHouse'));
process.on('SIGTERM', () => void shutdown(0, 'SIGTERM: stopping services, then Kafka and ClickHouse'));

function startService(name: string, main: string, env: NodeJS.ProcessEnv): Service {
  const child = spawn(process.execPath, [main], { cwd: repoDir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`could not start ${name}`);
  const prefix = `[${name}]`.padEnd(12);
  for (const stream of [child.stdout, child.stderr]) {
    readline.createInterface({ input: stream }).on('line', (line) => process.stdout.write(`${formatLine(prefix, line, color)}\n`));
  }
  const service: Service = { name, pid: child.pid, running: true, exited: Promise.resolve(null) };
  service.exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      service.running = false;
      // Take down anything the service left in its group.
      signalGroup(service.pid, 'SIGKILL');
      if (!stopping) void shutdown(1, `${name} exited unexpectedly (${signal ?? `code ${code}`}): stopping everything`);
      resolve(code);
    });
  });
  services.push(service);
  return service;
}

async function ready(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
  return res.status === 200;
}

async function main(): Promise<void> {
  const mains = { ingest: path.join(repoDir, 'services/ingest/dist/main.js'), aggregator: path.join(repoDir, 'services/aggregator/dist/main.js') };
  for (const file of Object.values(mains)) {
    if (!fs.existsSync(file)) throw new Error(`${path.relative(repoDir, file)} is missing: build first (npx tsc -b)`);
  }
  await assertPortsFree({ 'ingest PORT': ports.PORT, 'aggregator HEALTH_PORT': ports.HEALTH_PORT });

  provisioning = provisionStack({ purpose: 'run', log: (m) => say(m), signal: abort.signal });
  const stack = await provisioning;
  if (stopping) return;
  const env = { ...process.env, KAFKA_BROKERS: stack.kafkaBrokers.join(','), CLICKHOUSE_URL: stack.clickhouseUrl };
  const ingest = startService('ingest', mains.ingest, { ...env, PORT: String(ports.PORT) });
  const aggregator = startService('aggregator', mains.aggregator, { ...env, HEALTH_PORT: String(ports.HEALTH_PORT) });

  const ingestUrl = `http://127.0.0.1:${ports.PORT}`;
  const healthUrl = `http://127.0.0.1:${ports.HEALTH_PORT}`;
  const opts = { timeoutMs: 180_000, intervalMs: 250, signal: abort.signal };
  await Promise.all([
    waitFor('ingest /readyz', () => ready(`${ingestUrl}/readyz`), { ...opts, abort: () => (ingest.running ? undefined : 'exited') }),
    waitFor('aggregator /readyz', () => ready(`${healthUrl}/readyz`), { ...opts, abort: () => (aggregator.running ? undefined : 'exited') }),
  ]);
  if (stopping) return;
  const pids = [...services.map((s) => `${s.name}=${s.pid}`), ...stack.pids().map((p) => `stack=${p}`)];
  process.stdout.write(
    [
      '',
      `sitrep ready in ${seconds()}s (${stack.mode} stack)`,
      `  ingest      ${ingestUrl}`,
      `  aggregator  ${healthUrl}/readyz`,
      `  kafka       ${stack.kafkaBrokers.join(',')}`,
      `  clickhouse  ${stack.clickhouseUrl}  (read-only analyst: sitrep_reader / sitrep_reader)`,
      ...(stack.runDir ? [`  data, logs  ${stack.runDir}`] : []),
      `sitrep pids: ${pids.join(' ')}`,
      '',
      'Post a report:',
      `  curl -i -X POST -H 'Content-Type: application/fhir+json' --data-binary @${fixture} ${ingestUrl}/MeasureReport`,
      '',
      'Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );
}

main().catch((err: unknown) => {
  if (stopping) return; // A signal interrupted the start; shutdown() owns the exit.
  process.stderr.write(`[start] failed: ${err instanceof Error ? err.message : String(err)}\n`);
  void shutdown(1, 'stopping what was started');
});
