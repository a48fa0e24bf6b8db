// `npm start` / `npm test` entry: installs npm deps when stale, builds with `tsc -b`, then starts
// the app or runs the tests. Plain JS with no dependencies: it runs before node_modules exists.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const say = (msg) => process.stdout.write(`[bootstrap] ${msg}\n`);
const mtime = (file) => fs.statSync(path.join(root, file), { throwIfNoEntry: false })?.mtimeMs;

function run(what, cmd, args) {
  const started = Date.now();
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.error || r.status !== 0) {
    process.stderr.write(`[bootstrap] ${what} failed${r.error ? `: ${r.error.message}` : ` (exit ${r.status ?? r.signal})`}\n`);
    process.exit(r.status || 1);
  }
  return ((Date.now() - started) / 1000).toFixed(1);
}

/** npm writes node_modules/.package-lock.json on every install: missing or older than the
 *  lockfile means the installed tree may not match it. */
function ensureDeps() {
  const installed = mtime('node_modules/.package-lock.json');
  if (installed !== undefined && installed >= (mtime('package-lock.json') ?? 0)) return;
  // Under `npm start`/`npm test`, npm_execpath is the npm that launched us; prefer it to PATH.
  const npm = process.env.npm_execpath;
  const [cmd, args] = npm && npm.endsWith('.js') ? [process.execPath, [npm]] : ['npm', []];
  say('installing npm dependencies (npm ci)');
  say(`npm ci took ${run('npm ci', cmd, [...args, 'ci', '--no-audit', '--no-fund'])}s`);
}

function build() {
  // TypeScript 7's bin/tsc is a JS shim that runs the native compiler.
  say(`built (tsc -b) in ${run('tsc -b', process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-b'])}s`);
}

/** A daemon that answers, not just the docker CLI (installed here without an engine). */
function engineAnswers() {
  const info = spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 3000 });
  if (info.error || info.status !== 0) return false;
  const compose = spawnSync('docker', ['compose', 'version'], { stdio: 'ignore', timeout: 5000 });
  if (compose.status === 0) return true;
  say('a container engine answers but `docker compose` is missing: using local processes');
  return false;
}

/** Runs the child in the foreground and exits with its code. A terminal's Ctrl-C already reaches
 *  the child (same process group); SIGINT is forwarded only to children that ignore a repeat,
 *  since `docker compose up` treats a second Ctrl-C as "kill now". SIGTERM and SIGHUP (an IDE's
 *  stop button, `kill`) reach only us, so they are always forwarded. */
function foreground(cmd, args, { forwardSigint = false } = {}) {
  const child = spawn(cmd, args, { cwd: root, stdio: 'inherit' });
  process.on('SIGINT', () => forwardSigint && child.kill('SIGINT'));
  for (const signal of ['SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? 128 + (os.constants.signals[signal] ?? 1)));
}

const command = process.argv[2];
if (command !== 'start' && command !== 'test') {
  process.stderr.write('usage: node deploy/local/bootstrap.mjs start|test\n');
  process.exit(2);
}
if (Number(process.versions.node.split('.')[0]) < 20) {
  process.stderr.write(`[bootstrap] Node 20 or newer is required (this is ${process.version})\n`);
  process.exit(1);
}
ensureDeps();
build();
if (command === 'test') {
  foreground(process.execPath, ['.build/test/run.js', ...process.argv.slice(3)]);
} else {
  const endpointsGiven = Boolean(process.env.KAFKA_BROKERS || process.env.CLICKHOUSE_URL);
  const forced = process.env.SITREP_STACK;
  if (forced === 'containers' || (!endpointsGiven && (forced ?? 'auto') === 'auto' && engineAnswers())) {
    say('container engine found: docker compose up --build (Ctrl-C stops it)');
    foreground('docker', ['compose', 'up', '--build']);
  } else {
    foreground(process.execPath, ['deploy/local/dist/start.js'], { forwardSigint: true });
  }
}
