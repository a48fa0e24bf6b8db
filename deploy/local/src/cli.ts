// `node deploy/local/dist/cli.js up`: Kafka and ClickHouse alone (no services) in the foreground,
// for running a service from an editor or debugger against the same endpoints `npm start` uses.
import { provisionStack, type Stack } from './stack.js';

const say = (msg: string) => process.stdout.write(`[stack] ${msg}\n`);

let stopping = false;

async function up(): Promise<void> {
  const abort = new AbortController();
  let provisioning: Promise<Stack> | undefined;
  const stop = async (signal: string) => {
    if (stopping) return; // npm forwards the terminal's signal too; one stop is enough.
    stopping = true;
    say(`${signal}: stopping`);
    abort.abort();
    const stack = await provisioning?.catch(() => undefined);
    await stack?.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  provisioning = provisionStack({ purpose: 'run', log: say, signal: abort.signal });
  const stack = await provisioning;
  process.stdout.write(
    [
      `KAFKA_BROKERS=${stack.kafkaBrokers.join(',')}`,
      `CLICKHOUSE_URL=${stack.clickhouseUrl}`,
      ...(stack.runDir ? [`# data and logs: ${stack.runDir}`] : []),
      '# Ctrl-C stops both.',
      '',
    ].join('\n'),
  );
  // The child processes keep the event loop alive; the signal handlers end it.
}

const command = process.argv[2];
if (command === 'up') {
  up().catch((err: unknown) => {
    if (stopping) return; // Ctrl-C during the start: stop() owns the exit.
    process.stderr.write(`[stack] ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
} else {
  process.stderr.write('usage: node deploy/local/dist/cli.js up\n');
  process.exit(2);
}
