// What each CSV column means for a given Measure: the `map` parameter, the header, and the
// Measure's group and population codes they are matched against (SANER CSV_Conversion).
import type { CodeableConcept, Measure } from 'fhir/r4.js';
import { primaryCode } from '../fhir/measure.js';

/** Columns that are not Measure codes. `period.start` and `period.end` are the IG's own aliases. */
export type Field = 'subject' | 'reporter' | 'period' | 'period-start' | 'period-end' | 'stratifier' | 'stratum';
// A Map, not an object literal: a column named `constructor` must not find Object.prototype's.
const FIELDS = new Map<string, Field>([
  ['subject', 'subject'],
  ['reporter', 'reporter'],
  ['period', 'period'],
  ['period-start', 'period-start'],
  ['period.start', 'period-start'],
  ['period-end', 'period-end'],
  ['period.end', 'period-end'],
  ['stratifier', 'stratifier'],
  ['stratum', 'stratum'],
]);

export interface PopulationIndex {
  /** As reports carry it (reportCode). */
  code: CodeableConcept;
}

export interface StratifierIndex {
  /** As reports carry it (reportCode). */
  code: CodeableConcept;
  /** Lower-cased coding codes and text: any of them names this stratifier in the `stratifier` column. */
  names: Set<string>;
}

export interface GroupIndex {
  /** As reports carry it (reportCode). */
  code: CodeableConcept;
  populations: PopulationIndex[];
  stratifiers: StratifierIndex[];
}

/**
 * The Measure seen from a CSV file. Built from Measure.group directly (not from
 * measureDefinition()) because reports need the codes to copy and the stratifiers, but codes are
 * named with the same primaryCode() so a column name means what it means everywhere else.
 */
export interface MeasureIndex {
  groups: GroupIndex[];
  /** Lower-cased primary code -> targets. Group codes win over population codes (IG step 9.1). */
  byCode: Map<string, Target[]>;
}

export type Target =
  | { kind: 'field'; field: Field }
  | { kind: 'score'; group: number }
  | { kind: 'count'; group: number; population: number };

export const targetKey = (t: Target) =>
  t.kind === 'field' ? t.field : t.kind === 'score' ? `score:${t.group}` : `count:${t.group}:${t.population}`;

/**
 * The code as reports carry it: the Measure's codings without its text (the Measure's descriptions
 * would bloat every report). One frozen object per code, shared by every report of a conversion:
 * 20,000 reports x 15 populations of private copies was most of the conversion's time (in GC).
 * NOTE: reports are therefore read-only below `code`; structuredClone one before editing it.
 */
export function reportCode(cc: CodeableConcept): CodeableConcept {
  const code: CodeableConcept = cc.coding?.length ? { coding: cc.coding.map((c) => Object.freeze({ ...c })) } : { text: cc.text ?? '' };
  if (code.coding) Object.freeze(code.coding);
  return Object.freeze(code);
}

export function indexMeasure(m: Measure): MeasureIndex {
  const groups: GroupIndex[] = [];
  const scores = new Map<string, Target[]>();
  const counts = new Map<string, Target[]>();
  const add = (map: Map<string, Target[]>, code: string, t: Target) => {
    const k = code.toLowerCase();
    map.set(k, [...(map.get(k) ?? []), t]);
  };
  for (const g of m.group ?? []) {
    const code = primaryCode(g.code);
    if (!code || !g.code) continue; // measureDefinition() skips such groups too
    const gi = groups.length;
    const populations: PopulationIndex[] = [];
    for (const p of g.population ?? []) {
      const pc = primaryCode(p.code);
      if (!pc || !p.code) continue;
      add(counts, pc, { kind: 'count', group: gi, population: populations.length });
      populations.push({ code: reportCode(p.code) });
    }
    const stratifiers = (g.stratifier ?? []).flatMap((s): StratifierIndex[] => {
      if (!s.code) return [];
      const names = new Set<string>();
      for (const c of s.code.coding ?? []) if (c.code) names.add(c.code.toLowerCase());
      if (s.code.text) names.add(s.code.text.toLowerCase());
      return [{ code: reportCode(s.code), names }];
    });
    add(scores, code, { kind: 'score', group: gi });
    groups.push({ code: reportCode(g.code), populations, stratifiers });
  }
  const byCode = new Map(counts);
  for (const [k, v] of scores) byCode.set(k, v);
  return { groups, byCode };
}

/** Targets named by a bare code: a structural field, a group code, or population code(s). */
function resolveCode(index: MeasureIndex, code: string): Target[] {
  const k = code.toLowerCase();
  const field = FIELDS.get(k);
  if (field) return [{ kind: 'field', field }];
  return index.byCode.get(k) ?? [];
}

/** Targets named by `system|code`: any coding of a group or population code (the system disambiguates). */
function resolveSystemCode(index: MeasureIndex, system: string, code: string): Target[] {
  const matches = (cc: CodeableConcept | undefined) =>
    (cc?.coding ?? []).some((c) => c.system === system && c.code?.toLowerCase() === code.toLowerCase());
  const out: Target[] = [];
  index.groups.forEach((g, gi) => {
    if (matches(g.code)) out.push({ kind: 'score', group: gi });
    g.populations.forEach((p, pi) => {
      if (matches(p.code)) out.push({ kind: 'count', group: gi, population: pi });
    });
  });
  return out;
}

export interface MapProblem {
  entry: string;
  code: 'code-invalid' | 'duplicate' | 'value';
  message: string;
}

export interface ColumnMap {
  /** Lower-cased column name -> targets it supplies. */
  columns: Map<string, { name: string; entry: string; targets: Target[] }>;
  problems: MapProblem[];
}

/**
 * Parses every `map` parameter value. Our reading of CSV_Conversion "Remapping": an entry
 * `code$column` says that the CSV column named `column` carries Measure code `code`
 * ("fromCode$toColumnName": from the Measure's value set to the CSV heading); `system|code$column`
 * pins the code system; a bare `code` means the column is named like the code. Entries may also
 * name the structural fields (`subject$orgid`, `period$collectionDate`): the IG's remapping is
 * about codes, but the CDC templates need their `orgid`/`collectionDate` renamed too.
 *
 * Leniency: an entry written the other way round (`orgid$subject`, column first) is accepted when
 * only its right-hand side is a known code; when both sides are codes the IG's order wins.
 */
export function parseMap(index: MeasureIndex, values: string[]): ColumnMap {
  const columns: ColumnMap['columns'] = new Map();
  const problems: MapProblem[] = [];
  const columnOfTarget = new Map<string, { column: string; entry: string }>();
  for (const value of values) {
    for (const raw of value.split(',')) {
      const entry = raw.trim();
      if (!entry) continue;
      const dollar = entry.indexOf('$');
      let code = dollar < 0 ? entry : entry.slice(0, dollar).trim();
      let column = dollar < 0 ? entry : entry.slice(dollar + 1).trim();
      let targets: Target[];
      const bar = code.indexOf('|');
      if (bar >= 0) {
        const [system, c] = [code.slice(0, bar).trim(), code.slice(bar + 1).trim()];
        targets = system && c ? resolveSystemCode(index, system, c) : [];
        if (dollar < 0) column = c; // `system|code` alone: the column is named like the code
      } else {
        targets = resolveCode(index, code);
        if (!targets.length && dollar >= 0) {
          const reversed = resolveCode(index, column);
          if (reversed.length) {
            [code, column] = [column, code];
            targets = reversed;
          }
        }
      }
      if (!column) {
        problems.push({ entry, code: 'value', message: `map entry ${JSON.stringify(entry)} names no column` });
        continue;
      }
      if (!targets.length) {
        problems.push({ entry, code: 'code-invalid', message: `map entry ${JSON.stringify(entry)}: ${JSON.stringify(code)} is not a code of this Measure nor subject, reporter, period, period-start, period-end, stratifier or stratum` });
        continue;
      }
      const k = column.toLowerCase();
      const prior = columns.get(k);
      if (prior && prior.targets.map(targetKey).join() !== targets.map(targetKey).join()) {
        // One column, two codes: the IG's mappings are reversible, and a value cannot be two things.
        problems.push({ entry, code: 'duplicate', message: `map entries ${JSON.stringify(prior.entry)} and ${JSON.stringify(entry)} both use column ${JSON.stringify(column)}` });
        continue;
      }
      let clash = false;
      for (const t of targets) {
        const other = columnOfTarget.get(targetKey(t));
        if (other && other.column.toLowerCase() !== k) {
          problems.push({ entry, code: 'duplicate', message: `map entries ${JSON.stringify(other.entry)} and ${JSON.stringify(entry)} map ${JSON.stringify(code)} to two columns` });
          clash = true;
          break;
        }
      }
      if (clash) continue;
      for (const t of targets) columnOfTarget.set(targetKey(t), { column, entry });
      columns.set(k, { name: column, entry, targets });
    }
  }
  return { columns, problems };
}

export interface HeaderProblem {
  /** The column as written in the header (trimmed), if the problem is about one. */
  column?: string;
  code: 'code-invalid' | 'duplicate' | 'required' | 'structure';
  message: string;
}

export interface ColumnPlan {
  /** Trimmed header names as written, for error messages. */
  names: string[];
  /** Column index per structural field, -1 when absent. */
  field: Record<Field, number>;
  /** Column index per group score and per group population, -1 when absent. */
  score: number[];
  count: number[][];
  /** Columns that hold data (a score or counts), how to parse them and the groups they feed. */
  data: { index: number; kind: 'score' | 'count'; groups: number[] }[];
  /** Columns without a name that must stay empty (no map given: a value there would be lost). */
  unnamed: number[];
}

/**
 * Decides what every header column supplies. Names are trimmed and compared case-insensitively
 * (the NHSN template has `numC19Died `; SANER MeasuredValues codes are case-insensitive).
 * Without a map a column must be a structural field or a Measure code, otherwise it is an unknown
 * column. With a map only mapped columns are used (IG: "If no mapping is provided for a given
 * column, then that column is not used"), except that the structural columns keep their canonical
 * names unless the map moved them elsewhere: they are not codes, so a map of codes alone should not
 * make a canonical file lose its subject.
 */
export function planColumns(header: string[], index: MeasureIndex, map: ColumnMap | undefined): { plan: ColumnPlan; problems: HeaderProblem[] } {
  const names = header.map((h) => h.trim());
  const problems: HeaderProblem[] = [];
  const field: Record<Field, number> = { subject: -1, reporter: -1, period: -1, 'period-start': -1, 'period-end': -1, stratifier: -1, stratum: -1 };
  const score = index.groups.map(() => -1);
  const count = index.groups.map((g) => g.populations.map(() => -1));
  const kinds = new Map<number, 'score' | 'count'>();
  const groupsOf = new Map<number, number[]>();
  const unnamed: number[] = [];
  const mappedFields = new Set<Field>();
  for (const c of map?.columns.values() ?? []) for (const t of c.targets) if (t.kind === 'field') mappedFields.add(t.field);

  const assign = (i: number, t: Target) => {
    const name = names[i]!;
    const slot = t.kind === 'field' ? field[t.field] : t.kind === 'score' ? score[t.group]! : count[t.group]![t.population]!;
    if (slot >= 0) {
      problems.push({ column: name, code: 'duplicate', message: `columns ${JSON.stringify(names[slot])} and ${JSON.stringify(name)} both supply ${describe(index, t)}` });
      return;
    }
    if (t.kind === 'field') field[t.field] = i;
    else if (t.kind === 'score') score[t.group] = i;
    else count[t.group]![t.population] = i;
    if (t.kind !== 'field') {
      kinds.set(i, t.kind);
      groupsOf.set(i, [...(groupsOf.get(i) ?? []), t.group]);
    }
  };

  names.forEach((name, i) => {
    const k = name.toLowerCase();
    if (map) {
      const mapped = map.columns.get(k);
      if (mapped) for (const t of mapped.targets) assign(i, t);
      else {
        const canonical = FIELDS.get(k);
        if (canonical && !mappedFields.has(canonical)) assign(i, { kind: 'field', field: canonical });
      }
      return; // unmapped: not used
    }
    if (!name) {
      unnamed.push(i); // spreadsheets leave trailing empty columns; fine while they stay empty
      return;
    }
    const targets = resolveCode(index, name);
    if (!targets.length) {
      problems.push({ column: name, code: 'code-invalid', message: `unknown column ${JSON.stringify(name)}: not a code of this Measure nor subject, reporter, period, period-start, period-end, stratifier or stratum (use the map parameter to rename or drop columns)` });
      return;
    }
    for (const t of targets) assign(i, t);
  });

  if (map) {
    const present = new Set(names.map((n) => n.toLowerCase()));
    for (const [k, c] of map.columns) {
      // A map entry without its column is most likely a misspelt heading: its data would be lost.
      if (!present.has(k)) problems.push({ column: c.name, code: 'required', message: `map entry ${JSON.stringify(c.entry)}: the CSV has no column ${JSON.stringify(c.name)}` });
    }
  }
  if (field.period >= 0 && (field['period-start'] >= 0 || field['period-end'] >= 0)) {
    problems.push({ column: names[field.period], code: 'structure', message: 'give either a period column or period-start and period-end columns, not both' });
  }
  if ((field.stratifier >= 0) !== (field.stratum >= 0)) {
    const has = field.stratifier >= 0 ? 'stratifier' : 'stratum';
    const lacks = has === 'stratifier' ? 'stratum' : 'stratifier';
    problems.push({ column: names[field[has]], code: 'required', message: `a ${has} column needs a ${lacks} column` });
  }
  const data = [...kinds].sort((a, b) => a[0] - b[0]).map(([i, kind]) => ({ index: i, kind, groups: groupsOf.get(i)! }));
  return { plan: { names, field, score, count, data, unnamed }, problems };
}

function describe(index: MeasureIndex, t: Target): string {
  if (t.kind === 'field') return t.field;
  const g = index.groups[t.group]!;
  return t.kind === 'score' ? `the score of group ${primaryCode(g.code)}` : `population ${primaryCode(g.populations[t.population]!.code)} of group ${primaryCode(g.code)}`;
}
