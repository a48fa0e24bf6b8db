// What every service needs to know about a registered Measure: its groups, their populations
// (with their measure-population role) and how each group aggregates over time.
import type { Measure, CodeableConcept } from 'fhir/r4.js';

export const SANER = 'http://hl7.org/fhir/uv/saner';
export const MEASURE_GROUP_ATTRIBUTES = `${SANER}/StructureDefinition/MeasureGroupAttributes`;
export const MEASURE_POPULATION_SYSTEM = 'http://terminology.hl7.org/CodeSystem/measure-population';

export type RateAggregation = 'count' | 'point-in-time' | 'cumulative';

export interface PopulationDefinition {
  /** The population's code as the Measure spells it (the first coding that is not a measure-population role). */
  code: string;
  /** measure-population role (initial-population, numerator, denominator, ...) if the Measure gives one. */
  role: string | undefined;
}

export interface GroupDefinition {
  code: string;
  scoring: string | undefined;
  rateAggregation: RateAggregation;
  /** Keyed by lower-cased code: SANER MeasuredValues codes are case-insensitive. */
  populations: Map<string, PopulationDefinition>;
}

export interface MeasureDefinition {
  url: string;
  /** Keyed by lower-cased group code. */
  groups: Map<string, GroupDefinition>;
}

/** A canonical reference without its `|version` suffix: all versions of a Measure are one measure. */
export function canonicalUrl(ref: string): string {
  const bar = ref.indexOf('|');
  return bar < 0 ? ref : ref.slice(0, bar);
}

/** The code that names a group or population: the first coding that is not a measure-population role. */
export function primaryCode(cc: CodeableConcept | undefined): string | undefined {
  // A plain loop: this runs for every population of every report on the validation hot path.
  const codings = cc?.coding;
  let role: string | undefined;
  if (codings) {
    for (let i = 0; i < codings.length; i++) {
      const c = codings[i]!;
      if (!c.code) continue;
      if (c.system !== MEASURE_POPULATION_SYSTEM) return c.code;
      role ??= c.code;
    }
  }
  return role ?? cc?.text;
}

function roleOf(cc: CodeableConcept | undefined): string | undefined {
  return cc?.coding?.find((c) => c.system === MEASURE_POPULATION_SYSTEM)?.code;
}

const SCORING_IMPLIES: Record<string, RateAggregation> = {
  capacity: 'point-in-time',
  'queue-length': 'point-in-time',
  availability: 'point-in-time',
  'event-growth': 'cumulative',
};

const isRateAggregation = (v: string | undefined): v is RateAggregation => v === 'count' || v === 'point-in-time' || v === 'cumulative';

/**
 * A group aggregates over time as its MeasureGroupAttributes say (SANER), else as its scoring
 * implies, else as the Measure's own R4 `rateAggregation` says (a free string in R4: taken only
 * when it is one of SANER's three codes), else by `count`.
 */
export function measureDefinition(m: Measure): MeasureDefinition {
  const groups = new Map<string, GroupDefinition>();
  const measureLevel = isRateAggregation(m.rateAggregation) ? m.rateAggregation : undefined;
  for (const g of m.group ?? []) {
    const code = primaryCode(g.code);
    if (!code) continue;
    const attrs = g.extension?.find((e) => e.url === MEASURE_GROUP_ATTRIBUTES)?.extension ?? [];
    const attr = (name: string) => attrs.find((e) => e.url === name);
    const scoring = attr('scoring')?.valueCodeableConcept?.coding?.[0]?.code;
    const declared = attr('rateAggregation');
    const declaredValue = declared?.valueString ?? declared?.valueCode;
    const rateAggregation: RateAggregation = isRateAggregation(declaredValue)
      ? declaredValue
      : (scoring && SCORING_IMPLIES[scoring]) || measureLevel || 'count';
    const populations = new Map<string, PopulationDefinition>();
    for (const p of g.population ?? []) {
      const pc = primaryCode(p.code);
      if (pc) populations.set(pc.toLowerCase(), { code: pc, role: roleOf(p.code) });
    }
    groups.set(code.toLowerCase(), { code, scoring, rateAggregation, populations });
  }
  return { url: m.url ?? '', groups };
}

/** How a population aggregates over time within one subject: summed, or the latest period's value. */
export function timeAggregation(group: GroupDefinition, population: PopulationDefinition): 'sum' | 'latest' {
  switch (group.rateAggregation) {
    case 'count':
      return 'sum';
    case 'point-in-time':
      return 'latest';
    case 'cumulative':
      // SANER: initial population and numerator are events (summed); the denominator is a level.
      return population.role === 'denominator' ? 'latest' : 'sum';
  }
}
