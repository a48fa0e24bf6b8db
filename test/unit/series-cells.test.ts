// Unit tests of the series step's maths (SANER: over time within one series): per population the
// sum of the present values and the value of the latest period that has one, from the latest
// version of each report; error reports count for nothing; layouts kept apart; order-independent.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { putReport, seriesCell, type SeriesBucket, type SeriesReport } from '@sitrep/aggregator/series-cells';

const bucket: SeriesBucket = { measure: 'm', subject: 'sys|F1', reporter: 'org|R', partition: 2, grain: 'week', periodStart: '2021-01-04 00:00:00', periodEnd: '2021-01-11 00:00:00' };

function report(key: string, version: number, at: string, values: (number | undefined)[], over: Partial<SeriesReport> = {}): SeriesReport {
  return {
    businessKey: key,
    version: BigInt(version),
    error: false,
    at,
    receivedAt: `${at.slice(0, 10)} 12:00:00`,
    subjectIsRegion: 0,
    ownTypes: [],
    ownRegions: [],
    groupKeys: values.map(() => 'beds'),
    popKeys: values.map((_, i) => `p${i}`),
    values: values.map((v) => v ?? 0),
    present: values.map((v) => (v === undefined ? 0 : 1)),
    ...over,
  };
}

const entries = (c: ReturnType<typeof seriesCell>) =>
  c.pop_keys.map((p, i) => [p, c.sums[i], c.presents[i], c.latest_values[i], c.latest_ats[i]]);

describe('series cells', () => {
  test('sums the present values, takes the latest period that has one, counts absent ones as not present', () => {
    const c = seriesCell(bucket, [report('a', 1, '2021-01-05 00:00:00', [10, 1, undefined]), report('b', 2, '2021-01-04 00:00:00', [5, undefined, undefined])], '99');
    assert.deepEqual(entries(c), [
      ['p0', 15, 1, 10, '2021-01-05 00:00:00'],
      ['p1', 1, 1, 1, '2021-01-05 00:00:00'],
      ['p2', 0, 0, 0, '1970-01-01 00:00:00'],
    ]);
    assert.equal(c.version, '99');
    assert.equal(c.updated_at, '2021-01-05 12:00:00');
    assert.deepEqual([c.measure, c.grain, c.period_start, c.period_end, c.subject, c.reporter, c.kafka_partition], ['m', 'week', '2021-01-04 00:00:00', '2021-01-11 00:00:00', 'sys|F1', 'org|R', 2]);
  });

  test('an error report counts for nothing but its receipt; a series of only errors has an empty cell', () => {
    const c = seriesCell(bucket, [report('a', 1, '2021-01-05 00:00:00', [10], { error: true, receivedAt: '2021-01-09 00:00:00' })], '5');
    assert.deepEqual(entries(c), []);
    assert.equal(c.updated_at, '2021-01-09 00:00:00');
  });

  test('reports with different layouts give one run of entries each', () => {
    const c = seriesCell(bucket, [report('a', 1, '2021-01-05 00:00:00', [1, 2]), report('b', 1, '2021-01-06 00:00:00', [7], { popKeys: ['p1'] })], '5');
    assert.deepEqual(entries(c), [
      ['p0', 1, 1, 1, '2021-01-05 00:00:00'],
      ['p1', 2, 1, 2, '2021-01-05 00:00:00'],
      ['p1', 7, 1, 7, '2021-01-06 00:00:00'],
    ]);
  });

  test('two reports for the same instant: the larger value, whatever the order', () => {
    const a = report('a', 1, '2021-01-05 00:00:00', [3]);
    const b = report('b', 2, '2021-01-05 00:00:00', [8]);
    assert.deepEqual(entries(seriesCell(bucket, [a, b], '1')), entries(seriesCell(bucket, [b, a], '1')));
    assert.equal(seriesCell(bucket, [a, b], '1').latest_values[0], 8);
  });

  test('a report kept is replaced by a later version only', () => {
    const kept = new Map<string, SeriesReport>();
    putReport(kept, report('a', 5, '2021-01-05 00:00:00', [1]));
    putReport(kept, report('a', 3, '2021-01-05 00:00:00', [2])); // redelivered older version
    assert.equal(kept.get('a')!.values[0], 1);
    putReport(kept, report('a', 9, '2021-01-05 00:00:00', [4])); // correction
    assert.equal(kept.get('a')!.values[0], 4);
  });
});
