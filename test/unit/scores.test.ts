// Unit tests of measure scores (SANER: recomputed from the aggregated populations, never averaged):
// which groups have one, the formula with exclusions, and when there is none.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Measure } from 'fhir/r4.js';
import { measureDefinition } from '@sitrep/shared/fhir/measure';
import { scoreOf, scoreRules, type Totals } from '@sitrep/aggregator/scores';
import { fixture } from '../helpers/fixtures.js';

const rulesOf = (m: Measure) =>
  scoreRules([...measureDefinition(m).groups.values()].flatMap((g) => [...g.populations.values()].map((p) => ({ groupCode: g.code, populationCode: p.code, role: p.role }))));

describe('score rules', () => {
  test("the IG's capacity and event-growth groups have scores; groups without numerator and denominator have none", () => {
    const rules = rulesOf(fixture<Measure>('saner/measures/ComputableCDCPatientImpactAndHospitalCapacity.json'));
    assert.deepEqual(
      rules.map((r) => [r.groupCode, r.numerator, r.denominator]),
      [
        ['AcquiredCovid', 'numC19HOPats', 'cumC19HOPats'],
        ['CovidDeaths', 'numC19Died', 'cumC19Died'],
        ['Ventilators', 'numVentUse', 'numVent'],
        ['Beds', 'numTotBedsOcc', 'numTotBeds'],
      ],
    );
    assert.deepEqual(rulesOf(fixture<Measure>('saner/measures/CDCPatientImpactAndHospitalCapacity.json')), []);
  });

  test("FEMA's positivePercent subtracts its denominator exclusion", () => {
    const rules = rulesOf(fixture<Measure>('saner/measures/FEMADailyHospitalCOVID19Reporting.json'));
    assert.deepEqual(rules.find((r) => r.groupCode === 'positivePercent'), {
      groupCode: 'positivePercent',
      numerator: 'positive',
      denominator: 'totalTestResults',
      denominatorExclusion: 'rejected',
    });
  });

  test('a role given twice, or a population coded measureScore, leaves the group without a score', () => {
    assert.deepEqual(
      scoreRules([
        { groupCode: 'A', populationCode: 'n', role: 'numerator' },
        { groupCode: 'A', populationCode: 'd1', role: 'denominator' },
        { groupCode: 'A', populationCode: 'd2', role: 'denominator' },
        { groupCode: 'B', populationCode: 'n', role: 'numerator' },
        { groupCode: 'B', populationCode: 'd', role: 'denominator' },
        { groupCode: 'B', populationCode: 'MeasureScore' },
        { groupCode: 'C', populationCode: 'n', role: 'numerator' },
        { groupCode: 'C', populationCode: 'd', role: 'denominator' },
      ]),
      [{ groupCode: 'C', numerator: 'n', denominator: 'd' }],
    );
  });
});

describe('score of one level', () => {
  const rule = { groupCode: 'g', numerator: 'n', denominator: 'd', numeratorExclusion: 'nx', denominatorExclusion: 'dx', denominatorException: 'de' };
  const at = (rows: Record<string, Totals>) => (code: string) => rows[code];

  test('the ratio of the aggregated populations, exclusions and exceptions subtracted where reported', () => {
    // Two facilities at 1/2 and 90/100: the region's score is 91/102, not the average 0.7.
    assert.deepEqual(scoreOf({ groupCode: 'g', numerator: 'n', denominator: 'd' }, at({ n: { value: 91, reporting: 2, missing: 0 }, d: { value: 102, reporting: 2, missing: 0 } })), {
      value: 91 / 102,
      reporting: 2,
      missing: 0,
    });
    const score = scoreOf(
      rule,
      at({
        n: { value: 50, reporting: 3, missing: 1 },
        d: { value: 120, reporting: 4, missing: 0 },
        nx: { value: 10, reporting: 1, missing: 0 },
        dx: { value: 15, reporting: 2, missing: 0 },
        de: { value: 999, reporting: 0, missing: 3 },
      }),
    );
    assert.deepEqual(score, { value: 40 / 105, reporting: 3, missing: 1 });
  });

  test('no score without a reported numerator and denominator, or when the divisor is 0 or less', () => {
    // Exclusions summed from subjects that gave no denominator outweigh it.
    assert.equal(scoreOf(rule, at({ n: { value: 3, reporting: 1, missing: 0 }, d: { value: 5, reporting: 1, missing: 0 }, dx: { value: 9, reporting: 2, missing: 0 } })), undefined);
    assert.equal(scoreOf(rule, at({ d: { value: 5, reporting: 1, missing: 0 } })), undefined);
    assert.equal(scoreOf(rule, at({ n: { value: 0, reporting: 0, missing: 2 }, d: { value: 5, reporting: 1, missing: 0 } })), undefined);
    assert.equal(scoreOf(rule, at({ n: { value: 3, reporting: 1, missing: 0 }, d: { value: 5, reporting: 1, missing: 0 }, dx: { value: 5, reporting: 1, missing: 0 } })), undefined);
    assert.deepEqual(scoreOf(rule, at({ n: { value: 0, reporting: 1, missing: 0 }, d: { value: 5, reporting: 1, missing: 0 } })), { value: 0, reporting: 1, missing: 0 });
  });
});
