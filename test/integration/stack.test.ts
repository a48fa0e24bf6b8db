// `npm start` without containers: start.js brings up Kafka, ClickHouse and both services, and one
// Ctrl-C (SIGINT) stops every process it started, frees every port and exits 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { freePorts, isAlive, killStale } from '@sitrep/local-stack/processes';
import { localPrerequisites } from '@sitrep/local-stack/stack';
import { readSettings } from '@sitrep/local-stack/settings';

const repo = fileURLToPath(new URL('../../../', import.meta.url));

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

test('start.js: ready, then one SIGINT stops everything it started', { timeout: 300_000 }, async (t) => {
  const missing = localPrerequisites(readSettings().cacheDir);
  if (missing.length > 0) {
    assert.ok(process.env.CI !== 'true', `local stack prerequisites missing in CI:\n${missing.join('\n')}`);
    t.skip(`local stack prerequisites missing: ${missing.join('; ')}`);
    return;
  }
  const [kafka = 0, controller = 0, chHttp = 0, chTcp = 0, ingest = 0, health = 0] = await freePorts(6);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sitrep-start-test-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SITREP_STACK: 'local', // the start/stop of our own processes is what is under test
    SITREP_RUN_DATA_DIR: dataDir,
    SITREP_KAFKA_PORT: String(kafka),
    SITREP_KAFKA_CONTROLLER_PORT: String(controller),
    SITREP_CLICKHOUSE_HTTP_PORT: String(chHttp),
    SITREP_CLICKHOUSE_TCP_PORT: String(chTcp),
    PORT: String(ingest),
    HEALTH_PORT: String(health),
    NO_COLOR: '1',
  };
  // The test runner may export its own stack's endpoints; start.js must bring up its own.
  delete env.KAFKA_BROKERS;
  delete env.CLICKHOUSE_URL;

  const child = spawn(process.execPath, ['deploy/local/dist/start.js'], { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let pids: number[] = [];
  try {
    const ready = new Promise<string>((resolve, reject) => {
      for (const stream of [child.stdout, child.stderr]) {
        readline.createInterface({ input: stream }).on('line', (line) => {
          output.push(line);
          if (line.startsWith('sitrep pids:')) resolve(line);
        });
      }
      void exited.then((code) => reject(new Error(`start.js exited (${code}) before it was ready`)));
    });
    const pidLine = await ready.catch((err: Error) => assert.fail(`${err.message}:\n${output.slice(-40).join('\n')}`));
    pids = [...pidLine.matchAll(/=(\d+)/g)].map((m) => Number(m[1]));
    assert.equal(pids.length, 4, `ingest, aggregator, kafka and clickhouse pids in: ${pidLine}`);
    assert.ok(output.some((l) => l.startsWith('sitrep ready in')), 'prints how long it took');
    assert.ok(output.some((l) => l.includes(`curl -i -X POST`) && l.includes(`127.0.0.1:${ingest}/MeasureReport`)), 'prints a curl');
    assert.equal((await fetch(`http://127.0.0.1:${ingest}/readyz`)).status, 200);

    child.kill('SIGINT');
    const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 90_000).unref())]);
    assert.equal(code, 0, `exit code after SIGINT:\n${output.slice(-30).join('\n')}`);

    for (const pid of pids) assert.ok(!isAlive(pid), `pid ${pid} still running after start.js exited`);
    const ps = spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).stdout;
    const leftovers = ps.split('\n').filter((l) => l.includes(dataDir));
    assert.deepEqual(leftovers, [], 'no process still uses the run dir');
    for (const port of [kafka, controller, chHttp, chTcp, ingest, health]) {
      assert.equal(await portAnswers(port), false, `port ${port} still answers`);
    }
  } finally {
    // Only on failure: nothing of this test may outlive it.
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    }
    for (const pid of pids) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // Gone, as it should be.
      }
    }
    // Servers started before the pid line was printed, found by their pid files.
    for (const pidFile of ['kafka/kafka.pid', 'clickhouse/clickhouse.pid']) {
      await killStale(path.join(dataDir, pidFile), dataDir, () => undefined).catch(() => undefined);
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
