// Unit tests of how a Measure's groups aggregate over time (measureDefinition): the group's
// MeasureGroupAttributes first, then what its scoring implies, then the Measure's own R4
// rateAggregation, then count.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Measure, MeasureGroup } from 'fhir/r4.js';
import { MEASURE_GROUP_ATTRIBUTES, measureDefinition } from '@sitrep/shared/fhir/measure';
import { fixture } from '../helpers/fixtures.js';

const SCORING = 'http://hl7.org/fhir/uv/saner/CodeSystem/PublicHealthMeasureScoring';

/** A group coded `code` with the given MeasureGroupAttributes (scoring and/or rateAggregation). */
function group(code: string, attrs: { scoring?: string; rateAggregation?: string } = {}): MeasureGroup {
  const extension = [
    ...(attrs.scoring ? [{ url: 'scoring', valueCodeableConcept: { coding: [{ system: SCORING, code: attrs.scoring }] } }] : []),
    ...(attrs.rateAggregation ? [{ url: 'rateAggregation', valueCode: attrs.rateAggregation }] : []),
  ];
  return { code: { coding: [{ code }] }, ...(extension.length ? { extension: [{ url: MEASURE_GROUP_ATTRIBUTES, extension }] } : {}) };
}

const aggregations = (m: Measure) => Object.fromEntries([...measureDefinition(m).groups.values()].map((g) => [g.code, g.rateAggregation]));

test("a group's own attributes win over the Measure's R4 rateAggregation (the IG's FEMA Measure)", () => {
  const fema = fixture<Measure>('saner/measures/FEMADailyHospitalCOVID19Reporting.json');
  assert.equal(fema.rateAggregation, 'count');
  assert.deepEqual(aggregations(fema), { positiveIncreasePercent: 'cumulative', positivePercent: 'cumulative' });
});

test("the Measure's R4 rateAggregation applies to groups that neither declare one nor have a scoring that implies one", () => {
  const m: Measure = {
    resourceType: 'Measure',
    status: 'active',
    rateAggregation: 'point-in-time',
    group: [group('Declared', { rateAggregation: 'count' }), group('Growth', { scoring: 'event-growth' }), group('Silent'), group('OtherScoring', { scoring: 'service-time' })],
  };
  assert.deepEqual(aggregations(m), { Declared: 'count', Growth: 'cumulative', Silent: 'point-in-time', OtherScoring: 'point-in-time' });
});

test("count when nothing says otherwise; a Measure rateAggregation that is not one of SANER's codes is not read", () => {
  const silent: Measure = { resourceType: 'Measure', status: 'active', group: [group('A'), group('B', { scoring: 'capacity' })] };
  assert.deepEqual(aggregations(silent), { A: 'count', B: 'point-in-time' });
  const prose: Measure = { ...silent, rateAggregation: 'Aggregated daily by summing counts across hospitals' };
  assert.deepEqual(aggregations(prose), { A: 'count', B: 'point-in-time' });
});
