// The subject step's maths (SANER section 5), pure: from the series cells of some subjects in some
// slices to one subject cell per (bucket, subject). Over time within a series (subject, reporter),
// by the population's rateAggregation: `sum` adds the present values, `latest` takes the value of
// the latest period that has one. Across a subject's series (reporters), values are summed and
// counted as reporting or missing. Data-absent counts are left out, never zeros. In TypeScript
// rather than SQL because ClickHouse 18.16 ran it single-threaded at ~270 us per subject cell,
// and here it is unit-tested on its own (test/unit/subject-cells.test.ts). Each cell also holds the
// scores of its groups, computed from its aggregated populations (scores.ts).
import { SCORE_CODE, scoreOf, scoreRules, type Totals } from './scores.js';

/** A series cell as the subject step reads it (one series, partition and day, as a cell of a slice that holds the day: rollups.ts). */
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
  /** measure-population role (numerator, denominator, ...): what the group's score is made of. */
  role?: string;
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

/** One series' values in one cell, indexed by code id: what `sum` and `latest` need. */
interface SeriesValues {
  seen: Uint8Array;
  latest: Uint8Array;
  present: Uint8Array;
  sum: Float64Array;
  latestAt: Float64Array;
  latestValue: Float64Array;
}

const seriesValues = (n: number): SeriesValues => ({
  seen: new Uint8Array(n),
  latest: new Uint8Array(n),
  present: new Uint8Array(n),
  sum: new Float64Array(n),
  latestAt: new Float64Array(n).fill(-1),
  latestValue: new Float64Array(n),
});

/** Two lists of codes are equal (cells and series rows mostly share one layout, checked this way before reusing it). */
export const sameStrings = (a: string[], b: string[]) => a === b || (a.length === b.length && a.every((x, i) => x === b[i]));

/**
 * One cell per (bucket, subject) that has series cells, rewritten whole, with an entry for every
 * population in `populations` (group code, population code) and every score of the Measure besides
 * those it counts: zero-counted
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
  // Every code a cell can list is known up front (the rules' and `populations`), so values are kept
  // in arrays indexed by code id, ordered by key: this runs for thousands of cells per step, and
  // building string keys per entry cost ~50 us a cell.
  const byKey = new Map<string, { groupCode: string; populationCode: string }>();
  const zeroKeys = new Set<string>();
  for (const r of rules.values()) byKey.set(populationKey(r.groupCode, r.populationCode), { groupCode: r.groupCode, populationCode: r.populationCode });
  const scores = scoreRules(rules.values());
  for (const [groupCode, populationCode] of [...scores.map((s) => [s.groupCode, SCORE_CODE] as const), ...populations]) {
    const key = populationKey(groupCode, populationCode);
    zeroKeys.add(key);
    if (!byKey.has(key)) byKey.set(key, { groupCode, populationCode });
  }
  const codes = [...byKey].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, c]) => ({ ...c, key }));
  const idOfKey = new Map(codes.map((c, id) => [c.key, id]));
  const zero = codes.map((c) => zeroKeys.has(c.key));
  const n = codes.length;
  const scoreIds = scores.map((rule) => ({ rule, id: idOfKey.get(populationKey(rule.groupCode, SCORE_CODE))! }));

  // A series row's entries as code ids (-1: a population the Measure does not, or no longer, define)
  // and their rules' time aggregation; rows mostly share one layout, so the last one is kept.
  let layout: { groupKeys: string[]; popKeys: string[]; ids: Int32Array; latest: Uint8Array } | undefined;
  const layoutOf = (row: SeriesCell) => {
    if (layout && sameStrings(layout.groupKeys, row.group_keys) && sameStrings(layout.popKeys, row.pop_keys)) return layout;
    const ids = new Int32Array(row.group_keys.length).fill(-1);
    const latest = new Uint8Array(row.group_keys.length);
    for (let i = 0; i < ids.length; i++) {
      const rule = rules.get(populationKey(row.group_keys[i]!, row.pop_keys[i]!));
      if (!rule) continue;
      ids[i] = idOfKey.get(populationKey(rule.groupCode, rule.populationCode))!;
      latest[i] = rule.latest ? 1 : 0;
    }
    return (layout = { groupKeys: row.group_keys, popKeys: row.pop_keys, ids, latest });
  };

  const cells = new Map<string, { first: SeriesCell; updatedAt: string; byReporter: Map<string, SeriesValues> }>();
  for (const row of series) {
    const cellKey = `${row.grain} ${row.period_start} ${row.subject}`;
    let cell = cells.get(cellKey);
    if (!cell) cells.set(cellKey, (cell = { first: row, updatedAt: row.updated_at, byReporter: new Map() }));
    if (row.updated_at > cell.updatedAt) cell.updatedAt = row.updated_at;
    let v = cell.byReporter.get(row.reporter);
    if (!v) cell.byReporter.set(row.reporter, (v = seriesValues(n)));
    const { ids, latest } = layoutOf(row);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (id < 0) continue;
      // The first entry for a code decides its aggregation, as its rule.
      if (v.seen[id] === 0) {
        v.seen[id] = 1;
        v.latest[id] = latest[i]!;
      }
      if (row.presents[i] !== 1) continue;
      v.present[id] = 1;
      v.sum[id] = v.sum[id]! + row.sums[i]!;
      const at = row.latest_ats[i]!;
      const value = row.latest_values[i]!;
      // Ties (two reports of one series for the same instant) take the larger value, so the
      // result never depends on the order rows arrive in.
      if (at > v.latestAt[id]! || (at === v.latestAt[id] && value > v.latestValue[id]!)) {
        v.latestAt[id] = at;
        v.latestValue[id] = value;
      }
    }
  }

  // Cells listing every code (the usual case) share their code arrays.
  const allGroupCodes = codes.map((c) => c.groupCode);
  const allPopulationCodes = codes.map((c) => c.populationCode);
  const out: SubjectCell[] = [];
  const value = new Float64Array(n);
  const reporting = new Int32Array(n);
  const missing = new Int32Array(n);
  const listed = new Uint8Array(n);
  for (const { first, updatedAt, byReporter } of cells.values()) {
    value.fill(0);
    reporting.fill(0);
    missing.fill(0);
    for (let id = 0; id < n; id++) listed[id] = zero[id] ? 1 : 0;
    for (const v of byReporter.values()) {
      for (let id = 0; id < n; id++) {
        if (v.seen[id] === 0) continue;
        listed[id] = 1;
        if (v.present[id] === 1) {
          value[id] = value[id]! + (v.latest[id] === 1 ? v.latestValue[id]! : v.sum[id]!);
          reporting[id] = reporting[id]! + 1;
        } else missing[id] = missing[id]! + 1;
      }
    }
    for (const { rule, id } of scoreIds) {
      const score = scoreOf(rule, (populationCode): Totals | undefined => {
        const of = idOfKey.get(populationKey(rule.groupCode, populationCode));
        return of === undefined || reporting[of]! + missing[of]! === 0 ? undefined : { value: value[of]!, reporting: reporting[of]!, missing: missing[of]! };
      });
      if (score) [value[id], reporting[id], missing[id]] = [score.value, score.reporting, score.missing];
    }
    const ids: number[] = [];
    for (let id = 0; id < n; id++) if (listed[id] === 1) ids.push(id);
    const all = ids.length === n;
    out.push({
      measure,
      grain: first.grain,
      period_start: first.period_start,
      subject: first.subject,
      period_end: first.period_end,
      subject_is_region: first.subject_is_region,
      own_types: first.own_types,
      own_regions: first.own_regions,
      group_codes: all ? allGroupCodes : ids.map((id) => codes[id]!.groupCode),
      population_codes: all ? allPopulationCodes : ids.map((id) => codes[id]!.populationCode),
      vals: ids.map((id) => value[id]!),
      reporting: ids.map((id) => reporting[id]!),
      missing: ids.map((id) => missing[id]!),
      updated_at: updatedAt,
      version: versionOf(first.grain, first.period_start),
    });
  }
  return out;
}
