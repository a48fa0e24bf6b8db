// The region step (SANER section 5: across subjects, counts are summed), pure. A slice's region
// cells are the sums of its subject cells over each subject's region chain: its own for region
// subjects, from its Location for facilities, and `unresolved` (and `all`) while that is unknown.
// In TypeScript because 18.16 reread and re-sorted every subject cell of a slice for each
// recomputation (~0.4 s a step under load), while the member that owns a slice's markers is the
// only writer of its subject cells and can keep them (rollups.ts, owned-maps.ts).
// Only the populations the Measure defines now are summed; scores never are: each region's are
// computed from its own sums (scores.ts).
import { SCORE_CODE, scoreOf, type ScoreRule, type Totals } from './scores.js';
import { populationKey, sameStrings, type SubjectCell } from './subject-cells.js';

/** The subject-cell columns the region step needs (a cached cell keeps only these). */
export type RegionInput = Pick<
  SubjectCell,
  'grain' | 'period_start' | 'subject' | 'period_end' | 'subject_is_region' | 'own_types' | 'own_regions' | 'group_codes' | 'population_codes' | 'vals' | 'reporting' | 'missing' | 'updated_at'
>;

/** A facility's regions above it (county, state, country, all), from its Location. */
export interface Chain {
  types: string[];
  regions: string[];
}

/**
 * What the slice's Measure defines now. Subject cells written under an older version of it (not
 * all recomputed yet after a change) can hold other entries, score entries among them.
 */
export interface MeasureRules {
  /** populationKey(group code, population code), codes as the Measure spells them. */
  populations: ReadonlySet<string>;
  scores: ScoreRule[];
}

/** A row of sitrep.rollup_cells. */
export interface RegionCell {
  measure: string;
  grain: string;
  period_start: string;
  region_type: string;
  region: string;
  group_code: string;
  population_code: string;
  period_end: string;
  value: number;
  subjects_reporting: number;
  subjects_missing: number;
  updated_at: string;
  version: string;
}

const UNRESOLVED: Chain = { types: ['unresolved', 'all'], regions: ['unresolved', 'all'] };

/** One region's sums in a slice, indexed by population id; `counted`: some subject reports it or reports it missing. */
interface RegionSums {
  grain: string;
  period_start: string;
  type: string;
  region: string;
  counted: boolean[];
  periodEnd: string[];
  updatedAt: string[];
  value: number[];
  reporting: number[];
  missing: number[];
}

/**
 * The region cells of one slice from all its subject cells, stamped with the slice's version. A
 * population makes a cell in a region only where some subject there reports it or reports it
 * missing (zero entries, which subject cells carry for every population, make none), and only if
 * the Measure defines it. Its scores get a cell in each region where their populations make one.
 */
export function regionCells(
  measure: string,
  cells: Iterable<RegionInput>,
  chainOf: (subject: string) => Chain | undefined,
  version: string,
  rules: MeasureRules,
): RegionCell[] {
  // Populations get ids and regions keep arrays by id: a slice has thousands of subjects, each
  // summed into ~4 regions x 30 populations, and a string key per sum cost ~50 us a subject.
  const ids = new Map<string, number>();
  const populations: { groupCode: string; populationCode: string }[] = [];
  // Subject cells mostly share one list of populations (subject-cells.ts), so the last is kept.
  let layout: { groupCodes: string[]; populationCodes: string[]; ids: number[] } | undefined;
  const idsOf = (c: RegionInput) => {
    if (layout && sameStrings(layout.groupCodes, c.group_codes) && sameStrings(layout.populationCodes, c.population_codes)) return layout.ids;
    const of = c.group_codes.map((groupCode, i) => {
      const populationCode = c.population_codes[i]!;
      const key = populationKey(groupCode, populationCode);
      if (!rules.populations.has(key)) return -1;
      let id = ids.get(key);
      if (id === undefined) {
        ids.set(key, (id = populations.length));
        populations.push({ groupCode, populationCode });
      }
      return id;
    });
    layout = { groupCodes: c.group_codes, populationCodes: c.population_codes, ids: of };
    return of;
  };
  const regions = new Map<string, RegionSums>();
  const regionOf = (c: RegionInput, type: string, region: string) => {
    const key = `${c.grain}\u001f${c.period_start}\u001f${type}\u001f${region}`;
    let r = regions.get(key);
    if (!r) {
      regions.set(key, (r = { grain: c.grain, period_start: c.period_start, type, region, counted: [], periodEnd: [], updatedAt: [], value: [], reporting: [], missing: [] }));
    }
    return r;
  };

  for (const c of cells) {
    const facility = chainOf(c.subject);
    const chain = c.subject_is_region === 1 ? { types: c.own_types, regions: c.own_regions } : facility && facility.types.length > 0 ? facility : UNRESOLVED;
    const of = idsOf(c);
    const sums = chain.types.map((type, r) => regionOf(c, type, chain.regions[r]!));
    for (let i = 0; i < of.length; i++) {
      const reporting = c.reporting[i]!;
      const missing = c.missing[i]!;
      const id = of[i]!;
      if (reporting + missing === 0 || id < 0) continue;
      for (const r of sums) {
        if (!r.counted[id]) {
          r.counted[id] = true;
          r.periodEnd[id] = c.period_end;
          r.updatedAt[id] = c.updated_at;
          r.value[id] = 0;
          r.reporting[id] = 0;
          r.missing[id] = 0;
        } else if (c.updated_at > r.updatedAt[id]!) r.updatedAt[id] = c.updated_at;
        r.value[id] = r.value[id]! + c.vals[i]!;
        r.reporting[id] = r.reporting[id]! + reporting;
        r.missing[id] = r.missing[id]! + missing;
      }
    }
  }

  const out: RegionCell[] = [];
  const push = (r: RegionSums, groupCode: string, populationCode: string, periodEnd: string, t: Totals, updatedAt: string) =>
    out.push({
      measure,
      grain: r.grain,
      period_start: r.period_start,
      region_type: r.type,
      region: r.region,
      group_code: groupCode,
      population_code: populationCode,
      period_end: periodEnd,
      value: t.value,
      subjects_reporting: t.reporting,
      subjects_missing: t.missing,
      updated_at: updatedAt,
      version,
    });
  for (const r of regions.values()) {
    const totals = (id: number): Totals => ({ value: r.value[id]!, reporting: r.reporting[id]!, missing: r.missing[id]! });
    for (let id = 0; id < populations.length; id++) {
      if (r.counted[id]) push(r, populations[id]!.groupCode, populations[id]!.populationCode, r.periodEnd[id]!, totals(id), r.updatedAt[id]!);
    }
    for (const rule of rules.scores) {
      const idOf = (populationCode: string) => ids.get(populationKey(rule.groupCode, populationCode));
      const score = scoreOf(rule, (populationCode) => {
        const id = idOf(populationCode);
        return id === undefined || !r.counted[id] ? undefined : totals(id);
      });
      if (!score) continue;
      const [n, d] = [idOf(rule.numerator)!, idOf(rule.denominator)!];
      push(r, rule.groupCode, SCORE_CODE, r.periodEnd[d]!, score, r.updatedAt[n]! > r.updatedAt[d]! ? r.updatedAt[n]! : r.updatedAt[d]!);
    }
  }
  return out;
}
