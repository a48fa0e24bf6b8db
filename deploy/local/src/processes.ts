// Child processes of the local stack: spawn with output to a log file, stop exactly what we
// started (its process group, TERM then KILL), probe ports, and poll instead of sleeping.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  /** Resolves with the exit code (null when killed by a signal) once the process is gone. */
  readonly exited: Promise<number | null>;
  isRunning(): boolean;
  stop(graceMs?: number): Promise<void>;
}

// Process groups still running; killed synchronously if this Node process exits without
// stopping them (a crash, an uncaught error), so no broker outlives the test run that made it.
const live = new Set<number>();
process.on('exit', () => {
  for (const pgid of live) signalGroup(pgid, 'SIGKILL');
});

function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

export interface SpawnOptions {
  cwd: string;
  logFile: string;
  env?: NodeJS.ProcessEnv;
  /** Holds "<pid> <our pid>", so a later start can clean up after a crashed owner. */
  pidFile?: string;
}

/** Starts `cmd` in its own process group (a terminal's Ctrl-C reaches only us, and we stop the
 *  children in order) with stdout and stderr appended to `logFile`. */
export function spawnLogged(name: string, cmd: string, args: string[], opts: SpawnOptions): ManagedProcess {
  const fd = fs.openSync(opts.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, detached: true, stdio: ['ignore', fd, fd] });
  } finally {
    fs.closeSync(fd);
  }
  let running = true;
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      running = false;
      resolve(code);
    });
    child.once('error', () => {
      running = false;
      resolve(-1);
    });
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${name} (${cmd}); see ${opts.logFile}`);
  live.add(pid);
  if (opts.pidFile) fs.writeFileSync(opts.pidFile, `${pid} ${process.pid}\n`);
  void exited.then(() => {
    // The leader is gone; anything it left in its group goes too.
    signalGroup(pid, 'SIGKILL');
    live.delete(pid);
    if (opts.pidFile) fs.rmSync(opts.pidFile, { force: true });
  });
  return {
    name,
    pid,
    exited,
    isRunning: () => running,
    async stop(graceMs = 15_000) {
      if (!running) return;
      signalGroup(pid, 'SIGTERM');
      const t = setTimeout(() => signalGroup(pid, 'SIGKILL'), graceMs);
      try {
        await exited;
      } finally {
        clearTimeout(t);
      }
    },
  };
}

/** Runs a command to completion with output appended to a log file; throws on a non-zero exit. */
export async function runLogged(what: string, cmd: string, args: string[], opts: { cwd: string; logFile: string; env?: NodeJS.ProcessEnv }): Promise<void> {
  const proc = spawnLogged(what, cmd, args, { cwd: opts.cwd, logFile: opts.logFile, ...(opts.env ? { env: opts.env } : {}) });
  const code = await proc.exited;
  if (code !== 0) throw new Error(`${what} failed (exit ${code}):\n${tail(opts.logFile)}`);
}

/** Kills a process left by an earlier run whose owner died without stopping it, but only if its
 *  command line still mentions `marker` (our run dir): a recycled pid must never be hit. Throws
 *  when the owner is alive, because then the dir is in use by another run. */
export async function killStale(pidFile: string, marker: string, log: (m: string) => void): Promise<void> {
  let pid: number;
  let owner: number;
  try {
    [pid = NaN, owner = NaN] = fs.readFileSync(pidFile, 'utf8').trim().split(/\s+/).map(Number);
  } catch {
    return;
  }
  let cmdline = '';
  try {
    cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    // Gone already.
  }
  if (Number.isInteger(pid) && pid > 1 && cmdline.includes(marker)) {
    if (owner !== process.pid && isAlive(owner)) {
      throw new Error(`${marker} is in use by pid ${pid}, started by pid ${owner} which is still running; stop that first`);
    }
    log(`stopping pid ${pid} left running by an earlier run that died (${cmdline.slice(0, 100)}...)`);
    signalGroup(pid, 'SIGTERM');
    const deadline = Date.now() + 15_000;
    while (isAlive(pid) && Date.now() < deadline) await sleep(100);
    signalGroup(pid, 'SIGKILL');
    while (isAlive(pid)) await sleep(50);
  }
  fs.rmSync(pidFile, { force: true });
}

export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 1) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The last lines of a log file, for error messages. */
export function tail(file: string, lines = 20): string {
  try {
    const text = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
    return text.slice(-lines).map((l) => `    ${l}`).join('\n');
  } catch {
    return `    (no ${file})`;
  }
}

/** A loopback port that was free a moment ago (the OS picks it by binding port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

export function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** Returns a reason to give up early (the process died), or undefined to keep waiting. */
  abort?: () => string | undefined;
  signal?: AbortSignal;
}

/** Polls `probe` until it returns true; throws with `what` and the abort reason otherwise. */
export async function waitFor(what: string, probe: () => Promise<boolean>, opts: WaitOptions): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    opts.signal?.throwIfAborted();
    const reason = opts.abort?.();
    if (reason) throw new Error(`${what}: ${reason}`);
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${opts.timeoutMs} ms`);
    await sleep(opts.intervalMs ?? 200);
  }
}

/** Whether an executable answers (`java -version`, `docker info`) within a bound. */
export function answers(cmd: string, args: string[], timeoutMs = 5_000): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore', timeout: timeoutMs });
  return !r.error && r.status === 0;
}

export class PortInUseError extends Error {
  constructor(readonly port: number, readonly role: string) {
    super(`127.0.0.1:${port} (${role}) is already in use by another process`);
  }
}

export async function assertPortsFree(ports: Record<string, number>): Promise<void> {
  for (const [role, port] of Object.entries(ports)) {
    if (!(await isPortFree(port))) throw new PortInUseError(port, role);
  }
}

/** Runs operations one after another in call order. A failure test may call start() while its
 *  stop() is still waiting for the server to exit; the start must follow the stop, not see a
 *  still-running process and return early. */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(op: () => Promise<T>): Promise<T> {
    const next = this.tail.then(op, op);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

/**
 * A server process this stack owns (Kafka, ClickHouse): start and stop run one after another in
 * call order, so a stop still in progress cannot kill the process a later start brought up.
 */
export abstract class LocalServer {
  protected process: ManagedProcess | undefined;
  private readonly serial = new Serial();

  get pid(): number | undefined {
    return this.process?.isRunning() ? this.process.pid : undefined;
  }

  start(signal?: AbortSignal): Promise<void> {
    return this.serial.run(async () => {
      if (!this.process?.isRunning()) await this.startNow(signal);
    });
  }

  stop(): Promise<void> {
    return this.serial.run(async () => this.process?.stop(20_000));
  }

  protected abstract startNow(signal?: AbortSignal): Promise<void>;
}
