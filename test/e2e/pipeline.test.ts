// The walking skeleton end to end on the real stack: a SANER example report posted to ingest shows
// up in ClickHouse; with ClickHouse down reports still get 201, wait in Kafka and all arrive once
// it is back, with no restart of the services.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { clickhouse, dropTestDatabase, isolation, query, startClickHouse, stopClickHouse } from '../helpers/stack.js';
import { serviceEnv, startAggregator, startIngest, type RunningService } from '../helpers/services.js';
import { fixture } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/wait.js';
import { putResource } from '../simulator/post.js';

const iso = isolation('pipeline');
const env = serviceEnv(iso);
const ch = clickhouse();
let ingest: RunningService;
let aggregator: RunningService;

const NHSN = 'http://hl7.org/fhir/uv/saner/Measure/CDCPatientImpactAndHospitalCapacity';
const report = (day: string) => fixture<Record<string, unknown>>(`saner/measure-reports/ExampleNJ-${day}-CDCPatientImpactAndHospitalCapacity.json`);

before(async () => {
  ingest = await startIngest(env);
  aggregator = await startAggregator(env);
  assert.equal(await putResource(ingest.url, fixture('saner/measures/CDCPatientImpactAndHospitalCapacity.json') as never), 201);
});

after(async () => {
  await startClickHouse().catch(() => undefined);
  await Promise.all([ingest?.stop(), aggregator?.stop()]);
  await dropTestDatabase(ch, iso.database).catch(() => undefined);
  await ch.close();
});

async function post(body: unknown) {
  const res = await fetch(`${ingest.url}/MeasureReport`, { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

test('a posted report reaches sitrep.rollups within 5 s', async () => {
  const r = report('20200404');
  const posted = Date.now();
  const res = await post(r);
  assert.equal(res.status, 201);
  assert.match(res.headers.get('location') ?? '', /\/MeasureReport\/[a-f0-9]{40}\/_history\/\d+$/);
  const rows = await waitFor(
    () => query<{ value: number; subjects_reporting: string }>(ch, `SELECT value, subjects_reporting FROM ${iso.database}.rollups
      WHERE measure = '${NHSN}' AND population_code = 'numTotBeds' AND region_type = 'state' AND region = 'US-NJ' AND grain = 'day' AND period_start = '2020-04-04 00:00:00'`),
    (rows) => rows.length === 1,
    { timeoutMs: 5000, intervalMs: 100, what: 'the NJ rollup row' },
  );
  assert.ok(Date.now() - posted < 5000);
  assert.deepEqual(rows, [{ value: 20000, subjects_reporting: '1' }]);
});

test('ClickHouse down: not ready within 10 s, reports still accepted, all arrive after it returns', { timeout: 120_000 }, async () => {
  await stopClickHouse();
  const stoppedAt = Date.now();
  await waitFor(() => fetch(`${aggregator.url}/readyz`).then((r) => r.status), (s) => s === 503, { timeoutMs: 10_000, what: 'aggregator not ready' });
  assert.ok(Date.now() - stoppedAt <= 10_000);

  const days = ['20200405', '20200406', '20200407', '20200408', '20200409', '20200410'];
  for (const day of days) assert.equal((await post(report(day))).status, 201);
  // A correction of one of them while ClickHouse is still down: the later version must win.
  const corrected = report('20200410') as { group: { population: { count?: number }[] }[] };
  corrected.group[0]!.population[0]!.count = 12345;
  assert.equal((await post(corrected)).status, 200);

  await startClickHouse();
  await waitFor(() => fetch(`${aggregator.url}/readyz`).then((r) => r.status), (s) => s === 200, { timeoutMs: 30_000, what: 'aggregator ready again' });
  const expected = ['20200404', ...days].map((d) => ({
    period_start: `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6)} 00:00:00`,
    value: d === '20200410' ? 12345 : (report(d) as { group: { population: { count: number }[] }[] }).group[0]!.population[0]!.count,
  }));
  // Eventually consistent: the corrected day may first show its first version, then the correction.
  const rows = await waitFor(
    () => query<{ period_start: string; value: number }>(ch, `SELECT period_start, value FROM ${iso.database}.rollups
      WHERE measure = '${NHSN}' AND population_code = 'numTotBeds' AND region = 'US-NJ' AND grain = 'day' ORDER BY period_start`),
    (rows) => isDeepStrictEqual(rows, expected),
    { timeoutMs: 30_000, intervalMs: 250, what: 'all seven days in rollups, the correction included' },
  ).catch(() => query<{ period_start: string; value: number }>(ch, `SELECT period_start, value FROM ${iso.database}.rollups
      WHERE measure = '${NHSN}' AND population_code = 'numTotBeds' AND region = 'US-NJ' AND grain = 'day' ORDER BY period_start`));
  assert.deepEqual(rows, expected);
  const [count] = await query<{ n: string }>(ch, `SELECT count() AS n FROM ${iso.database}.reports_latest`);
  assert.equal(count?.n, '7');
});
