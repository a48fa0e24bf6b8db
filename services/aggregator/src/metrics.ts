// Aggregator metrics (Prometheus text on GET /metrics). Names carry their units.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    lag: new Gauge({ name: 'aggregator_consumer_lag_messages', help: 'High watermark minus next offset, per partition', labelNames: ['topic', 'partition'], registers: [registry] }),
    batchSize: new Histogram({ name: 'aggregator_batch_size_messages', help: 'Messages per processed batch', buckets: [1, 10, 50, 100, 500, 1000, 5000, 20000], registers: [registry] }),
    writeDuration: new Histogram({ name: 'aggregator_write_duration_ms', help: 'ClickHouse INSERT latency', labelNames: ['table'], buckets: [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10000], registers: [registry] }),
    recomputeDuration: new Histogram({ name: 'aggregator_recompute_duration_ms', help: 'Rollup recomputation latency: series cells after a batch, or region cells of a batch of slices', labelNames: ['level'], buckets: [10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000], registers: [registry] }),
    rowsWritten: new Counter({ name: 'aggregator_rows_written_total', help: 'Rows acknowledged by ClickHouse', labelNames: ['table'], registers: [registry] }),
    writeErrors: new Counter({ name: 'aggregator_write_errors_total', help: 'Failed ClickHouse INSERT attempts', labelNames: ['table'], registers: [registry] }),
    deadLettered: new Counter({ name: 'aggregator_dead_lettered_total', help: 'Records sent to the dead-letter topic', labelNames: ['step'], registers: [registry] }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
