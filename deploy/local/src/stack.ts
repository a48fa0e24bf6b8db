// The stack ladder (design/stack.md): one call gives tests and `npm start` a real Kafka and a real
// ClickHouse: endpoints from the environment, else containers, else local processes, else a
// precise account of what is missing.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { readSettings, type StackSettings } from './settings.js';
import { answers, freePorts, isAlive, killStale, PortInUseError, waitFor } from './processes.js';
import { cachedKafkaLib, ensureKafkaLib, LocalKafka, probeKafka } from './kafka.js';
import { canAptInstall, ensureClickHouse, findClickHouse, LocalClickHouse, pingClickHouse } from './clickhouse.js';

export type StackMode = 'env' | 'containers' | 'local';
export type StackPurpose = 'test' | 'run';

export interface Stack {
  kafkaBrokers: string[];
  clickhouseUrl: string;
  mode: StackMode;
  /** Config, data and logs of the local processes (local mode only). */
  runDir?: string;
  /** Pids of the processes this stack started that are running now (local mode; else empty). */
  pids(): number[];
  /** Failure tests: stop and start again on the same ports and data, so clients reconnect.
   *  Throw in env mode, where the servers are not ours. */
  stopKafka(): Promise<void>;
  startKafka(): Promise<void>;
  stopClickHouse(): Promise<void>;
  startClickHouse(): Promise<void>;
  /** Stops exactly what this stack started (nothing in env mode); test run dirs are deleted. */
  stop(): Promise<void>;
}

export interface ProvisionOptions {
  /** 'test': free ports and a throwaway dir; 'run': fixed ports and persistent data. */
  purpose: StackPurpose;
  log?: (msg: string) => void;
  /** Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Aborts a start in progress (Ctrl-C while Kafka boots); whatever started is stopped. */
  signal?: AbortSignal;
}

/** No rung of the ladder works here. `missing` lists each prerequisite with how to get it. */
export class StackUnavailableError extends Error {
  constructor(readonly missing: string[], readonly ci: boolean) {
    super(
      `no Kafka/ClickHouse stack is available:\n${missing.map((m) => `  - ${m}`).join('\n')}\n` +
        'Or instead: set KAFKA_BROKERS and CLICKHOUSE_URL to running servers, ' +
        'or run a container engine (Docker) for testcontainers / docker compose.' +
        (ci ? '\nCI=true: failing rather than skipping.' : ''),
    );
  }
}

const defaultLog = (msg: string) => process.stderr.write(`[stack] ${msg}\n`);

export async function provisionStack(opts: ProvisionOptions): Promise<Stack> {
  const log = opts.log ?? defaultLog;
  const settings = readSettings(opts.env ?? process.env);
  const { kafkaBrokers, clickhouseUrl } = settings;

  if (settings.stack === 'env' || (settings.stack === 'auto' && (kafkaBrokers || clickhouseUrl))) {
    if (!kafkaBrokers || !clickhouseUrl) {
      throw new Error(`set both KAFKA_BROKERS and CLICKHOUSE_URL (or neither): only ${kafkaBrokers ? 'KAFKA_BROKERS' : 'CLICKHOUSE_URL'} is set`);
    }
    log(`using KAFKA_BROKERS=${kafkaBrokers} and CLICKHOUSE_URL=${clickhouseUrl} from the environment`);
    return envStack(kafkaBrokers.split(',').map((b) => b.trim()).filter(Boolean), clickhouseUrl);
  }
  // For 'run', docker compose (started by bootstrap.mjs) is the container rung, not testcontainers.
  if (settings.stack === 'containers' || (settings.stack === 'auto' && opts.purpose === 'test' && engineAnswers())) {
    return containerStack(log);
  }
  return localStack(opts.purpose, settings, log, opts.signal);
}

/** `docker info` talks to the daemon, so it fails fast when only the CLI is installed. */
export function engineAnswers(): boolean {
  return answers('docker', ['info'], 3_000);
}

function notSupported(mode: StackMode, what: string): () => Promise<void> {
  return () => Promise.reject(new Error(`${what} is not supported in ${mode} mode: the servers are not ours`));
}

function envStack(kafkaBrokers: string[], clickhouseUrl: string): Stack {
  return {
    kafkaBrokers,
    clickhouseUrl,
    mode: 'env',
    pids: () => [],
    stopKafka: notSupported('env', 'stopKafka'),
    startKafka: notSupported('env', 'startKafka'),
    stopClickHouse: notSupported('env', 'stopClickHouse'),
    startClickHouse: notSupported('env', 'startClickHouse'),
    stop: async () => undefined,
  };
}

async function containerStack(log: (m: string) => void): Promise<Stack> {
  // Loaded only on this rung: testcontainers is heavy and irrelevant without an engine.
  const c = await import('./containers.js');
  const started = await c.startContainers(log);
  const opts = { timeoutMs: 120_000, intervalMs: 250 };
  // Same readiness as the local broker: the log line comes before the group coordinator loads.
  await waitFor('kafka container', () => probeKafka(started.kafkaBrokers), opts);
  return {
    kafkaBrokers: started.kafkaBrokers,
    clickhouseUrl: started.clickhouseUrl,
    mode: 'containers',
    pids: () => [],
    stopKafka: async () => c.dockerStop(started.kafka),
    startKafka: async () => {
      c.dockerStart(started.kafka);
      await waitFor('kafka container', () => probeKafka(started.kafkaBrokers), opts);
    },
    stopClickHouse: async () => c.dockerStop(started.clickhouse),
    startClickHouse: async () => {
      c.dockerStart(started.clickhouse);
      await waitFor('clickhouse container', () => pingClickHouse(started.clickhouseUrl), opts);
    },
    stop: async () => {
      await Promise.all([started.kafka.stop(), started.clickhouse.stop()]);
    },
  };
}

/** What the local rung needs and is missing, each with the command that provides it. */
export function localPrerequisites(cacheDir: string): string[] {
  const missing: string[] = [];
  const java = spawnSync('java', ['-version'], { encoding: 'utf8', timeout: 10_000 });
  const major = Number(/version "(\d+)/.exec(`${java.stderr ?? ''}`)?.[1] ?? 0);
  if (java.error || java.status !== 0) missing.push('Java 17+ for the Kafka broker: apt-get install -y openjdk-17-jre-headless');
  else if (major < 17) missing.push(`Java 17+ for the Kafka broker (found ${major}): apt-get install -y openjdk-17-jre-headless`);
  if (!cachedKafkaLib(cacheDir) && !answers('mvn', ['-v'], 15_000)) {
    missing.push(`Maven, to fetch the Kafka jars once into ${path.join(cacheDir, 'kafka', 'lib')} (Maven Central): apt-get install -y maven`);
  }
  if (!findClickHouse() && !canAptInstall()) {
    missing.push('ClickHouse server (run as root, or install first): apt-get update && apt-get install -y clickhouse-server clickhouse-client');
  }
  return missing;
}

async function localStack(purpose: StackPurpose, settings: StackSettings, log: (m: string) => void, signal?: AbortSignal): Promise<Stack> {
  const { cacheDir } = settings;
  const missing = localPrerequisites(cacheDir);
  if (missing.length > 0) throw new StackUnavailableError(missing, settings.ci);
  fs.mkdirSync(cacheDir, { recursive: true });

  const [lib, clickhouseCmd] = await Promise.all([ensureKafkaLib(cacheDir, log), ensureClickHouse(cacheDir, log)]);
  if (!clickhouseCmd) throw new StackUnavailableError(['clickhouse-server is still not on PATH after apt-get install'], settings.ci);

  let runDir: string;
  let ports: { kafka: number; kafkaController: number; clickhouseHttp: number; clickhouseTcp: number };
  if (purpose === 'test') {
    await removeAbandonedTestDirs(cacheDir, log);
    runDir = path.join(cacheDir, 'tmp', `stack-${process.pid}-${randomBytes(3).toString('hex')}`);
    const [kafka = 0, kafkaController = 0, clickhouseHttp = 0, clickhouseTcp = 0] = await freePorts(4);
    ports = { kafka, kafkaController, clickhouseHttp, clickhouseTcp };
  } else {
    runDir = settings.runDataDir;
    ports = settings.runPorts;
  }
  const kafka = new LocalKafka(lib, path.join(runDir, 'kafka'), { broker: ports.kafka, controller: ports.kafkaController }, log);
  const clickhouse = new LocalClickHouse(clickhouseCmd, path.join(runDir, 'clickhouse'), { http: ports.clickhouseHttp, tcp: ports.clickhouseTcp }, log);

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      await Promise.all([kafka.stop(), clickhouse.stop()]);
      if (purpose === 'test') fs.rmSync(runDir, { recursive: true, force: true });
    })());

  log(`starting local Kafka and ClickHouse in ${runDir}`);
  // allSettled, not all: a fast failure of one must not leave the other starting unobserved.
  const results = await Promise.allSettled([kafka.start(signal), clickhouse.start(signal)]);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await stop();
    const err: unknown = failed.reason;
    if (err instanceof PortInUseError && purpose === 'run') {
      err.message += '; choose other ports with SITREP_KAFKA_PORT, SITREP_KAFKA_CONTROLLER_PORT, SITREP_CLICKHOUSE_HTTP_PORT, SITREP_CLICKHOUSE_TCP_PORT';
    }
    throw err;
  }
  return {
    kafkaBrokers: kafka.brokers,
    clickhouseUrl: clickhouse.url,
    mode: 'local',
    runDir,
    pids: () => [kafka.pid, clickhouse.pid].filter((p): p is number => p !== undefined),
    stopKafka: () => kafka.stop(),
    startKafka: () => kafka.start(),
    stopClickHouse: () => clickhouse.stop(),
    startClickHouse: () => clickhouse.start(),
    stop,
  };
}

/** Test dirs whose owning process died (killed test runner): stop their servers, free the disk. */
async function removeAbandonedTestDirs(cacheDir: string, log: (m: string) => void): Promise<void> {
  const tmp = path.join(cacheDir, 'tmp');
  const entries = fs.existsSync(tmp) ? fs.readdirSync(tmp) : [];
  for (const name of entries) {
    const owner = Number(/^stack-(\d+)-/.exec(name)?.[1]);
    if (!owner || isAlive(owner)) continue;
    const dir = path.join(tmp, name);
    await Promise.all(['kafka/kafka.pid', 'clickhouse/clickhouse.pid'].map((f) => killStale(path.join(dir, f), dir, log)));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
