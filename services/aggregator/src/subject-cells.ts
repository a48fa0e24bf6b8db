// The subject step's maths (SANER section 5), pure: from the series cells of some subjects in some
// slices to one subject cell per (bucket, subject). Over time within a series (subject, reporter),
// by the population's rateAggregation: `sum` adds the present values, `latest` takes the value of
// the latest period that has one. Across a subject's series (reporters), values are summed and
// counted as reporting or missing. Data-absent counts are left out, never zeros. In TypeScript
// rather than SQL because ClickHouse 18.16 ran it single-threaded at ~270 us per subject cell,
// and here it is unit-tested on its own (test/unit/subject-cells.test.ts).

/** A row of sitrep.series_cells as the subject step reads it (one series, bucket and partition). */
export interface SeriesCell {
  grain: string;
  period_start: string;
  subject: string;
  reporter: string;
  period_end: string;
  subject_is_region: number;
  own_types: string[];
  own_regions: string[];
  /** Per entry: a population of one layout, with its sum of present values, whether any was present,
   *  and the value and time (epoch seconds) of the latest period that had one. */
  group_keys: string[];
  pop_keys: string[];
  sums: number[];
  presents: number[];
  latest_values: number[];
  latest_ats: number[];
  updated_at: string;
}

/** A registered Measure's population, by its normalised (group key, population key). */
export interface PopulationRule {
  groupCode: string;
  populationCode: string;
  latest: boolean;
}

export const populationKey = (groupKey: string, populationKey: string) => `${groupKey}\u001f${populationKey}`;

/** A row of sitrep.subject_cells. */
export interface SubjectCell {
  measure: string;
  grain: string;
  period_start: string;
  subject: string;
  period_end: string;
  subject_is_region: number;
  own_types: string[];
  own_regions: string[];
  group_codes: string[];
  population_codes: string[];
  vals: number[];
  reporting: number[];
  missing: number[];
  updated_at: string;
  version: string;
}

interface SeriesValue {
  rule: PopulationRule;
  sum: number;
  present: boolean;
  latestAt: number;
  latestValue: number;
}

/**
 * One cell per (bucket, subject) that has series cells, rewritten whole, with an entry for every
 * population in `populations` (group code, population code) besides those it counts: zero-counted
 * (reporting 0, missing 0) where nothing counts any more (every report `error`, a population the
 * Measure dropped), so each rewrite overwrites every facility row an older one wrote. Entries are
 * ordered by (group code, population code), the same for every subject, so that subjects line up
 * for the region step.
 */
export function subjectCells(
  measure: string,
  series: Iterable<SeriesCell>,
  rules: Map<string, PopulationRule>,
  versionOf: (grain: string, periodStart: string) => string,
  populations: Iterable<readonly [string, string]> = [],
): SubjectCell[] {
  const zeros = [...populations].map(([groupCode, populationCode]) => ({ groupCode, populationCode, latest: false }));
  const cells = new Map<string, { first: SeriesCell; updatedAt: string; byReporter: Map<string, Map<string, SeriesValue>> }>();
  for (const row of series) {
    const cellKey = `${row.grain} ${row.period_start} ${row.subject}`;
    let cell = cells.get(cellKey);
    if (!cell) cells.set(cellKey, (cell = { first: row, updatedAt: row.updated_at, byReporter: new Map() }));
    if (row.updated_at > cell.updatedAt) cell.updatedAt = row.updated_at;
    let values = cell.byReporter.get(row.reporter);
    if (!values) cell.byReporter.set(row.reporter, (values = new Map()));
    for (let i = 0; i < row.group_keys.length; i++) {
      const rule = rules.get(populationKey(row.group_keys[i]!, row.pop_keys[i]!));
      if (!rule) continue; // a population the Measure does not (or no longer) define
      const code = populationKey(rule.groupCode, rule.populationCode);
      let v = values.get(code);
      if (!v) values.set(code, (v = { rule, sum: 0, present: false, latestAt: -1, latestValue: 0 }));
      if (row.presents[i] !== 1) continue;
      v.present = true;
      v.sum += row.sums[i]!;
      const at = row.latest_ats[i]!;
      const value = row.latest_values[i]!;
      // Ties (two reports of one series for the same instant) take the larger value, so the
      // result never depends on the order rows arrive in.
      if (at > v.latestAt || (at === v.latestAt && value > v.latestValue)) {
        v.latestAt = at;
        v.latestValue = value;
      }
    }
  }

  const out: SubjectCell[] = [];
  for (const { first, updatedAt, byReporter } of cells.values()) {
    const totals = new Map<string, { rule: PopulationRule; value: number; reporting: number; missing: number }>(
      zeros.map((rule) => [populationKey(rule.groupCode, rule.populationCode), { rule, value: 0, reporting: 0, missing: 0 }]),
    );
    for (const values of byReporter.values()) {
      for (const [code, v] of values) {
        let t = totals.get(code);
        if (!t) totals.set(code, (t = { rule: v.rule, value: 0, reporting: 0, missing: 0 }));
        if (v.present) {
          t.value += v.rule.latest ? v.latestValue : v.sum;
          t.reporting++;
        } else t.missing++;
      }
    }
    const entries = [...totals].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, t]) => t);
    out.push({
      measure,
      grain: first.grain,
      period_start: first.period_start,
      subject: first.subject,
      period_end: first.period_end,
      subject_is_region: first.subject_is_region,
      own_types: first.own_types,
      own_regions: first.own_regions,
      group_codes: entries.map((t) => t.rule.groupCode),
      population_codes: entries.map((t) => t.rule.populationCode),
      vals: entries.map((t) => t.value),
      reporting: entries.map((t) => t.reporting),
      missing: entries.map((t) => t.missing),
      updated_at: updatedAt,
      version: versionOf(first.grain, first.period_start),
    });
  }
  return out;
}

