// Unit tests of the region step (across subjects, counts are summed up each subject's region chain;
// unknown Locations count as unresolved; zero entries make no cell).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { regionCells, type Chain, type MeasureRules, type RegionInput } from '@sitrep/aggregator/region-cells';
import { populationKey } from '@sitrep/aggregator/subject-cells';
import type { ScoreRule } from '@sitrep/aggregator/scores';

function cell(subject: string, entries: [string, number, number, number][], over: Partial<RegionInput> = {}): RegionInput {
  return {
    grain: 'day',
    period_start: '2021-01-01 00:00:00',
    subject,
    period_end: '2021-01-02 00:00:00',
    subject_is_region: 0,
    own_types: [],
    own_regions: [],
    group_codes: entries.map(() => 'g'),
    population_codes: entries.map((e) => e[0]),
    vals: entries.map((e) => e[1]),
    reporting: entries.map((e) => e[2]),
    missing: entries.map((e) => e[3]),
    updated_at: '2021-01-01 10:00:00',
    ...over,
  };
}

const chains = new Map<string, Chain>([
  ['F1', { types: ['county', 'state', 'all'], regions: ['34021', 'US-NJ', 'all'] }],
  ['F2', { types: ['county', 'state', 'all'], regions: ['34023', 'US-NJ', 'all'] }],
]);
/** The Measure of these tests: group g with these populations (and scores). */
const defines = (codes: string[], scores: ScoreRule[] = []): MeasureRules => ({ populations: new Set(codes.map((c) => populationKey('g', c))), scores });
const BEDS_VENTS = defines(['beds', 'vents']);
const table = (rows: ReturnType<typeof regionCells>) =>
  Object.fromEntries(rows.map((r) => [`${r.region_type} ${r.region} ${r.population_code}`, [r.value, r.subjects_reporting, r.subjects_missing]]));

describe('region cells', () => {
  test('facilities are summed up their chain; a missing count is counted, not added; zero entries make no cell', () => {
    const rows = regionCells(
      'm',
      [cell('F1', [['beds', 10, 1, 0], ['vents', 0, 0, 1]]), cell('F2', [['beds', 5, 1, 0], ['vents', 0, 0, 0]])],
      (s) => chains.get(s),
      '7',
      BEDS_VENTS,
    );
    assert.deepEqual(table(rows), {
      'county 34021 beds': [10, 1, 0],
      'county 34021 vents': [0, 0, 1],
      'state US-NJ beds': [15, 2, 0],
      'state US-NJ vents': [0, 0, 1],
      'all all beds': [15, 2, 0],
      'all all vents': [0, 0, 1],
      'county 34023 beds': [5, 1, 0],
    });
    assert.ok(rows.every((r) => r.version === '7' && r.measure === 'm'));
  });

  test('a facility without a Location counts as unresolved; a region subject counts in its own chain', () => {
    const rows = regionCells(
      'm',
      [cell('F9', [['beds', 3, 1, 0]]), cell('US-NY', [['beds', 4, 1, 0]], { subject_is_region: 1, own_types: ['state', 'all'], own_regions: ['US-NY', 'all'] })],
      (s) => chains.get(s),
      '1',
      BEDS_VENTS,
    );
    assert.deepEqual(table(rows), { 'unresolved unresolved beds': [3, 1, 0], 'all all beds': [7, 2, 0], 'state US-NY beds': [4, 1, 0] });
  });

  test('updated_at is the newest of the cells counted', () => {
    const rows = regionCells('m', [cell('F1', [['beds', 1, 1, 0]]), cell('F2', [['beds', 1, 1, 0]], { updated_at: '2021-01-01 12:00:00' })], (s) => chains.get(s), '1', BEDS_VENTS);
    assert.equal(rows.find((r) => r.region === 'US-NJ')!.updated_at, '2021-01-01 12:00:00');
  });

  test('subjects listing populations differently are summed by population, not by position', () => {
    const rows = regionCells(
      'm',
      [cell('F1', [['beds', 1, 1, 0], ['vents', 2, 1, 0]]), cell('F2', [['vents', 20, 1, 0]]), cell('F1b', [['vents', 200, 1, 0], ['beds', 100, 1, 0]])],
      (s) => chains.get(s.replace('b', '')),
      '1',
      BEDS_VENTS,
    );
    assert.equal(rows.length, 7);
    assert.deepEqual(table(rows.filter((r) => r.region_type === 'state')), { 'state US-NJ beds': [101, 2, 0], 'state US-NJ vents': [222, 3, 0] });
    assert.deepEqual(table(rows.filter((r) => r.region_type === 'county')), {
      'county 34021 beds': [101, 2, 0],
      'county 34021 vents': [202, 2, 0],
      'county 34023 vents': [20, 1, 0],
    });
  });

  test("a region's score is computed from its sums, never from its subjects' scores", () => {
    const score = { groupCode: 'g', numerator: 'occ', denominator: 'beds' };
    const rows = regionCells(
      'm',
      [
        // The facilities' own score entries (0.5 and 0.9) are not summed.
        cell('F1', [['beds', 2, 1, 0], ['occ', 1, 1, 0], ['measureScore', 0.5, 1, 0]]),
        cell('F2', [['beds', 100, 1, 0], ['occ', 90, 1, 0], ['measureScore', 0.9, 1, 0]]),
        // Only the denominator: this county has no score.
        cell('F3', [['beds', 7, 1, 0], ['occ', 0, 0, 1], ['measureScore', 0, 0, 0]]),
      ],
      (s) => (s === 'F3' ? { types: ['county', 'state', 'all'], regions: ['34025', 'US-NJ', 'all'] } : chains.get(s)),
      '3',
      defines(['beds', 'occ'], [score]),
    );
    const scores = rows.filter((r) => r.population_code === 'measureScore');
    assert.equal(scores.length, 4);
    assert.deepEqual(table(scores), {
      'county 34021 measureScore': [0.5, 1, 0],
      'county 34023 measureScore': [0.9, 1, 0],
      'state US-NJ measureScore': [91 / 109, 2, 1],
      'all all measureScore': [91 / 109, 2, 1],
    });
    assert.ok(rows.every((r) => r.group_code === 'g' && r.version === '3'));
  });

  test('after a Measure change, entries of cells written under the old one are not summed: a dropped population, an old score', () => {
    // F1's cell predates the change: it still has 'vents' and a score entry; the Measure now defines beds only, no score.
    const old = cell('F1', [['beds', 2, 1, 0], ['measureScore', 0.5, 1, 0], ['vents', 4, 1, 0]]);
    const now = cell('F2', [['beds', 5, 1, 0]]);
    assert.deepEqual(table(regionCells('m', [old, now], (s) => chains.get(s), '9', defines(['beds'])).filter((r) => r.region_type === 'state')), {
      'state US-NJ beds': [7, 2, 0],
    });
    // A population the Measure now codes 'measureScore' is summed from the cells that have it as a population.
    const renamed = cell('F2', [['beds', 5, 1, 0], ['measureScore', 3, 1, 0]]);
    const rows = regionCells('m', [renamed], (s) => chains.get(s), '9', defines(['beds', 'measureScore']));
    assert.deepEqual(table(rows.filter((r) => r.region_type === 'state')), { 'state US-NJ beds': [5, 1, 0], 'state US-NJ measureScore': [3, 1, 0] });
  });
});
