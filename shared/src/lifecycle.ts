// Service lifecycle: start-up steps retried until their dependency answers, and graceful shutdown
// (close steps run once, in the order registered, on SIGTERM or SIGINT).
import type { Logger } from './log.js';

export type CloseStep = { name: string; close: () => Promise<void> };

export function onShutdown(log: Logger, steps: CloseStep[], timeoutMs = 15_000): () => Promise<void> {
  let closing: Promise<void> | undefined;
  const shutdown = () =>
    (closing ??= (async () => {
      const timer = setTimeout(() => {
        log.error({ timeoutMs }, 'shutdown_timeout');
        process.exit(1);
      }, timeoutMs);
      timer.unref();
      for (const step of steps) {
        try {
          await step.close();
          log.info({ step: step.name }, 'shutdown_step_done');
        } catch (err) {
          log.error({ err, step: step.name }, 'shutdown_step_failed');
        }
      }
      clearTimeout(timer);
    })());
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      log.info({ signal }, 'shutdown_requested');
      void shutdown().then(() => process.exit(0));
    });
  }
  return shutdown;
}

/**
 * Runs a start-up step until it succeeds, with a growing pause: Kafka or ClickHouse may still be
 * starting, and a service should wait for them rather than crash-loop.
 */
export async function retryUntilDone<T>(log: Logger, step: string, work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      log.warn({ err: (err as Error).message, step, attempt }, 'startup_step_failed');
      await new Promise((r) => setTimeout(r, Math.min(5000, 250 * attempt)));
    }
  }
}
