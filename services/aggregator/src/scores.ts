// Measure scores, pure. SANER section 5: "Measure scores are recomputed based on measure populations
// after aggregation", never averaged. A group has a score when its Measure names one numerator and
// one denominator population (measure-population roles), as proportion and ratio scoring do and as
// SANER's capacity and event-growth examples (and the FEMA percentages) are built. At every level
// (facility, county, ..., all) and grain, the score is computed from that level's own population
// rows, the ones `rollups` shows beside it:
//   (numerator - numerator-exclusion) / (denominator - denominator-exclusion - denominator-exception)
// as a fraction (0.5385, where a report would say 53.85 %); exclusions and exceptions subtract where
// reported. No score row where the numerator or the denominator has no value, or the divisor is 0
// or less (exclusions summed from subjects that gave no denominator can outweigh it).

/** The population code of score rows: FHIR's element name, which no SANER population code uses. */
export const SCORE_CODE = 'measureScore';

/** A group's score, by the population codes (as the Measure spells them) it is computed from. */
export interface ScoreRule {
  groupCode: string;
  numerator: string;
  denominator: string;
  numeratorExclusion?: string;
  denominatorExclusion?: string;
  denominatorException?: string;
}

/** A population's aggregated row at one (level, grain, period). */
export interface Totals {
  value: number;
  reporting: number;
  missing: number;
}

const ROLE_FIELDS = new Map<string, keyof Omit<ScoreRule, 'groupCode'>>([
  ['numerator', 'numerator'],
  ['denominator', 'denominator'],
  ['numerator-exclusion', 'numeratorExclusion'],
  ['denominator-exclusion', 'denominatorExclusion'],
  ['denominator-exception', 'denominatorException'],
]);

/**
 * The score rules of a Measure's populations. A group gets none when a role that makes the score is
 * given to two populations (which one counts would be a guess), or when one of its populations is
 * itself coded `measureScore` (its rows would collide with the score's).
 */
export function scoreRules(populations: Iterable<{ groupCode: string; populationCode: string; role?: string | undefined }>): ScoreRule[] {
  const groups = new Map<string, { rule: Partial<ScoreRule>; broken: boolean }>();
  for (const p of populations) {
    let g = groups.get(p.groupCode);
    if (!g) groups.set(p.groupCode, (g = { rule: { groupCode: p.groupCode }, broken: false }));
    if (p.populationCode.toLowerCase() === SCORE_CODE.toLowerCase()) g.broken = true;
    const field = p.role ? ROLE_FIELDS.get(p.role) : undefined;
    if (!field) continue;
    if (g.rule[field] !== undefined) g.broken = true;
    g.rule[field] = p.populationCode;
  }
  const out: ScoreRule[] = [];
  for (const { rule, broken } of groups.values()) if (!broken && rule.numerator && rule.denominator) out.push(rule as ScoreRule);
  return out;
}

/**
 * A group's score at one level from that level's population rows (`totals` of a population code,
 * undefined when it has no row there). `reporting` is the fewer of the numerator's and the
 * denominator's, `missing` the more: a score with missing > 0 is computed from partial populations.
 */
export function scoreOf(rule: ScoreRule, totals: (populationCode: string) => Totals | undefined): Totals | undefined {
  const num = totals(rule.numerator);
  const den = totals(rule.denominator);
  if (!num || !den || num.reporting === 0 || den.reporting === 0) return undefined;
  const reported = (code: string | undefined) => {
    const t = code === undefined ? undefined : totals(code);
    return t && t.reporting > 0 ? t.value : 0;
  };
  const divisor = den.value - reported(rule.denominatorExclusion) - reported(rule.denominatorException);
  const value = (num.value - reported(rule.numeratorExclusion)) / divisor;
  if (divisor <= 0 || !Number.isFinite(value)) return undefined;
  return { value, reporting: Math.min(num.reporting, den.reporting), missing: Math.max(num.missing, den.missing) };
}
