// A single-node KRaft Kafka broker run from jars fetched once from Maven Central (no Docker).
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { localDir } from './settings.js';
import { assertPortsFree, killStale, LocalServer, runLogged, spawnLogged, tail, waitFor } from './processes.js';

const pomFile = path.join(localDir, 'kafka', 'pom.xml');
const log4jFile = path.join(localDir, 'kafka', 'log4j2.xml');

/** The jars folder under the cache, or undefined when it must be (re)fetched with Maven. */
export function cachedKafkaLib(cacheDir: string): string | undefined {
  const lib = path.join(cacheDir, 'kafka', 'lib');
  const marker = path.join(lib, '.pom-sha256');
  return fs.existsSync(marker) && fs.readFileSync(marker, 'utf8').trim() === pomHash() ? lib : undefined;
}

function pomHash(): string {
  return createHash('sha256').update(fs.readFileSync(pomFile)).digest('hex');
}

/** Copies the broker's jars into `<cache>/kafka/lib`. The marker holds the pom's hash, so a
 *  version bump refetches and every other start is offline. */
export async function ensureKafkaLib(cacheDir: string, log: (m: string) => void): Promise<string> {
  const cached = cachedKafkaLib(cacheDir);
  if (cached) return cached;
  const kafkaCache = path.join(cacheDir, 'kafka');
  const lib = path.join(kafkaCache, 'lib');
  // Built beside and renamed into place, so a concurrent or interrupted run never sees half a lib.
  const staging = path.join(kafkaCache, `lib.staging-${process.pid}`);
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });
  const logFile = path.join(kafkaCache, 'mvn.log');
  log(`fetching Kafka jars with Maven (once; log: ${logFile})`);
  await runLogged('mvn dependency:copy-dependencies', 'mvn', [
    '-q', '-B', '-Dstyle.color=never', '-f', pomFile,
    'dependency:copy-dependencies', `-DoutputDirectory=${staging}`, '-DincludeScope=runtime',
  ], { cwd: kafkaCache, logFile });
  fs.writeFileSync(path.join(staging, '.pom-sha256'), `${pomHash()}\n`);
  fs.rmSync(lib, { recursive: true, force: true });
  try {
    fs.renameSync(staging, lib);
  } catch (err) {
    // Another run won the race and its lib is as good as ours.
    fs.rmSync(staging, { recursive: true, force: true });
    if (!cachedKafkaLib(cacheDir)) throw err;
  }
  return lib;
}

export interface KafkaPorts {
  broker: number;
  controller: number;
}

/** One broker+controller in `dir` (config, data, logs). Restarts reuse ports and data, so
 *  clients reconnect as they would to a bounced production broker. */
export class LocalKafka extends LocalServer {
  constructor(
    private readonly lib: string,
    readonly dir: string,
    readonly ports: KafkaPorts,
    private readonly log: (m: string) => void,
  ) {
    super();
  }

  get brokers(): string[] {
    return [`127.0.0.1:${this.ports.broker}`];
  }

  protected async startNow(signal?: AbortSignal): Promise<void> {
    const dataDir = path.join(this.dir, 'data');
    const logsDir = path.join(this.dir, 'logs');
    const propsFile = path.join(this.dir, 'server.properties');
    const outFile = path.join(logsDir, 'stdout.log');
    const pidFile = path.join(this.dir, 'kafka.pid');
    fs.mkdirSync(logsDir, { recursive: true });
    await killStale(pidFile, this.dir, this.log);
    await assertPortsFree({ 'kafka broker': this.ports.broker, 'kafka controller': this.ports.controller });
    fs.writeFileSync(propsFile, serverProperties(this.ports, dataDir));

    const jvm = [`-Dlog4j2.configurationFile=${log4jFile}`, `-Dkafka.logs.dir=${logsDir}`, '-cp', path.join(this.lib, '*')];
    if (!fs.existsSync(path.join(dataDir, 'meta.properties'))) {
      // KRaft refuses to start on an unformatted log dir; format once per data dir.
      // With controller.quorum.voters (a static quorum) the format takes no --standalone.
      await runLogged('kafka storage format', 'java', [
        '-Xmx256m', '-XX:TieredStopAtLevel=1', ...jvm,
        'kafka.tools.StorageTool', 'format', '-t', clusterId(), '-c', propsFile,
      ], { cwd: this.dir, logFile: outFile });
    }
    const started = Date.now();
    const proc = spawnLogged('kafka', 'java', [
      '-Xms256m', '-Xmx512m', '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20', '-Djava.awt.headless=true',
      ...jvm, 'kafka.Kafka', propsFile,
    ], { cwd: this.dir, logFile: outFile, pidFile });
    this.process = proc;
    try {
      await waitFor(`kafka on ${this.brokers[0]}`, () => probeKafka(this.brokers), {
        timeoutMs: 120_000,
        intervalMs: 250,
        abort: () => (proc.isRunning() ? undefined : `exited early; last lines of ${logsDir}/server.log:\n${tail(path.join(logsDir, 'server.log'))}\n${tail(outFile, 5)}`),
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      await proc.stop(5_000);
      throw err;
    }
    this.log(`kafka ready on ${this.brokers[0]} in ${((Date.now() - started) / 1000).toFixed(1)}s (pid ${proc.pid}, logs ${logsDir})`);
  }
}

function serverProperties(ports: KafkaPorts, dataDir: string): string {
  return `# Written by deploy/local/src/kafka.ts on every start; edit there.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${ports.controller}
listeners=PLAINTEXT://127.0.0.1:${ports.broker},CONTROLLER://127.0.0.1:${ports.controller}
advertised.listeners=PLAINTEXT://127.0.0.1:${ports.broker}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=${dataDir}
num.partitions=1
# Single node: every internal topic must accept one replica, or consumer groups never find a coordinator.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# A few partitions instead of 50: creating __consumer_offsets then takes well under a second on 2 cores.
offsets.topic.num.partitions=3
group.initial.rebalance.delay.ms=0
# The services create their topics explicitly (auto-creation misbehaves with kafkajs on KRaft).
auto.create.topics.enable=false
`;
}

/** A Kafka cluster id: 16 random bytes in URL-safe base64, as `kafka-storage random-uuid` prints.
 *  Like Kafka's Uuid.randomUuid it never starts with '-': the storage tool's argument parser would
 *  read such an id as an option (1 start in 64 failed that way). */
export function clusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/** Ready means a metadata round trip lists a broker (the listener only serves requests once the
 *  broker is unfenced) and a group coordinator answers. The latter creates and loads
 *  __consumer_offsets on a fresh broker, which otherwise greets the services' first consumer
 *  and idempotent producer with "coordinator is loading" errors. */
export async function probeKafka(brokers: string[]): Promise<boolean> {
  const kafka = new Kafka({
    clientId: 'sitrep-stack-probe',
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1_000,
    requestTimeout: 2_000,
    retry: { retries: 0 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    if (cluster.brokers.length === 0) return false;
    await admin.describeGroups(['sitrep-stack-readiness']);
    return true;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
