// Unit tests of the subject step's maths (SANER aggregation rules): over time within a series by
// rateAggregation, across reporters by sum, data-absent counts left out and counted as missing,
// series cells of one series on several partitions and layouts combined, unknown populations dropped.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { populationKey, subjectCells, type PopulationRule, type SeriesCell } from '@sitrep/aggregator/subject-cells';

const rules = new Map<string, PopulationRule>([
  [populationKey('beds', 'numbeds'), { groupCode: 'Beds', populationCode: 'numBeds', latest: true }],
  [populationKey('beds', 'numbedsocc'), { groupCode: 'Beds', populationCode: 'numBedsOcc', latest: true }],
  [populationKey('deaths', 'numdeaths'), { groupCode: 'Deaths', populationCode: 'numDeaths', latest: false }],
]);

/** A series cell with the given entries: [group key, population key, sum, present, latest value, latest at]. */
function cell(over: Partial<SeriesCell>, entries: [string, string, number, number, number, number][]): SeriesCell {
  return {
    grain: 'week',
    period_start: '2020-03-30 00:00:00',
    subject: 'urn:fac|1',
    reporter: 'urn:org|a',
    period_end: '2020-04-06 00:00:00',
    subject_is_region: 0,
    own_types: [],
    own_regions: [],
    group_keys: entries.map((e) => e[0]),
    pop_keys: entries.map((e) => e[1]),
    sums: entries.map((e) => e[2]),
    presents: entries.map((e) => e[3]),
    latest_values: entries.map((e) => e[4]),
    latest_ats: entries.map((e) => e[5]),
    updated_at: '2020-04-05 10:00:00',
    ...over,
  };
}

const version = () => '42';
const byCode = (c: ReturnType<typeof subjectCells>[number]) =>
  Object.fromEntries(c.population_codes.map((p, i) => [`${c.group_codes[i]}/${p}`, { value: c.vals[i], reporting: c.reporting[i], missing: c.missing[i] }]));

describe('subject cells', () => {
  test('point-in-time takes the latest period across partitions; count sums them', () => {
    const [c, ...rest] = subjectCells(
      'http://m',
      [
        // Monday and Wednesday on partition 0, Tuesday on partition 3: the series' cells of one bucket.
        cell({}, [['beds', 'numbeds', 30, 1, 20, 300], ['deaths', 'numdeaths', 3, 1, 2, 300]]),
        cell({ updated_at: '2020-04-05 11:00:00' }, [['beds', 'numbeds', 11, 1, 11, 200], ['deaths', 'numdeaths', 4, 1, 4, 200]]),
      ],
      rules,
      version,
    );
    assert.equal(rest.length, 0);
    assert.deepEqual(byCode(c!), { 'Beds/numBeds': { value: 20, reporting: 1, missing: 0 }, 'Deaths/numDeaths': { value: 7, reporting: 1, missing: 0 } });
    assert.equal(c!.updated_at, '2020-04-05 11:00:00');
    assert.equal(c!.version, '42');
  });

  test('reporters of one subject are summed; a reporter with the count absent is missing, not zero', () => {
    const [c] = subjectCells(
      'http://m',
      [
        cell({ reporter: 'urn:org|a' }, [['beds', 'numbeds', 10, 1, 10, 100]]),
        cell({ reporter: 'urn:org|b' }, [['beds', 'numbeds', 5, 1, 5, 100]]),
        cell({ reporter: 'urn:org|c' }, [['beds', 'numbeds', 0, 0, 0, 0]]),
      ],
      rules,
      version,
    );
    assert.deepEqual(byCode(c!), { 'Beds/numBeds': { value: 15, reporting: 2, missing: 1 } });
  });

  test('a series whose reports differ in layout is combined per population, by the same rules', () => {
    // One layout has numBedsOcc absent-able, the other lacks it entirely: numBeds' latest is the later one.
    const [c] = subjectCells(
      'http://m',
      [cell({}, [['beds', 'numbeds', 8, 1, 8, 100], ['beds', 'numbeds', 9, 1, 9, 500], ['beds', 'numbedsocc', 0, 0, 0, 0]])],
      rules,
      version,
    );
    assert.deepEqual(byCode(c!), { 'Beds/numBeds': { value: 9, reporting: 1, missing: 0 }, 'Beds/numBedsOcc': { value: 0, reporting: 0, missing: 1 } });
  });

  test('populations the Measure does not define are dropped; a subject with none left keeps an empty cell', () => {
    const cells = subjectCells('http://m', [cell({}, [['beds', 'gone', 1, 1, 1, 1]]), cell({ subject: 'urn:fac|2' }, [])], rules, version);
    assert.equal(cells.length, 2);
    for (const c of cells) assert.deepEqual([c.group_codes, c.population_codes, c.vals, c.reporting, c.missing], [[], [], [], [], []]);
  });

  test('one cell per bucket and subject, each with its own version; entries in the same order for every subject', () => {
    const cells = subjectCells(
      'http://m',
      [
        cell({ subject: 'urn:fac|1' }, [['deaths', 'numdeaths', 1, 1, 1, 1], ['beds', 'numbeds', 1, 1, 1, 1]]),
        cell({ subject: 'urn:fac|2' }, [['beds', 'numbeds', 1, 1, 1, 1], ['deaths', 'numdeaths', 1, 1, 1, 1]]),
        cell({ subject: 'urn:fac|1', grain: 'day', period_start: '2020-04-01 00:00:00' }, [['beds', 'numbeds', 1, 1, 1, 1]]),
      ],
      rules,
      (grain) => (grain === 'day' ? '7' : '9'),
    );
    assert.deepEqual(
      cells.map((c) => [c.grain, c.subject, c.version, c.group_codes.join(), c.population_codes.join()]),
      [
        ['week', 'urn:fac|1', '9', 'Beds,Deaths', 'numBeds,numDeaths'],
        ['week', 'urn:fac|2', '9', 'Beds,Deaths', 'numBeds,numDeaths'],
        ['day', 'urn:fac|1', '7', 'Beds', 'numBeds'],
      ],
    );
  });

  test('ties for the latest period take the larger value whatever the row order', () => {
    const a = cell({}, [['beds', 'numbeds', 3, 1, 3, 100]]);
    const b = cell({}, [['beds', 'numbeds', 4, 1, 4, 100]]);
    for (const rows of [[a, b], [b, a]]) assert.equal(subjectCells('http://m', rows, rules, version)[0]!.vals[0], 4);
  });
});

describe('populations listed in every cell', () => {
  const all = [...rules.values()].map((r) => [r.groupCode, r.populationCode] as const);

  test("a cell lists every population given, zero-counted where it counts nothing, in the same order", () => {
    const [c] = subjectCells('m', [cell({}, [['deaths', 'numdeaths', 3, 1, 3, 1], ['beds', 'numbeds', 0, 0, 0, 0]])], rules, version, all);
    assert.deepEqual(c!.population_codes, ['numBeds', 'numBedsOcc', 'numDeaths']);
    assert.deepEqual(byCode(c!), {
      'Beds/numBeds': { value: 0, reporting: 0, missing: 1 },
      'Beds/numBedsOcc': { value: 0, reporting: 0, missing: 0 },
      'Deaths/numDeaths': { value: 3, reporting: 1, missing: 0 },
    });
  });

  test('a cell whose reports are all errors is all zeros, and a population listed twice is one entry', () => {
    const [c] = subjectCells('m', [cell({}, [])], rules, version, [...all, ['Beds', 'numBeds']]);
    assert.deepEqual(c!.vals, [0, 0, 0]);
    assert.deepEqual([...c!.reporting, ...c!.missing], [0, 0, 0, 0, 0, 0]);
  });
});

describe('scores in subject cells', () => {
  const scored = new Map<string, PopulationRule>([
    [populationKey('beds', 'numbeds'), { groupCode: 'Beds', populationCode: 'numBeds', latest: true, role: 'denominator' }],
    [populationKey('beds', 'numbedsocc'), { groupCode: 'Beds', populationCode: 'numBedsOcc', latest: true, role: 'numerator' }],
  ]);

  test("a subject's score is its aggregated numerator over its aggregated denominator, reporters summed first", () => {
    const [c] = subjectCells(
      'm',
      [
        // Reporter a: 1 of 2 beds; reporter b: 9 of 10 (latest of two periods). Score 10/12, not (0.5 + 0.9) / 2.
        cell({ reporter: 'urn:org|a' }, [['beds', 'numbeds', 2, 1, 2, 100], ['beds', 'numbedsocc', 1, 1, 1, 100]]),
        cell({ reporter: 'urn:org|b' }, [['beds', 'numbeds', 30, 1, 10, 200], ['beds', 'numbedsocc', 17, 1, 9, 200]]),
      ],
      scored,
      version,
    );
    assert.deepEqual(byCode(c!)['Beds/measureScore'], { value: 10 / 12, reporting: 2, missing: 0 });
  });

  test('the score entry is listed zero-counted when it cannot be computed, so a rewrite overwrites an older score', () => {
    const [absent] = subjectCells('m', [cell({}, [['beds', 'numbeds', 0, 0, 0, 0], ['beds', 'numbedsocc', 3, 1, 3, 1]])], scored, version);
    assert.deepEqual(byCode(absent!)['Beds/measureScore'], { value: 0, reporting: 0, missing: 0 });
    const [zero] = subjectCells('m', [cell({}, [['beds', 'numbeds', 0, 1, 0, 1], ['beds', 'numbedsocc', 0, 1, 0, 1]])], scored, version);
    assert.deepEqual(byCode(zero!)['Beds/measureScore'], { value: 0, reporting: 0, missing: 0 });
  });
});
