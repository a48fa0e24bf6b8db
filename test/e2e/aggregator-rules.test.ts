// Aggregation rules through the real pipeline: a Location that arrives after its reports moves the
// rollups from 'unresolved' to its county and state; point-in-time versus count over a week; scores
// recomputed from the aggregated populations; a
// correction that moves a report to another day (same instants, another UTC offset); ClickHouse
// stopped and started in the middle of a stream loses nothing and counts nothing twice.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import type { MeasureReport } from 'fhir/r4.js';
import { businessKey, businessKeyString } from '@sitrep/shared/fhir/identity';
import { facilities, scenario, simMeasure, SIM_MEASURE_URL } from '../simulator/generate.js';
import { postReports, putResource } from '../simulator/post.js';
import { clickhouse, dropTestDatabase, isolation, query, startClickHouse, stopClickHouse } from '../helpers/stack.js';
import { serviceEnv, startAggregator, startIngest, type RunningService } from '../helpers/services.js';
import { compareRollups, expectedRollups, lastVersions, oracleMeasureOf, type RollupRow } from '../helpers/oracle.js';
import { waitFor } from '../helpers/wait.js';

const iso = isolation('rules');
const env = serviceEnv(iso);
const ch = clickhouse();
let ingest: RunningService;
let aggregator: RunningService;
const measure = simMeasure(3);

before(async () => {
  ingest = await startIngest(env);
  aggregator = await startAggregator(env);
  assert.equal(await putResource(ingest.url, measure as never), 201);
});

after(async () => {
  await startClickHouse().catch(() => undefined);
  await Promise.all([ingest?.stop(), aggregator?.stop()]);
  await dropTestDatabase(ch, iso.database).catch(() => undefined);
  await ch.close();
});

const rollup = (where: string) =>
  query<{ region_type: string; region: string; value: number; subjects_reporting: string }>(
    ch,
    `SELECT region_type, region, value, subjects_reporting FROM ${iso.database}.rollups WHERE measure = '${SIM_MEASURE_URL}' AND ${where} ORDER BY region_type, region`,
  );

/** Waits until every rollup row with period_start in [from, to) equals the oracle's; fails naming the differences. */
async function untilOracle(expected: Map<string, RollupRow>, [from, to]: [string, string], o: { timeoutMs: number; intervalMs?: number; what: string }): Promise<void> {
  let problems: string[] = [];
  await waitFor(
    async () => {
      const rows = await query<RollupRow>(ch, `SELECT * FROM ${iso.database}.rollups WHERE measure = '${SIM_MEASURE_URL}' AND period_start >= '${from} 00:00:00' AND period_start < '${to} 00:00:00'`);
      problems = compareRollups(rows, expected);
      return problems.length;
    },
    (n) => n === 0,
    o,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${problems.slice(0, 20).join('\n')}`);
  });
}

function report(subject: string, day: string, beds: number, admissions: number): MeasureReport {
  const [r] = scenario({ measure, subjects: [subject], days: 1, startDate: day, correctionShare: 0, duplicateShare: 0, absentShare: 0 });
  const rep = structuredClone(r!.report);
  rep.group![0]!.population![0]!.count = beds; // Beds: point-in-time
  rep.group![1]!.population![0]!.count = admissions; // Admissions: count
  return rep;
}

test('a Location that arrives after its reports moves the rollups from unresolved to its county and state', { timeout: 60_000 }, async () => {
  const [f] = facilities(1, { states: 1, seed: 99 }).map((x) => ({ ...x, key: x.key.replace('F00001', 'LATE1') }));
  const location = { ...f!.location, id: 'loc-late1', identifier: [{ system: f!.key.split('|')[0]!, value: 'LATE1' }] };
  const results = await postReports(ingest.url, [report(f!.key, '2020-05-04', 10, 1)]);
  assert.equal(results[0]!.status, 201);
  const where = `population_code = 'bedsPop0' AND grain = 'day' AND period_start = '2020-05-04 00:00:00'`;
  const before = await waitFor(() => rollup(where), (rows) => rows.length === 3, { what: 'unresolved rows' });
  assert.deepEqual(before.map((r) => [r.region_type, r.region, r.value]), [
    ['all', 'all', 10],
    ['facility', f!.key, 10],
    ['unresolved', 'unresolved', 10],
  ]);
  assert.equal(await putResource(ingest.url, location as never), 201);
  const after = await waitFor(() => rollup(where), (rows) => rows.length === 5, { what: 'resolved rows' });
  assert.deepEqual(after.map((r) => [r.region_type, r.region, r.value]), [
    ['all', 'all', 10],
    ['country', 'US', 10],
    ['county', `US-${f!.state}/${f!.county}`, 10],
    ['facility', f!.key, 10],
    ['state', `US-${f!.state}`, 10],
  ]);
});

test('over a week, point-in-time takes the latest day and count sums the days; across subjects both sum', { timeout: 60_000 }, async () => {
  const [a, b] = facilities(2, { states: 1, seed: 5 }).map((x, i) => ({ ...x, key: x.key.replace(x.id, `WEEK${i}`), location: { ...x.location, id: `loc-week${i}`, identifier: [{ system: x.key.split('|')[0]!, value: `WEEK${i}` }] } }));
  for (const f of [a!, b!]) assert.equal(await putResource(ingest.url, f.location as never), 201);
  // Week of Monday 2020-06-01; facility A reports 7 days, B only Monday and Wednesday.
  const days = ['2020-06-01', '2020-06-02', '2020-06-03', '2020-06-04', '2020-06-05', '2020-06-06', '2020-06-07'];
  const reports = [
    ...days.map((d, i) => report(a!.key, d, 100 + i, i + 1)),
    report(b!.key, '2020-06-01', 50, 5),
    report(b!.key, '2020-06-03', 40, 7),
  ];
  assert.ok((await postReports(ingest.url, reports)).every((r) => r.status === 201));
  const week = (pop: string) => `population_code = '${pop}' AND grain = 'week' AND period_start = '2020-06-01 00:00:00' AND region_type IN ('facility', 'state')`;
  // Rollups are eventually consistent: wait until the last day's report is in, then compare.
  // A: its latest day (Sunday) 106; B: the latest day it reported (Wednesday) 40; the state: 146.
  const expectBeds = new Map([[a!.key, [106, '1']], [b!.key, [40, '1']], [`US-${a!.state}`, [146, '2']]]);
  // A: 1+2+...+7 = 28; B: 5+7 = 12; the state: 40.
  const expectAdmissions = new Map([[a!.key, 28], [b!.key, 12], [`US-${a!.state}`, 40]]);
  const asMap = (rows: Awaited<ReturnType<typeof rollup>>) => new Map(rows.map((r) => [r.region, [r.value, r.subjects_reporting]]));
  const beds = await waitFor(() => rollup(week('bedsPop0')), (rows) => isDeepStrictEqual(asMap(rows), expectBeds), { what: 'point-in-time week' }).catch(() => rollup(week('bedsPop0')));
  assert.deepEqual(asMap(beds), expectBeds);
  const adm = await waitFor(() => rollup(week('admissionsPop0')), (rows) => rows.length === 3 && rows.every((r) => expectAdmissions.get(r.region) === r.value), { what: 'count week' }).catch(() => rollup(week('admissionsPop0')));
  assert.deepEqual(new Map(adm.map((r) => [r.region, r.value])), expectAdmissions);
});

test("a group's score is recomputed from the aggregated populations at every level, never averaged, and follows corrections", { timeout: 60_000 }, async () => {
  const [a, b] = facilities(2, { states: 1, seed: 6 }).map((x, i) => ({ ...x, key: x.key.replace(x.id, `SCORE${i}`), location: { ...x.location, id: `loc-score${i}`, identifier: [{ system: x.key.split('|')[0]!, value: `SCORE${i}` }] } }));
  for (const f of [a!, b!]) assert.equal(await putResource(ingest.url, f.location as never), 201);
  // Beds (point-in-time) of the simulator Measure: population 0 the denominator (total), 1 the numerator (occupied), 2 a denominator exclusion.
  const beds = (subject: string, day: string, total: number, occupied: number, excluded: number) => {
    const r = report(subject, day, total, 0);
    r.group![0]!.population![1]!.count = occupied;
    r.group![0]!.population![2]!.count = excluded;
    return r;
  };
  // Week of Monday 2020-06-08. A: 1 of 2 beds on Monday, 3 of 4 on Tuesday (its week: the latest, 3/4). B: 90 of 100 on Monday, 2 excluded.
  assert.ok((await postReports(ingest.url, [beds(a!.key, '2020-06-08', 2, 1, 0), beds(a!.key, '2020-06-09', 4, 3, 0), beds(b!.key, '2020-06-08', 100, 90, 2)])).every((r) => r.status === 201));
  const scores = (grain: string) =>
    `group_code = 'Beds' AND population_code = 'measureScore' AND grain = '${grain}' AND period_start = '2020-06-08 00:00:00' AND region_type IN ('facility', 'state')`;
  const asMap = (rows: Awaited<ReturnType<typeof rollup>>) => new Map(rows.map((r) => [r.region, r.value]));
  const state = `US-${a!.state}`;
  // The state's day: (1 + 90) / (2 + 100 - 2), where the average of its facilities' scores would be 0.709.
  const day = new Map([[a!.key, 1 / 2], [b!.key, 90 / 98], [state, 91 / 100]]);
  assert.deepEqual(asMap(await waitFor(() => rollup(scores('day')), (rows) => isDeepStrictEqual(asMap(rows), day), { what: 'day scores' }).catch(() => rollup(scores('day')))), day);
  const week = new Map([[a!.key, 3 / 4], [b!.key, 90 / 98], [state, 93 / 102]]);
  assert.deepEqual(asMap(await waitFor(() => rollup(scores('week')), (rows) => isDeepStrictEqual(asMap(rows), week), { what: 'week scores' }).catch(() => rollup(scores('week')))), week);
  // B corrects Monday to 40 occupied: every level follows.
  assert.equal((await postReports(ingest.url, [beds(b!.key, '2020-06-08', 100, 40, 2)]))[0]!.status, 200);
  const corrected = new Map([[a!.key, 3 / 4], [b!.key, 40 / 98], [state, 43 / 102]]);
  assert.deepEqual(asMap(await waitFor(() => rollup(scores('week')), (rows) => isDeepStrictEqual(asMap(rows), corrected), { what: 'corrected week scores' }).catch(() => rollup(scores('week')))), corrected);
  // The Measure registered again without Beds' roles: no score is left at any level; with them again, the scores return.
  const unscored = structuredClone(measure);
  for (const p of unscored.group![0]!.population!) p.code!.coding = p.code!.coding!.slice(0, 1);
  assert.equal(await putResource(ingest.url, unscored as never), 200);
  await waitFor(() => rollup(scores('week')), (rows) => rows.length === 0, { what: 'no Beds scores after the roles were removed' });
  assert.equal(await putResource(ingest.url, measure as never), 200);
  await waitFor(() => rollup(scores('week')), (rows) => isDeepStrictEqual(asMap(rows), corrected), { what: 'Beds scores back with the roles' });
});

test('a correction that writes period.start in another UTC offset moves the report to its new day, out of the day it left', { timeout: 90_000 }, async () => {
  const [f] = facilities(1, { states: 1, seed: 12 }).map((x) => ({ ...x, key: x.key.replace(x.id, 'OFFSET1'), location: { ...x.location, id: 'loc-offset1', identifier: [{ system: x.key.split('|')[0]!, value: 'OFFSET1' }] } }));
  assert.equal(await putResource(ingest.url, f!.location as never), 201);
  // One report in three versions, all for the same instants: Wednesday 2020-09-16 as written at
  // -05:00, Thursday the 17th as written in UTC, then Wednesday again. Same week, same month.
  const at = (start: string, end: string, beds: number, admissions: number) => ({ ...report(f!.key, '2020-09-16', beds, admissions), period: { start, end } });
  const wednesday = ['2020-09-16T20:00:00-05:00', '2020-09-17T19:59:59-05:00'] as const;
  const thursday = ['2020-09-17T01:00:00Z', '2020-09-18T00:59:59Z'] as const;
  const versions = [at(...wednesday, 10, 5), at(...thursday, 20, 7), at(...wednesday, 30, 9)];
  const chain = (s: string): [string, string][] => [['facility', s], ['county', `US-${f!.state}/${f!.county}`], ['state', `US-${f!.state}`], ['country', 'US'], ['all', 'all']];
  const keyOf = (r: MeasureReport) => businessKeyString(businessKey(r));
  for (const [i, v] of versions.entries()) {
    const [result] = await postReports(ingest.url, [v]);
    assert.equal(result!.status, i === 0 ? 201 : 200, 'every version is the same report');
    const expected = expectedRollups(lastVersions(versions.slice(0, i + 1), keyOf), [oracleMeasureOf(measure)], chain);
    // Only this test posts reports from 2020-08-31 (the week that holds September 1st) to September's end.
    assert.ok([...expected.values()].some((r) => r.grain === 'day' && r.period_start === `${v.period.start.slice(0, 10)} 00:00:00`));
    await untilOracle(expected, ['2020-08-31', '2020-10-01'], { timeoutMs: 30_000, what: `rollups of version ${i + 1} of a report that moves between days` });
  }
});

test('ClickHouse stopped and started in the middle of a stream: no loss, no double count', { timeout: 180_000 }, async () => {
  const fac = facilities(40, { states: 3, seed: 3 }).map((f) => ({ ...f, key: f.key.replace(f.id, `CH${f.id}`), location: { ...f.location, id: `loc-ch-${f.id}`, identifier: [{ system: f.key.split('|')[0]!, value: `CH${f.id}` }] } }));
  for (const f of fac) assert.equal(await putResource(ingest.url, f.location as never), 201);
  const sends = scenario({ measure, subjects: fac.map((f) => f.key), days: 10, startDate: '2020-07-01', seed: 8 });
  let stopped = false;
  let restarted = false;
  const results = await postReports(ingest.url, sends.map((s) => s.report), {
    concurrency: 8,
    onProgress: async (done) => {
      if (!stopped && done >= sends.length / 3) {
        stopped = true;
        await stopClickHouse();
      } else if (stopped && !restarted && done >= (2 * sends.length) / 3) {
        restarted = true;
        await startClickHouse();
      }
    },
  });
  assert.ok(stopped && restarted);
  assert.deepEqual(results.filter((r) => r.status !== 200 && r.status !== 201), []);
  const keyOf = (r: MeasureReport) => businessKeyString(businessKey(r));
  const latest = lastVersions(sends.map((s) => s.report), keyOf);
  const byKey = new Map(fac.map((f) => [f.key, f]));
  const oracle = oracleMeasureOf(measure);
  const expected = expectedRollups(latest, [oracle], (s) => {
    const f = byKey.get(s)!;
    return [['facility', s], ['county', `US-${f.state}/${f.county}`], ['state', `US-${f.state}`], ['country', 'US'], ['all', 'all']];
  });
  // Only this test posts reports from 2020-06-29 (the week that holds July 1st) to July's end.
  await untilOracle(expected, ['2020-06-29', '2020-08-01'], { timeoutMs: 90_000, intervalMs: 1000, what: 'rollups equal to the oracle after the ClickHouse outage' });
});
