// Unit tests of the aggregator's pure transform: record -> ClickHouse row, or invalid with a reason.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { grainBuckets, transform, chDateTime } from '@sitrep/aggregator/transform';
import { fixture } from '../helpers/fixtures.js';

const record = (resource: unknown, id = 'x') =>
  Buffer.from(JSON.stringify({ schema: 1, resourceType: (resource as { resourceType: string }).resourceType, id, receivedAt: '2020-04-05T10:00:00.000Z', requestId: 'r1', sender: { type: 'anonymous', id: 'anonymous' }, resource }));

describe('grain buckets', () => {
  test('day, ISO week starting Monday, month; ends exclusive', () => {
    assert.deepEqual(grainBuckets('2020-04-04'), {
      grains: ['day', 'week', 'month'],
      starts: ['2020-04-04 00:00:00', '2020-03-30 00:00:00', '2020-04-01 00:00:00'],
      ends: ['2020-04-05 00:00:00', '2020-04-06 00:00:00', '2020-05-01 00:00:00'],
    });
  });
  test('a Monday is its own week start; December rolls into the next year', () => {
    const b = grainBuckets('2020-12-28');
    assert.equal(b.starts[1], '2020-12-28 00:00:00');
    assert.equal(b.ends[2], '2021-01-01 00:00:00');
  });
  test('a Sunday belongs to the week of the Monday before', () => {
    assert.equal(grainBuckets('2020-04-05').starts[1], '2020-03-30 00:00:00');
  });
});

describe('transform', () => {
  test('a SANER report becomes one row: its own local date, region chain, populations and absent counts', () => {
    const r = fixture('saner/measure-reports/ExampleNJ-20200404-CDCPatientImpactAndHospitalCapacity.json');
    const out = transform({ value: record(r, 'abc'), partition: 3, offset: '17' });
    assert.equal(out.kind, 'ok');
    if (out.kind !== 'ok') return;
    assert.equal(out.table, 'reports');
    const row = out.row;
    assert.equal(row.version, '17');
    assert.equal(row.kafka_partition, 3);
    assert.equal(row.id, 'abc');
    assert.equal(row.local_date, '2020-04-04', 'the date in the report’s own offset (-05:00), not UTC');
    assert.equal(row.period_start_utc, '2020-04-04 05:00:00');
    assert.equal(row.subject, 'https://www.census.gov/geographies|34');
    assert.equal(row.subject_is_region, 1);
    assert.deepEqual(row.regions, ['US-NJ', 'US', 'all']);
    assert.deepEqual(row.region_types, ['state', 'country', 'all']);
    const keys = row.pop_keys as string[];
    const values = row.pop_values as number[];
    const present = row.pop_present as number[];
    assert.equal(values[keys.indexOf('numtotbeds')], 20000);
    const occ = keys.indexOf('numbedsocc');
    assert.equal(present[occ], 0, 'a data-absent count is marked absent, not zero');
    assert.equal(JSON.parse(row.resource as string).id, 'abc');
  });

  test('a facility report has no chain of its own (the view resolves it through its Location)', () => {
    const r = fixture<Record<string, any>>('saner/measure-reports/ExampleNJ-20200404-CDCPatientImpactAndHospitalCapacity.json');
    r.subject = { identifier: { system: 'http://example.org/hospitals', value: 'H1' } };
    const out = transform({ value: record(r), partition: 0, offset: '1' });
    assert.equal(out.kind === 'ok' && out.row.subject_is_region, 0);
  });

  test('a Measure row lists every population with how it aggregates over time', () => {
    const m = fixture('saner/measures/ComputableCDCPatientImpactAndHospitalCapacity.json');
    const out = transform({ value: record(m, 'M1'), partition: 0, offset: '4' });
    assert.equal(out.kind, 'ok');
    if (out.kind !== 'ok') return;
    const pops = out.row.pop_codes as string[];
    const aggs = out.row.time_aggs as string[];
    assert.equal(aggs[pops.indexOf('numC19HOPats')], 'sum', 'cumulative numerator sums');
    assert.equal(aggs[pops.indexOf('cumC19HOPats')], 'latest', 'cumulative denominator takes the latest');
    assert.equal(aggs[pops.indexOf('numVentUse')], 'latest', 'point-in-time');
  });

  test('a Location row carries its region chain above the facility', () => {
    const l = fixture('saner/locations/Loc-X140008.json');
    const out = transform({ value: record(l, 'Loc-X140008'), partition: 0, offset: '2' });
    assert.equal(out.kind, 'ok');
    if (out.kind !== 'ok') return;
    assert.deepEqual(out.row.regions, ['US-IL/COOK', 'US-IL', 'US', 'all']);
    assert.equal(out.row.managing_org, 'X140008');
  });

  test('bad input is a value with a reason, never a throw', () => {
    assert.deepEqual(transform({ value: Buffer.from('not json'), partition: 0, offset: '1' }).kind, 'invalid');
    assert.deepEqual(transform({ value: null, partition: 0, offset: '1' }), { kind: 'invalid', step: 'decode', reason: 'empty record value' });
    const noPeriod = { resourceType: 'MeasureReport', subject: { identifier: { value: 'x' } } };
    const out = transform({ value: record(noPeriod), partition: 0, offset: '1' });
    assert.equal(out.kind, 'invalid');
    const obs = transform({ value: record({ resourceType: 'Observation' }), partition: 0, offset: '1' });
    assert.equal(obs.kind === 'invalid' && obs.reason, 'unsupported resourceType Observation');
  });

  test('DateTime range is enforced (ClickHouse DateTime is 1970..2105)', () => {
    assert.equal(chDateTime('1969-12-31T23:59:59Z'), undefined);
    assert.equal(chDateTime('2020-04-04T00:00:00-05:00'), '2020-04-04 05:00:00');
  });
});
