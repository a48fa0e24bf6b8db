// What the benchmarks share: the stack (from the environment, else provisioned like the tests),
// an isolated namespace, percentiles and a line format that prints numbers.
import { provisionStack, type Stack } from '@sitrep/local-stack/stack';

export async function benchStack(): Promise<Stack> {
  const stack = await provisionStack({ purpose: 'test', log: (m) => console.error(`[stack] ${m}`) });
  process.env.KAFKA_BROKERS = stack.kafkaBrokers.join(',');
  process.env.CLICKHOUSE_URL = stack.clickhouseUrl;
  return stack;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
