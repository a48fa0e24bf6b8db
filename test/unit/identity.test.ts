// Unit tests of a report's identity: its business key is the same for the same instants however
// they are written, and different for different instants, down to the digits Date cannot hold.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { businessKey, businessKeyString, reportIdFor, utcInstant } from '@sitrep/shared/fhir/identity';

test('utcInstant: one text per instant, whatever the offset or trailing zeros', () => {
  const same = ['2020-04-04T05:00:00Z', '2020-04-04T00:00:00-05:00', '2020-04-04T05:00:00.000Z', '2020-04-04T06:00:00.000000+01:00'];
  assert.deepEqual(new Set(same.map(utcInstant)), new Set(['2020-04-04T05:00:00Z']));
  assert.equal(utcInstant('2020-04-04T00:00:00.5-05:00'), '2020-04-04T05:00:00.500Z');
});

test('utcInstant: digits below the millisecond are kept, so different instants stay different keys', () => {
  assert.equal(utcInstant('2020-04-04T05:00:00.0001Z'), '2020-04-04T05:00:00.0001Z');
  assert.equal(utcInstant('2020-04-04T00:00:00.000100-05:00'), '2020-04-04T05:00:00.0001Z');
  assert.notEqual(utcInstant('2020-04-04T05:00:00.0001Z'), utcInstant('2020-04-04T05:00:00Z'));
});

test('utcInstant scans a hostile fraction of 400 k digits in one pass', { timeout: 20_000 }, () => {
  assert.equal(utcInstant(`2020-04-04T05:00:00.000${'0'.repeat(400_000)}1Z`), `2020-04-04T05:00:00.${'0'.repeat(400_003)}1Z`);
  assert.equal(utcInstant(`2020-04-04T05:00:00.1234${'0'.repeat(400_000)}Z`), '2020-04-04T05:00:00.1234Z');
});

test('the same report written in two offsets has one key and one server id', () => {
  const report = (start: string, end: string) => ({
    measure: 'http://example.org/Measure/m|1.0',
    subject: { identifier: { system: 'urn:s', value: 'F1' } },
    reporter: { identifier: { system: 'urn:r', value: 'R1' } },
    period: { start, end },
  });
  const a = businessKey(report('2020-04-04T00:00:00-05:00', '2020-04-04T23:59:59-05:00'));
  const b = businessKey(report('2020-04-04T05:00:00Z', '2020-04-05T04:59:59Z'));
  assert.equal(businessKeyString(a), businessKeyString(b));
  assert.equal(reportIdFor(a), reportIdFor(b));
  assert.equal(a.measure, 'http://example.org/Measure/m');
});
