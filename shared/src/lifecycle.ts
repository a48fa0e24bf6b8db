// Graceful shutdown: close steps run once, in the order registered, on SIGTERM or SIGINT.
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
