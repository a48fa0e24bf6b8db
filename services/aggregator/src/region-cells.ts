// The region step (SANER section 5: across subjects, counts are summed), pure. A slice's region
// cells are the sums of its subject cells over each subject's region chain: its own for region
// subjects, from its Location for facilities, and `unresolved` (and `all`) while that is unknown.
// In TypeScript because 18.16 reread and re-sorted every subject cell of a slice for each
// recomputation (~0.4 s a step under load), while the member that owns a slice's markers is the
// only writer of its subject cells and can keep them (rollups.ts, owned-maps.ts).
import type { SubjectCell } from './subject-cells.js';

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

/**
 * The region cells of one slice from all its subject cells, stamped with the slice's version. A
 * population makes a cell in a region only where some subject there reports it or reports it
 * missing (zero entries, which subject cells carry for every population, make none).
 */
export function regionCells(measure: string, cells: Iterable<RegionInput>, chainOf: (subject: string) => Chain | undefined, version: string): RegionCell[] {
  const out = new Map<string, RegionCell>();
  for (const c of cells) {
    const facility = chainOf(c.subject);
    const chain = c.subject_is_region === 1 ? { types: c.own_types, regions: c.own_regions } : facility && facility.types.length > 0 ? facility : UNRESOLVED;
    for (let i = 0; i < c.group_codes.length; i++) {
      if (c.reporting[i]! + c.missing[i]! === 0) continue;
      for (let r = 0; r < chain.types.length; r++) {
        const key = `${c.grain}\u001f${c.period_start}\u001f${chain.types[r]}\u001f${chain.regions[r]}\u001f${c.group_codes[i]}\u001f${c.population_codes[i]}`;
        let cell = out.get(key);
        if (!cell) {
          out.set(
            key,
            (cell = {
              measure,
              grain: c.grain,
              period_start: c.period_start,
              region_type: chain.types[r]!,
              region: chain.regions[r]!,
              group_code: c.group_codes[i]!,
              population_code: c.population_codes[i]!,
              period_end: c.period_end,
              value: 0,
              subjects_reporting: 0,
              subjects_missing: 0,
              updated_at: c.updated_at,
              version,
            }),
          );
        }
        cell.value += c.vals[i]!;
        cell.subjects_reporting += c.reporting[i]!;
        cell.subjects_missing += c.missing[i]!;
        if (c.updated_at > cell.updated_at) cell.updated_at = c.updated_at;
      }
    }
  }
  return [...out.values()];
}
