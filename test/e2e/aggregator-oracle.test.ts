// The aggregator's exactness, end to end through the real pipeline: 200+ facilities in 3 states,
// 14 days, 20 % corrections and 10 % exact duplicates, two aggregators in one group, one of them
// killed with SIGKILL half way and restarted. Every rollup row must equal the oracle's.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { MeasureReport } from 'fhir/r4.js';
import { businessKey, businessKeyString } from '@sitrep/shared/fhir/identity';
import { facilities, inOffset, scenario, simMeasure, SIM_MEASURE_URL } from '../simulator/generate.js';
import { postReports, putResource } from '../simulator/post.js';
import { clickhouse, dropTestDatabase, isolation, query } from '../helpers/stack.js';
import { serviceEnv, startAggregator, startIngest, type RunningService } from '../helpers/services.js';
import { compareRollups, expectedRollups, lastVersions, oracleMeasureOf, type RollupRow } from '../helpers/oracle.js';
import { waitFor } from '../helpers/wait.js';

const iso = isolation('oracle');
const env = serviceEnv(iso);
const ch = clickhouse();
const running: RunningService[] = [];

before(async () => {
  running.push(await startIngest(env), await startAggregator(env), await startAggregator(env));
});

after(async () => {
  await Promise.all(running.map((s) => s.stop()));
  await dropTestDatabase(ch, iso.database);
  await ch.close();
});

test('every rollup row equals the oracle after corrections, duplicates, two consumers and a kill -9', { timeout: 240_000 }, async () => {
  const [ingest, aggregatorA] = running as [RunningService, RunningService, RunningService];
  const measure = simMeasure(10);
  const fac = facilities(210, { states: 3, seed: 7 });
  // One subject is a region itself (New Jersey by FIPS code): it counts in its state like any other.
  const subjects = [...fac.map((f) => f.key), 'https://www.census.gov/geographies|34'];
  // 26 March to 8 April: the ISO week of Monday 30 March holds days of two months, so its cells and
  // both months' combine different days of the same series.
  const generated = scenario({ measure, subjects, days: 14, startDate: '2020-03-26', correctionShare: 0.22, duplicateShare: 0.12, seed: 11 });
  // Twists the two-level rollups must survive: corrections that mark a report entered in error (its
  // bucket must empty), drop a population (a new layout) or move it to the day before (the same
  // instants in another UTC offset), and a second, half-day report for some series-days (several
  // reports in one bucket, often on different partitions).
  const sends = generated.flatMap((s, i): typeof generated => {
    if (s.kind === 'correction' && i % 23 === 0) return [{ ...s, report: { ...s.report, status: 'error' } }];
    if (s.kind === 'correction' && i % 23 === 1) {
      const fewer = structuredClone(s.report);
      fewer.group![0]!.population!.pop();
      return [{ ...s, report: fewer }];
    }
    if (s.kind === 'correction' && i % 23 === 2) {
      // The same instants written an hour further west: the report moves to the day before.
      const west = structuredClone(s.report);
      west.period = { start: inOffset(s.report.period!.start!, '-06:00'), end: inOffset(s.report.period!.end!, '-06:00') };
      return [{ ...s, report: west }];
    }
    if (s.kind === 'original' && i % 19 === 0) {
      const afternoon = structuredClone(s.report);
      afternoon.period = { start: s.report.period!.start!.replace('T00:00:00', 'T12:00:00'), end: s.report.period!.end! };
      return [s, { kind: 'original', report: afternoon }];
    }
    return [s];
  });
  const twists = sends.length - generated.length;
  assert.ok(twists > 20 && sends.some((s) => s.report.status === 'error'), `${twists} half-day reports`);
  const moved = sends.filter((s) => s.report.period!.start!.endsWith('-06:00')).length;
  assert.ok(moved >= 10, `${moved} corrections that move to the day before`);
  const corrections = sends.filter((s) => s.kind === 'correction').length;
  const duplicates = sends.filter((s) => s.kind === 'duplicate').length;
  const originals = sends.length - corrections - duplicates;
  assert.ok(corrections / originals >= 0.2 && duplicates / originals >= 0.1, `shares: ${corrections} corrections, ${duplicates} duplicates of ${originals}`);

  assert.equal(await putResource(ingest.url, measure as never), 201);
  // Locations of all but the last 5 facilities: those stay 'unresolved'.
  for (const f of fac.slice(0, -5)) assert.equal(await putResource(ingest.url, f.location as never), 201);

  let killed = false;
  const t0 = Date.now();
  const results = await postReports(ingest.url, sends.map((s) => s.report), {
    concurrency: 16,
    onProgress: async (done) => {
      if (!killed && done >= sends.length / 2) {
        killed = true;
        await aggregatorA.kill9();
        running[1] = await startAggregator(env);
      }
    },
  });
  assert.ok(killed);
  console.log(`posted ${sends.length} reports (${originals} originals, ${corrections} corrections, ${duplicates} duplicates) in ${Date.now() - t0} ms`);
  assert.deepEqual(results.filter((r) => r.status !== 200 && r.status !== 201), []);

  const keyOf = (r: MeasureReport) => businessKeyString(businessKey(r));
  const latest = lastVersions(sends.map((s) => s.report), keyOf);
  const located = new Map(fac.slice(0, -5).map((f) => [f.key, f]));
  const oracleMeasure = oracleMeasureOf(measure);
  const expected = expectedRollups(latest, [oracleMeasure], (subject) => {
    if (subject === 'https://www.census.gov/geographies|34') return [['state', 'US-NJ'], ['country', 'US'], ['all', 'all']];
    const f = located.get(subject);
    if (!f) return [['facility', subject], ['unresolved', 'unresolved'], ['all', 'all']];
    return [['facility', subject], ['county', `US-${f.state}/${f.county}`], ['state', `US-${f.state}`], ['country', 'US'], ['all', 'all']];
  });
  assert.ok(expected.size > 10_000, `oracle has ${expected.size} rows`);

  await waitFor(
    () => query<{ n: string }>(ch, `SELECT count() AS n FROM ${iso.database}.reports_latest`),
    (rows) => Number(rows[0]?.n) === latest.length,
    { timeoutMs: 90_000, intervalMs: 500, what: `${latest.length} reports in reports_latest` },
  );
  console.log(`all ${latest.length} reports in ClickHouse ${Date.now() - t0} ms after the first post`);
  let problems: string[] = [];
  await waitFor(
    async () => {
      const rows = await query<RollupRow>(ch, `SELECT * FROM ${iso.database}.rollups WHERE measure = '${SIM_MEASURE_URL}'`);
      problems = compareRollups(rows, expected);
      return problems.length;
    },
    (n) => n === 0,
    { timeoutMs: 60_000, intervalMs: 1000, what: 'rollups equal to the oracle' },
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${problems.slice(0, 20).join('\n')}`);
  });
  console.log(`${expected.size} rollup rows equal to the oracle ${Date.now() - t0} ms after the first post`);
});
