// Where the local stack keeps things and which ports it uses: every environment variable the
// stack reads is parsed here, once, so a bad value fails early and names the key.
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { z } from 'zod';

/** Repository root, found from this file's place in deploy/local/dist. */
export const repoDir = fileURLToPath(new URL('../../../', import.meta.url));
export const localDir = path.join(repoDir, 'deploy', 'local');
export const clickhouseConfigDir = path.join(repoDir, 'deploy', 'clickhouse');

const port = (fallback: number) => z.coerce.number().int().min(1).max(65535).default(fallback);
const optionalString = z.string().trim().optional().transform((s) => (s ? s : undefined));

const schema = z.object({
  SITREP_CACHE_DIR: optionalString,
  /** auto follows the ladder; the others force one rung (e.g. local processes on a Docker machine). */
  SITREP_STACK: z.enum(['auto', 'env', 'containers', 'local']).default('auto'),
  KAFKA_BROKERS: optionalString,
  CLICKHOUSE_URL: optionalString,
  // Ports and data dir of `purpose: 'run'`; tests always take free ports and a temp dir.
  SITREP_KAFKA_PORT: port(19092),
  SITREP_KAFKA_CONTROLLER_PORT: port(19093),
  SITREP_CLICKHOUSE_HTTP_PORT: port(18123),
  SITREP_CLICKHOUSE_TCP_PORT: port(19000),
  SITREP_RUN_DATA_DIR: optionalString,
  CI: z.string().optional().transform((v) => v === 'true' || v === '1'),
});

export interface StackSettings {
  cacheDir: string;
  stack: 'auto' | 'env' | 'containers' | 'local';
  kafkaBrokers: string | undefined;
  clickhouseUrl: string | undefined;
  runPorts: { kafka: number; kafkaController: number; clickhouseHttp: number; clickhouseTcp: number };
  runDataDir: string;
  ci: boolean;
}

export function readSettings(env: NodeJS.ProcessEnv = process.env): StackSettings {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid local stack settings:\n${lines.join('\n')}`);
  }
  const s = parsed.data;
  const cacheDir = path.resolve(s.SITREP_CACHE_DIR ?? path.join(repoDir, '.cache'));
  return {
    cacheDir,
    stack: s.SITREP_STACK,
    kafkaBrokers: s.KAFKA_BROKERS,
    clickhouseUrl: s.CLICKHOUSE_URL,
    runPorts: {
      kafka: s.SITREP_KAFKA_PORT,
      kafkaController: s.SITREP_KAFKA_CONTROLLER_PORT,
      clickhouseHttp: s.SITREP_CLICKHOUSE_HTTP_PORT,
      clickhouseTcp: s.SITREP_CLICKHOUSE_TCP_PORT,
    },
    runDataDir: path.resolve(s.SITREP_RUN_DATA_DIR ?? path.join(cacheDir, 'run-data')),
    ci: s.CI,
  };
}
