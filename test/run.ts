// The test suite entry (`npm test` builds, then runs this): provisions the real stack once (the
// ladder in deploy/local), runs every test file with node's test runner against it, stops it.
// `--unit` runs only the unit tests, with no stack.
import { spawn } from 'node:child_process';
import http from 'node:http';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { provisionStack, type Stack } from '@sitrep/local-stack/stack';

const BUILD = path.resolve('.build/test');
const unitOnly = process.argv.includes('--unit');
const only = process.argv.slice(2).filter((a) => !a.startsWith('--'));

function testFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return testFiles(full);
    return name.endsWith('.test.js') ? [full] : [];
  });
}

/** Lets test processes stop and start Kafka or ClickHouse (failure tests) without owning the stack. */
function controlServer(stack: Stack): Promise<{ url: string; close: () => void }> {
  const actions: Record<string, () => Promise<void>> = {
    '/kafka/stop': () => stack.stopKafka(),
    '/kafka/start': () => stack.startKafka(),
    '/clickhouse/stop': () => stack.stopClickHouse(),
    '/clickhouse/start': () => stack.startClickHouse(),
  };
  const server = http.createServer((req, res) => {
    const action = req.method === 'POST' ? actions[req.url ?? ''] : undefined;
    if (!action) {
      res.writeHead(404).end();
      return;
    }
    action().then(
      () => res.writeHead(204).end(),
      (err: Error) => res.writeHead(500).end(err.message),
    );
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, close: () => server.close() })),
  );
}

async function main(): Promise<number> {
  let files = unitOnly ? testFiles(path.join(BUILD, 'unit')) : testFiles(BUILD);
  if (only.length) files = files.filter((f) => only.some((o) => f.includes(o)));
  files.sort();
  const env: NodeJS.ProcessEnv = { ...process.env };
  let stack: Stack | undefined;
  let control: { url: string; close: () => void } | undefined;
  if (!unitOnly) {
    const started = Date.now();
    stack = await provisionStack({ purpose: 'test', log: (m) => console.log(`[stack] ${m}`) });
    console.log(`[stack] ${stack.mode}: kafka ${stack.kafkaBrokers.join(',')} clickhouse ${stack.clickhouseUrl} (ready in ${((Date.now() - started) / 1000).toFixed(1)} s)`);
    control = await controlServer(stack);
    env.KAFKA_BROKERS = stack.kafkaBrokers.join(',');
    env.CLICKHOUSE_URL = stack.clickhouseUrl;
    env.SITREP_STACK_CONTROL = control.url;
  }
  const code = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], { stdio: 'inherit', env });
    child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0)));
    for (const s of ['SIGINT', 'SIGTERM'] as const) process.once(s, () => child.kill(s));
  });
  control?.close();
  await stack?.stop();
  return code;
}

process.exitCode = await main();
