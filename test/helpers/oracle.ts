// The oracle: the rollups computed independently of the aggregator, straight from the SANER rules,
// from the last accepted version of each report. Tests compare every row of sitrep.rollups with it.
import type { Measure, MeasureReport } from 'fhir/r4.js';

export interface RollupRow {
  measure: string;
  group_code: string;
  population_code: string;
  region_type: string;
  region: string;
  grain: string;
  period_start: string; // 'YYYY-MM-DD hh:mm:ss'
  value: number;
  subjects_reporting: number;
  subjects_missing: number;
}

export interface OracleMeasure {
  url: string;
  groups: { code: string; rule: 'count' | 'point-in-time' | 'cumulative'; populations: { code: string; role?: string }[] }[];
}

/** Where each subject rolls up to, as the test itself knows it: [type, code] pairs, ending in all. */
export type Regions = (subject: string) => [string, string][];

function buckets(day: string): [string, string][] {
  const ms = Date.parse(`${day}T00:00:00Z`);
  const d = new Date(ms);
  const monday = new Date(ms - ((d.getUTCDay() + 6) % 7) * 86_400_000);
  const fmt = (x: Date) => `${x.toISOString().slice(0, 10)} 00:00:00`;
  return [
    ['day', fmt(d)],
    ['week', fmt(monday)],
    ['month', `${day.slice(0, 7)}-01 00:00:00`],
  ];
}

export function expectedRollups(latest: MeasureReport[], measures: OracleMeasure[], regions: Regions): Map<string, RollupRow> {
  // series cell: (measure, group, population, subject, reporter, grain, bucket) -> observations
  type Obs = { at: number; value: number | undefined };
  const series = new Map<string, { row: Omit<RollupRow, 'value' | 'subjects_reporting' | 'subjects_missing' | 'region_type' | 'region'>; subject: string; rule: 'sum' | 'latest'; obs: Obs[] }>();
  for (const r of latest) {
    if (r.status === 'error') continue;
    const m = measures.find((x) => x.url === r.measure);
    if (!m) continue;
    const subject = `${r.subject!.identifier!.system}|${r.subject!.identifier!.value}`;
    const reporter = `${r.reporter?.identifier?.system}|${r.reporter?.identifier?.value}`;
    const at = Date.parse(r.period!.start!);
    for (const g of r.group ?? []) {
      const gcode = g.code!.coding![0]!.code!;
      const gdef = m.groups.find((x) => x.code.toLowerCase() === gcode.toLowerCase());
      if (!gdef) continue;
      for (const p of g.population ?? []) {
        const pcode = p.code!.coding![0]!.code!;
        const pdef = gdef.populations.find((x) => x.code.toLowerCase() === pcode.toLowerCase());
        if (!pdef) continue;
        const rule: 'sum' | 'latest' =
          gdef.rule === 'count' ? 'sum' : gdef.rule === 'point-in-time' ? 'latest' : pdef.role === 'denominator' ? 'latest' : 'sum';
        for (const [grain, start] of buckets(r.period!.start!.slice(0, 10))) {
          const k = [m.url, gdef.code, pdef.code, subject, reporter, grain, start].join('\u0001');
          let s = series.get(k);
          if (!s) {
            s = { row: { measure: m.url, group_code: gdef.code, population_code: pdef.code, grain, period_start: start }, subject, rule, obs: [] };
            series.set(k, s);
          }
          s.obs.push({ at, value: typeof p.count === 'number' ? p.count : undefined });
        }
      }
    }
  }
  const out = new Map<string, RollupRow>();
  for (const s of series.values()) {
    const present = s.obs.filter((o) => o.value !== undefined);
    let value = 0;
    if (s.rule === 'sum') value = present.reduce((acc, o) => acc + o.value!, 0);
    // Two reports of one series for the same instant: the larger value (the aggregator's documented rule).
    else if (present.length) value = present.reduce((best, o) => (o.at > best.at || (o.at === best.at && o.value! > best.value!) ? o : best)).value!;
    for (const [type, code] of regions(s.subject)) {
      const row = { ...s.row, region_type: type, region: code };
      const k = rowKey(row);
      const cell = out.get(k) ?? { ...row, value: 0, subjects_reporting: 0, subjects_missing: 0 };
      cell.value += value;
      if (present.length) cell.subjects_reporting++;
      else cell.subjects_missing++;
      out.set(k, cell);
    }
  }
  for (const score of expectedScores(out, measures)) out.set(rowKey(score), score);
  return out;
}

/**
 * Scores from the population rows at each (region, grain, period), never averaged (SANER): for a
 * group with a numerator and a denominator, (N - numerator-exclusion) / (D - denominator-exclusion
 * - denominator-exception), exclusions counted where reported; none where N or D has no value or
 * the divisor is 0 or less. Reporting is the fewer of N's and D's, missing the more. None for a group with
 * a role given twice or a population coded measureScore.
 */
const SCORE_ROLES = ['numerator', 'denominator', 'numerator-exclusion', 'denominator-exclusion', 'denominator-exception'];

function expectedScores(rows: Map<string, RollupRow>, measures: OracleMeasure[]): RollupRow[] {
  const out: RollupRow[] = [];
  for (const row of rows.values()) {
    const group = measures.find((m) => m.url === row.measure)?.groups.find((g) => g.code === row.group_code);
    const roleOf = (role: string) => group?.populations.find((p) => p.role === role)?.code;
    // One row per cell makes its score: the denominator's. None where a role is given twice or a population is coded measureScore.
    if (!group || row.population_code !== roleOf('denominator') || !roleOf('numerator')) continue;
    const roles = group.populations.flatMap((p) => (p.role && SCORE_ROLES.includes(p.role) ? [p.role] : []));
    if (new Set(roles).size !== roles.length || group.populations.some((p) => p.code.toLowerCase() === 'measurescore')) continue;
    const at = (role: string) => {
      const code = roleOf(role);
      return code === undefined ? undefined : rows.get(rowKey({ ...row, population_code: code }));
    };
    const reported = (role: string) => (at(role)?.subjects_reporting ? at(role)!.value : 0);
    const n = at('numerator');
    const d = row;
    if (!n || !n.subjects_reporting || !d.subjects_reporting) continue;
    const divisor = d.value - reported('denominator-exclusion') - reported('denominator-exception');
    if (divisor <= 0) continue;
    out.push({
      ...row,
      population_code: 'measureScore',
      value: (n.value - reported('numerator-exclusion')) / divisor,
      subjects_reporting: Math.min(n.subjects_reporting, d.subjects_reporting),
      subjects_missing: Math.max(n.subjects_missing, d.subjects_missing),
    });
  }
  return out;
}

export function rowKey(r: Pick<RollupRow, 'measure' | 'group_code' | 'population_code' | 'region_type' | 'region' | 'grain' | 'period_start'>): string {
  return [r.measure, r.group_code, r.population_code, r.region_type, r.region, r.grain, r.period_start].join(' · ');
}

/** Every difference between ClickHouse's rows and the oracle's: wrong values, missing and extra rows. */
export function compareRollups(actual: RollupRow[], expected: Map<string, RollupRow>): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const a of actual) {
    const k = rowKey(a);
    seen.add(k);
    const e = expected.get(k);
    if (!e) {
      problems.push(`extra row ${k}: value ${a.value}`);
      continue;
    }
    if (Math.abs(Number(a.value) - e.value) > 1e-9 || Number(a.subjects_reporting) !== e.subjects_reporting || Number(a.subjects_missing) !== e.subjects_missing) {
      problems.push(`${k}: got value ${a.value} reporting ${a.subjects_reporting} missing ${a.subjects_missing}; expected ${e.value} / ${e.subjects_reporting} / ${e.subjects_missing}`);
    }
  }
  for (const k of expected.keys()) if (!seen.has(k)) problems.push(`missing row ${k}`);
  return problems;
}

/** The last version of each report in send order (the order ingest accepted them in). */
export function lastVersions(reports: MeasureReport[], keyOf: (r: MeasureReport) => string): MeasureReport[] {
  const last = new Map<string, MeasureReport>();
  for (const r of reports) last.set(keyOf(r), r);
  return [...last.values()];
}

/** The test's own reading of a simulator Measure: each group's rateAggregation and population roles. */
export function oracleMeasureOf(measure: Measure): OracleMeasure {
  return {
    url: measure.url!,
    groups: measure.group!.map((g) => ({
      code: g.code!.coding![0]!.code!,
      rule: g.extension![0]!.extension![0]!.valueString as OracleMeasure['groups'][number]['rule'],
      populations: g.population!.map((p) => ({ code: p.code!.coding![0]!.code!, ...(p.code!.coding![1] ? { role: p.code!.coding![1].code! } : {}) })),
    })),
  };
}
