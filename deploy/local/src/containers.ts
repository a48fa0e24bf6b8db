// The container rung of the ladder: Kafka and ClickHouse from their official images through
// testcontainers, for machines where a container engine answers. Untested on the dev machines
// (no engine there); the images and settings mirror docker-compose.yml.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { GenericContainer, Wait, getContainerRuntimeClient, type StartedTestContainer } from 'testcontainers';
import { clickhouseConfigDir } from './settings.js';
import { freePorts } from './processes.js';

export const KAFKA_IMAGE = 'apache/kafka:4.1.2';
export const CLICKHOUSE_IMAGE = 'clickhouse/clickhouse-server:25.8';

export interface ContainerStack {
  kafkaBrokers: string[];
  clickhouseUrl: string;
  kafka: StartedTestContainer;
  clickhouse: StartedTestContainer;
}

export async function startContainers(log: (m: string) => void): Promise<ContainerStack> {
  const host = (await getContainerRuntimeClient()).info.containerRuntime.host;
  // Fixed host ports (picked free) so the advertised listener is known before start and a
  // stopped container comes back on the same address.
  const [kafkaPort = 0, clickhousePort = 0] = await freePorts(2);
  log(`starting ${KAFKA_IMAGE} and ${CLICKHOUSE_IMAGE}`);
  const [kafka, clickhouse] = await Promise.all([
    new GenericContainer(KAFKA_IMAGE)
      .withExposedPorts({ container: kafkaPort, host: kafkaPort })
      .withEnvironment({
        KAFKA_NODE_ID: '1',
        KAFKA_PROCESS_ROLES: 'broker,controller',
        KAFKA_LISTENERS: `PLAINTEXT://0.0.0.0:${kafkaPort},CONTROLLER://0.0.0.0:9093`,
        KAFKA_ADVERTISED_LISTENERS: `PLAINTEXT://${host}:${kafkaPort}`,
        KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
        KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
        KAFKA_CONTROLLER_QUORUM_VOTERS: '1@localhost:9093',
        KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
        KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS: '3',
        KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
        KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR: '1',
        KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR: '1',
        KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
        KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'false',
      })
      .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
      .withStartupTimeout(120_000)
      .start(),
    new GenericContainer(CLICKHOUSE_IMAGE)
      .withExposedPorts({ container: 8123, host: clickhousePort })
      // Keep the image's entrypoint from locking `default` to localhost: we add users ourselves.
      .withEnvironment({ CLICKHOUSE_SKIP_USER_SETUP: '1' })
      .withCopyFilesToContainer([
        { source: path.join(clickhouseConfigDir, 'docker-users.xml'), target: '/etc/clickhouse-server/users.d/sitrep.xml' },
      ])
      .withWaitStrategy(Wait.forHttp('/ping', 8123).forStatusCode(200))
      .withStartupTimeout(120_000)
      .start(),
  ]);
  return {
    kafkaBrokers: [`${host}:${kafkaPort}`],
    clickhouseUrl: `http://${host}:${clickhousePort}`,
    kafka,
    clickhouse,
  };
}

/** Stops a container without removing it, so `docker start` brings back its data and ports. */
export function dockerStop(container: StartedTestContainer): void {
  docker(['stop', '-t', '20', container.getId()]);
}

export function dockerStart(container: StartedTestContainer): void {
  docker(['start', container.getId()]);
}

function docker(args: string[]): void {
  const r = spawnSync('docker', args, { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`docker ${args.join(' ')} failed: ${r.stderr || r.error?.message}`);
}
