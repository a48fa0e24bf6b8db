// ClickHouse writes for the aggregator: one INSERT per table per batch, retried with backoff while
// ClickHouse is unavailable. Safe to retry and to redo after a crash: every row is versioned by its
// Kafka offset in a ReplacingMergeTree, so writing it twice changes nothing.
import { Readable } from 'node:stream';
import { ClickHouseLogLevel, createClient, type ClickHouseClient, type Logger as ClientLogger } from '@clickhouse/client';
import type { Logger } from '@sitrep/shared/log';
import { COLUMNS, type Row, type Table } from './transform.js';
import type { Metrics } from './metrics.js';

export interface ClickHouseOptions {
  url: string;
  username: string;
  password: string;
  /** Default 30 s; migrations take longer (MIGRATION_TIMEOUT_MS). */
  requestTimeoutMs?: number;
  /** The client's own warnings and errors go here, as structured events (its default logger prints to stderr). */
  log: Logger;
}

/** What of the client's arguments is logged: not the query, which can be megabytes of subject lists. */
const ids = (args: Record<string, unknown> | undefined) => ({ operation: args?.operation, query_id: args?.query_id });

/** The client's logger, writing into ours. The client constructs it itself, hence a class per call. */
function clientLogger(log: Logger): new () => ClientLogger {
  return class implements ClientLogger {
    trace() {}
    debug() {}
    info() {}
    warn({ module, message, args, err }: Parameters<ClientLogger['warn']>[0]) {
      log.warn({ module, ...ids(args), err: err?.message }, `clickhouse_client: ${message}`);
    }
    error({ module, message, args, err }: Parameters<ClientLogger['error']>[0]) {
      // The failed call is also rejected to its caller, which retries and logs it: warn, not error.
      log.warn({ module, ...ids(args), err: err.message }, `clickhouse_client: ${message}`);
    }
  };
}

export function createClickHouse(o: ClickHouseOptions): ClickHouseClient {
  return createClient({
    url: o.url,
    username: o.username,
    password: o.password,
    request_timeout: o.requestTimeoutMs ?? 30_000,
    log: { LoggerClass: clientLogger(o.log), level: ClickHouseLogLevel.WARN },
    // A long computation (a month slice's cells) can hold the event loop past the idle-socket timer;
    // without this, the next request reuses a socket ClickHouse has closed and fails with EPIPE.
    keep_alive: { eagerly_destroy_stale_sockets: true },
    // NOTE: 18.16 cannot take settings in an INSERT's SETTINGS clause; URL parameters work on both.
    // A batch's series recomputation lists its subjects in the query: up to a few MB (default 256 KiB).
    clickhouse_settings: { input_format_skip_unknown_fields: 0, max_query_size: '16777216' },
  });
}

export class Writer {
  private healthy = true;

  constructor(
    readonly client: ClickHouseClient,
    readonly db: string,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {}

  /** False from a failed write or ping until the next successful one. */
  isHealthy(): boolean {
    return this.healthy;
  }

  async ping(): Promise<boolean> {
    try {
      const r = await this.client.ping();
      this.healthy = r.success;
    } catch {
      this.healthy = false;
    }
    return this.healthy;
  }

  /**
   * Writes every table's rows; returns only when ClickHouse acknowledged all of them, or throws
   * `aborted` when `keepTrying()` turns false (shutdown or lost partition: the next owner redoes it).
   */
  async write(rows: Map<Table, Row[]>, keepTrying: () => Promise<boolean>): Promise<void> {
    for (const [table, values] of rows) {
      if (values.length === 0) continue;
      const started = performance.now();
      await this.retrying(
        `insert ${table}`,
        // A stream, not the array: the client then encodes rows as the socket takes them, so
        // ClickHouse parses while the rest is encoded, instead of waiting for one string of the
        // whole batch (~30 MB for 7,500 reports). bench:aggregator: +22 % rows in, +12 % drain.
        () => this.client.insert({ table: `${this.db}.${table}`, values: Readable.from(values), format: 'JSONEachRow', columns: COLUMNS[table] as [string, ...string[]] }),
        keepTrying,
      );
      this.metrics.writeDuration.observe({ table }, performance.now() - started);
      this.metrics.rowsWritten.inc({ table }, values.length);
    }
  }

  /**
   * Runs a ClickHouse step until it succeeds, with backoff, marking ClickHouse unhealthy meanwhile.
   * Only for idempotent steps: every write here is versioned or derived, so a retry is harmless.
   */
  async retrying<T>(step: string, work: () => Promise<T>, keepTrying: () => Promise<boolean>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        const result = await work();
        this.healthy = true;
        return result;
      } catch (err) {
        // Not ClickHouse's failure: the step was abandoned, or the Kafka group is rebalancing.
        if ((err as Error).message.startsWith('aborted:') || (err as Error).name?.startsWith('KafkaJS')) throw err;
        this.healthy = false;
        this.metrics.writeErrors.inc({ table: step });
        const delay = Math.min(5000, 200 * 2 ** Math.min(attempt, 5));
        this.log.warn({ err: (err as Error).message, step, attempt, delayMs: delay }, 'clickhouse_step_failed');
        await new Promise((r) => setTimeout(r, delay));
        if (!(await keepTrying())) throw new Error('aborted: abandoned, offsets not committed');
      }
    }
  }
}
