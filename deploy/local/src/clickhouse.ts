// A ClickHouse server from the OS package, run with the project's own config, data and loopback
// ports so it never touches (or depends on) a system instance.
import fs from 'node:fs';
import path from 'node:path';
import { clickhouseConfigDir } from './settings.js';
import { assertPortsFree, killStale, LocalServer, runLogged, spawnLogged, tail, waitFor } from './processes.js';

/** How to run the server: Debian's 18.16 ships `clickhouse-server`; current releases also ship a
 *  single `clickhouse` binary that takes `server` as its first argument. */
export interface ClickHouseCommand {
  cmd: string;
  args: string[];
}

const searchDirs = () => [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/sbin', '/usr/bin', '/usr/local/bin'];

export function findClickHouse(): ClickHouseCommand | undefined {
  for (const [name, args] of [['clickhouse-server', []], ['clickhouse', ['server']]] as const) {
    for (const dir of searchDirs()) {
      const candidate = path.join(dir, name);
      try {
        fs.accessSync(candidate, fs.constants.X_OK);
        return { cmd: candidate, args: [...args] };
      } catch {
        // Not in this directory.
      }
    }
  }
  return undefined;
}

/** Whether this process could install the package itself (root with apt-get). */
export function canAptInstall(): boolean {
  return process.getuid?.() === 0 && fs.existsSync('/usr/bin/apt-get');
}

/** Finds the server, installing the OS package once when it is missing and we are allowed to. */
export async function ensureClickHouse(cacheDir: string, log: (m: string) => void): Promise<ClickHouseCommand | undefined> {
  const found = findClickHouse();
  if (found || !canAptInstall()) return found;
  fs.mkdirSync(cacheDir, { recursive: true });
  const logFile = path.join(cacheDir, 'apt-clickhouse.log');
  log(`installing clickhouse-server with apt-get (once; log: ${logFile})`);
  await runLogged('apt-get install clickhouse-server', 'sh', ['-c', 'apt-get update && apt-get install -y clickhouse-server clickhouse-client'], {
    cwd: cacheDir,
    logFile,
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return findClickHouse();
}

export interface ClickHousePorts {
  http: number;
  tcp: number;
}

/** One server in `dir` (config.xml, users.xml, data/, log/). Restarts reuse ports and data. */
export class LocalClickHouse extends LocalServer {
  constructor(
    private readonly command: ClickHouseCommand,
    readonly dir: string,
    readonly ports: ClickHousePorts,
    private readonly log: (m: string) => void,
  ) {
    super();
  }

  get url(): string {
    return `http://127.0.0.1:${this.ports.http}`;
  }

  protected async startNow(signal?: AbortSignal): Promise<void> {
    const logDir = path.join(this.dir, 'log');
    const pidFile = path.join(this.dir, 'clickhouse.pid');
    fs.mkdirSync(logDir, { recursive: true });
    await killStale(pidFile, this.dir, this.log);
    await assertPortsFree({ 'clickhouse http': this.ports.http, 'clickhouse tcp': this.ports.tcp });
    const config = fs
      .readFileSync(path.join(clickhouseConfigDir, 'config.xml'), 'utf8')
      .replaceAll('@DIR@', this.dir)
      .replaceAll('@HTTP_PORT@', String(this.ports.http))
      .replaceAll('@TCP_PORT@', String(this.ports.tcp));
    fs.writeFileSync(path.join(this.dir, 'config.xml'), config);
    fs.copyFileSync(path.join(clickhouseConfigDir, 'users.xml'), path.join(this.dir, 'users.xml'));

    const started = Date.now();
    const proc = spawnLogged('clickhouse', this.command.cmd, [...this.command.args, `--config-file=${path.join(this.dir, 'config.xml')}`], {
      cwd: this.dir,
      logFile: path.join(logDir, 'stdout.log'),
      // NOTE: current servers fork a watchdog parent by default; one process is simpler to stop.
      env: { ...process.env, CLICKHOUSE_WATCHDOG_ENABLE: '0' },
      pidFile,
    });
    this.process = proc;
    try {
      await waitFor(`clickhouse on ${this.url}`, () => pingClickHouse(this.url), {
        timeoutMs: 60_000,
        intervalMs: 100,
        abort: () => (proc.isRunning() ? undefined : `exited early:\n${tail(path.join(logDir, 'clickhouse-server.err.log'))}`),
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      await proc.stop(5_000);
      throw err;
    }
    this.log(`clickhouse ready on ${this.url} in ${((Date.now() - started) / 1000).toFixed(1)}s (pid ${proc.pid}, logs ${logDir})`);
  }
}

export async function pingClickHouse(url: string): Promise<boolean> {
  const res = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(1_000) });
  return res.ok;
}
