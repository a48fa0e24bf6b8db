// SANER $report-csv, the pure part: a CSV file plus the operation's parameters in, one
// PublicHealthMeasureReport per (subject, reporter, period) and every problem with its line out.
//
// Steps: parameters -> map -> header -> rows (each parsed once, errors collected) -> groups of rows
// -> reports. The rules are those of the IG's CSV_Conversion page
// (https://github.com/HL7/fhir-saner/blob/master/input/pagecontent/CSV_Conversion.md); where the
// IG is silent (spec section 6 and 9), the decisions are written next to the code that makes them.
//
// Failure scope, from widest to narrowest:
// - bad parameters, a bad map, a bad header or a CSV syntax error: no report at all. They affect
//   every row (a misspelt column would silently lose its data in every report), or, for a syntax
//   error, the parser can no longer tell where rows end and so which reports are complete;
// - a bad row: the report its rows make up is withheld (never stored half), and each of that
//   report's other lines gets an error saying so. Other reports still convert;
// - a row whose subject, reporter or period cannot be read cannot be placed in a report. It
//   withholds every report it could have belonged to (those agreeing with its readable key cells)
//   unless it could not have added to them: an unstratified row cannot belong to a report that
//   already has its unstratified row (that would be a duplicate).
import type {
  Element,
  Extension,
  MeasureReport,
  MeasureReportGroup,
  MeasureReportGroupPopulation,
  MeasureReportGroupStratifier,
  Measure,
  Quantity,
  Reference,
} from 'fhir/r4.js';
import { canonicalUrl, primaryCode, SANER } from '../fhir/measure.js';
import { issue, type Issue } from '../fhir/outcome.js';
import { identifierKey, utcInstant } from '../fhir/identity.js';
import { readRecords, type CsvRecord } from './records.js';
import { indexMeasure, parseMap, planColumns, type ColumnMap, type ColumnPlan, type MeasureIndex, type PopulationIndex } from './columns.js';
import { isOffset, parseCount, parseDateTime, parseIdentifier, parseReferenceParameter, parseScore, type Score } from './values.js';

export interface ReportCsvParams {
  /** The registered Measure the CSV reports on (its url and groups). */
  measure: Measure;
  /** Operation parameters period-start / period-end: the period of rows that have no period cell. */
  periodStart?: string;
  periodEnd?: string;
  /** Operation parameters: `Type/id`, `system|value` or a bare value; used for rows without a subject / reporter cell. */
  reporter?: string;
  subject?: string;
  /** Every `map` parameter value as given (the parameter repeats; each value is a comma-separated list). */
  map?: string[];
  /** MeasureReport.date; default: now, to the second, in UTC. */
  now?: () => string;
  /** Zone given to dates and times written without one (see parseDateTime); default `+00:00`. */
  timezoneOffset?: string;
  /** identifier.system for subject / reporter values written without `system|`; default DEFAULT_IDENTIFIER_SYSTEM. */
  subjectSystem?: string;
  reporterSystem?: string;
}

export interface CsvRowError {
  /** 1-based line where the offending row starts; 0 for an operation parameter. */
  line: number;
  /** The column as its header names it (trimmed). */
  column?: string;
  issue: Issue;
}

export interface ReportCsvResult {
  reports: { report: MeasureReport; lines: number[] }[];
  errors: CsvRowError[];
  /** Errors found beyond the first MAX_ERRORS_KEPT, counted only. */
  errorsNotKept: number;
}

/** A report the file converts to, not built yet (see readReportCsv). */
export interface PendingReport {
  /** The lines of its rows, in file order. */
  lines: number[];
  /** Builds the report; every call builds an equal one (the same `date` included). */
  build(): MeasureReport;
}

export interface ReportCsvReading {
  reports: PendingReport[];
  errors: CsvRowError[];
  errorsNotKept: number;
}

/**
 * Bounds for a hostile file (the body limit alone lets 4 MiB become millions of errors, or a
 * quarter of a million reports). Errors beyond the first MAX_ERRORS_KEPT are counted, not kept.
 */
export const MAX_ERRORS_KEPT = 50_000;
export const MAX_COLUMNS = 1000;
export const MAX_REPORTS = 50_000;

/**
 * System of identifiers sent without one, e.g. the NHSN `orgid` of the CDC templates. A system of
 * our own: the value is only known to be unique among this consumer's senders.
 */
export const DEFAULT_IDENTIFIER_SYSTEM = 'urn:sitrep:orgid';
export const PUBLIC_HEALTH_MEASURE_REPORT = `${SANER}/StructureDefinition/PublicHealthMeasureReport`;
const DATA_ABSENT_REASON = 'http://hl7.org/fhir/StructureDefinition/data-absent-reason';
const UCUM = 'http://unitsofmeasure.org';

/** One data row, parsed once. */
interface Row {
  line: number;
  /** The row has errors of its own. */
  bad: boolean;
  /** Its field count differs from the header's. */
  ragged: boolean;
  /** subject, reporter, period start, period end as compared (identifier keys, UTC instants); null = unreadable. */
  key: (string | null)[];
  subject?: Reference;
  reporter?: Reference;
  start?: string;
  end?: string;
  /** Trimmed; both set on a stratified row. */
  stratifier?: string;
  stratum?: string;
  /** Groups this stratified row adds a stratum to, with the index of the Measure's stratifier. */
  strata?: { group: number; stratifier: number }[];
  /** Parsed value per column index; undefined where the cell is empty or not data. */
  cells: (number | Score | undefined)[];
}

/** The rows of one report. */
interface Group {
  key: (string | null)[];
  rows: Row[];
  unstratified?: Row;
  /** Created on first use, like `causes`: most reports have one row and no errors. */
  strata?: Map<string, Row>;
  /** Lines whose errors withhold this report. */
  causes?: Set<number>;
}

/** Lines named in the error of a withheld report's other rows; the rest are counted. */
const CAUSES_NAMED = 10;
const withhold = (g: Group, line: number) => (g.causes ??= new Set()).add(line);

export function convertReportCsv(csv: string | Buffer, params: ReportCsvParams): ReportCsvResult {
  const { reports, errors, errorsNotKept } = readReportCsv(csv, params);
  return { reports: reports.map((p) => ({ report: p.build(), lines: p.lines })), errors, errorsNotKept };
}

/**
 * convertReportCsv without building the reports: every row is read and checked and every error
 * found, but each report is built only when its caller asks for it. A caller that stores reports
 * one after another then never holds them all at once (20,000 reports of 30 populations are
 * ~40 MB of small objects, which young-generation collections copied again and again).
 */
export function readReportCsv(csv: string | Buffer, params: ReportCsvParams): ReportCsvReading {
  const errors: CsvRowError[] = [];
  let errorsNotKept = 0;
  // `always`: an error about the file as a whole (why nothing was stored), kept past the cap.
  const fail = (line: number, column: string | undefined, code: Issue['code'], message: string, always = false) => {
    if (errors.length >= MAX_ERRORS_KEPT && !always) {
      errorsNotKept++;
      return;
    }
    const where = line === 0 ? `parameter ${column}` : column === undefined ? `line ${line}` : `line ${line}, column ${column}`;
    errors.push(column === undefined ? { line, issue: issue(code, message, where) } : { line, column, issue: issue(code, message, where) });
  };

  // Programming errors, not input errors: the caller passes a registered Measure and its own config.
  const offset = params.timezoneOffset ?? '+00:00';
  if (!isOffset(offset)) throw new RangeError(`timezoneOffset ${JSON.stringify(offset)} is not Z or ±hh:mm`);
  if (!params.measure.url) throw new TypeError('the Measure has no url');
  const measureUrl = canonicalUrl(params.measure.url);
  const subjectSystem = params.subjectSystem ?? DEFAULT_IDENTIFIER_SYSTEM;
  const reporterSystem = params.reporterSystem ?? DEFAULT_IDENTIFIER_SYSTEM;

  // 1. Parameters. Their errors are fatal: they would apply to every row.
  const param = <T>(name: string, value: string | undefined, parse: (v: string) => { ok: true; value: T } | { ok: false; reason: string }) => {
    if (value === undefined) return undefined;
    const r = parse(value.trim());
    if (r.ok) return r.value;
    fail(0, name, 'value', `parameter ${name} ${JSON.stringify(value)}: ${r.reason}`);
    return undefined;
  };
  const periodStart = param('period-start', params.periodStart, (v) => parseDateTime(v, offset));
  const periodEnd = param('period-end', params.periodEnd, (v) => parseDateTime(v, offset));
  const subjectParam = param('subject', params.subject, (v) => parseReferenceParameter(v, subjectSystem, 'Location'));
  const reporterParam = param('reporter', params.reporter, (v) => parseReferenceParameter(v, reporterSystem, 'Organization'));
  const index = indexMeasure(params.measure);
  let map: ColumnMap | undefined;
  if (params.map?.length) {
    map = parseMap(index, params.map);
    for (const p of map.problems) fail(0, 'map', p.code, p.message);
    if (!map.columns.size && !map.problems.length) fail(0, 'map', 'value', 'parameter map has no entries');
  }
  let fatal = errors.length > 0;
  // Rows of one file repeat a handful of dates: compute each UTC instant once.
  const instants = new Map<string, string>();
  const instant = (dateTime: string) => {
    let v = instants.get(dateTime);
    if (v === undefined) instants.set(dateTime, (v = utcInstant(dateTime)));
    return v;
  };

  // 2. Header and rows, in one pass over the file.
  let plan: ColumnPlan | undefined;
  let headerLine = 1;
  const rows: Row[] = [];
  let tooWide = false;
  const syntax = readRecords(typeof csv === 'string' ? Buffer.from(csv, 'utf8') : csv, (rec) => {
    if (tooWide) return;
    // Spreadsheets export blank rows as `,,,`: no data, no error.
    if (rec.fields.every((f) => f.trim() === '')) return;
    if (!plan) {
      headerLine = rec.line;
      if (rec.fields.length > MAX_COLUMNS) {
        fail(rec.line, undefined, 'too-costly', `the header has ${rec.fields.length} columns, more than the ${MAX_COLUMNS} a file may have; nothing was read`, true);
        tooWide = true;
        return;
      }
      const planned = planColumns(rec.fields, index, map);
      plan = planned.plan;
      for (const p of planned.problems) fail(rec.line, p.column, p.code, p.message);
      const has = (f: keyof ColumnPlan['field']) => plan!.field[f] >= 0;
      // A parameter that was given but bad is reported once, above; not again as missing.
      if (!has('subject') && params.subject === undefined) fail(rec.line, 'subject', 'required', 'no subject column and no subject parameter');
      if (!has('period') && !has('period-start') && params.periodStart === undefined) fail(rec.line, 'period-start', 'required', 'no period or period-start column and no period-start parameter');
      if (!has('period') && !has('period-end') && params.periodEnd === undefined) fail(rec.line, 'period-end', 'required', 'no period or period-end column and no period-end parameter');
      fatal ||= errors.length > 0;
      return;
    }
    rows.push(readRow(rec, plan));
  });
  if (syntax) {
    fail(syntax.line, undefined, 'structure', `CSV syntax error (${syntax.code}): ${syntax.message}; the rest of the file was not read`, true);
    fatal = true;
  }
  if (!plan) {
    if (!syntax && !tooWide) fail(1, undefined, 'required', 'the CSV is empty: expected a header line', true);
    return { reports: [], errors: sortByLine(errors), errorsNotKept };
  }
  if (!rows.length && !syntax) {
    fail(headerLine, undefined, 'required', 'the CSV has a header but no data rows', true);
    fatal = true;
  }

  // 3. Rows -> groups of rows sharing subject, reporter and period, in order of first appearance.
  // A stratifier's names (its code, its text) are one stratifier: a stratum given under both is a duplicate.
  const stratifierKey = (text: string) => {
    const name = text.toLowerCase();
    for (const g of index.groups) for (const st of g.stratifiers) if (st.names.has(name)) return [...st.names].sort().join('\u001e');
    return name;
  };
  const groups = new Map<string, Group>();
  const orphans: Row[] = [];
  for (const row of rows) {
    if (row.key.includes(null)) {
      orphans.push(row);
      continue;
    }
    const k = row.key.join('\u001f');
    let g = groups.get(k);
    if (!g) {
      if (groups.size === MAX_REPORTS) {
        fail(row.line, undefined, 'too-costly', `this row starts report ${MAX_REPORTS + 1}, more than one file may convert to: split the file; nothing was stored`, true);
        fatal = true;
        break;
      }
      groups.set(k, (g = { key: row.key, rows: [] }));
    }
    g.rows.push(row);
    if (row.bad) withhold(g, row.line);
    if (row.ragged) continue; // its cells are not aligned, so it is no evidence of a duplicate either
    if (row.stratifier === undefined) {
      if (g.unstratified) {
        fail(row.line, undefined, 'duplicate', `a second row for this subject, reporter and period (the first is on line ${g.unstratified.line})`);
        withhold(g, row.line);
      } else g.unstratified = row;
    } else {
      const sk = `${stratifierKey(row.stratifier)}\u001f${row.stratum!.toLowerCase()}`;
      const first = (g.strata ??= new Map()).get(sk);
      if (first) {
        fail(row.line, plan.names[plan.field.stratum], 'duplicate', `stratifier ${JSON.stringify(row.stratifier)} stratum ${JSON.stringify(row.stratum)} appears twice in the report for this subject, reporter and period: lines ${first.line} and ${row.line}`);
        withhold(g, row.line);
      } else g.strata.set(sk, row);
    }
  }
  withholdForOrphans(groups, orphans);

  // 4. Reports, or for a withheld report an error on each of its lines that has none of its own.
  const reports: PendingReport[] = [];
  const date = (params.now ?? nowToTheSecond)();
  const columns = plan; // `plan` narrowed, for the build() closures
  for (const g of groups.values()) {
    if (g.causes) {
      const withheldBy = g.causes;
      const causes = [...withheldBy].sort((a, b) => a - b);
      // One text for all the report's rows, naming a few of the lines: the whole list on each row
      // made rows x bad lines of text (a 718 kB file: 18 s and 683 MB).
      const named = causes.length > CAUSES_NAMED ? `${causes.slice(0, CAUSES_NAMED).join(', ')} and ${causes.length - CAUSES_NAMED} more` : causes.join(', ');
      const why = `not converted: the report for the same subject, reporter and period has errors on line${causes.length > 1 ? 's' : ''} ${named}`;
      for (const row of g.rows) {
        if (!withheldBy.has(row.line)) fail(row.line, undefined, 'processing', why);
      }
    } else if (!fatal) {
      reports.push({ lines: g.rows.map((r) => r.line), build: () => buildReport(g, columns, index, measureUrl, date) });
    }
  }
  return { reports: fatal ? [] : reports, errors: sortByLine(errors), errorsNotKept };

  // Parses one data row; records its errors. Closes over the parameters and `fail`.
  function readRow(rec: CsvRecord, plan: ColumnPlan): Row {
    const { line, fields } = rec;
    const row: Row = { line, bad: false, ragged: false, key: [null, null, null, null], cells: [] };
    // A ragged row's cells cannot be trusted to sit under their headers; its key is read by
    // position anyway (key columns lead in every layout seen) so that the report it most likely
    // belongs to is the one withheld. Its cells are not checked: errors there would be noise.
    const ragged = (row.ragged = fields.length !== plan.names.length);
    if (ragged) {
      fail(line, undefined, 'structure', `the row has ${fields.length} field${fields.length === 1 ? '' : 's'}, the header has ${plan.names.length}`);
      row.bad = true;
    }
    const err = (col: number, code: Issue['code'], message: string) => {
      row.bad = true;
      if (!ragged) fail(line, plan.names[col], code, message);
    };
    const cell = (col: number) => (col >= 0 ? (fields[col] ?? '').trim() : '');
    const f = plan.field;

    // Subject and reporter: the cell, else the parameter.
    const ref = (col: number, system: string, type: string, fallback: Reference | undefined, given: boolean, required: boolean) => {
      const text = cell(col);
      if (!text) {
        // No column and no parameter is a header error already; an empty cell is this row's.
        if (!given && required && col >= 0) err(col, 'required', `empty ${plan.names[col]} and no ${type === 'Location' ? 'subject' : 'reporter'} parameter`);
        return { ref: fallback, key: fallback ? identifierKey(fallback) : required ? null : '' };
      }
      const id = parseIdentifier(text, system);
      if (!id.ok) {
        err(col, 'value', id.reason);
        return { ref: undefined, key: null };
      }
      const r: Reference = { type, identifier: id.value };
      return { ref: r, key: identifierKey(r) };
    };
    const subject = ref(f.subject, subjectSystem, 'Location', subjectParam, params.subject !== undefined, true);
    const reporter = ref(f.reporter, reporterSystem, 'Organization', reporterParam, params.reporter !== undefined, false);
    row.subject = subject.ref;
    row.reporter = reporter.ref;

    // Period: period-start / period-end cells, else the period cell, else the parameters.
    const when = (col: number, fallback: string | undefined, given: boolean, name: string) => {
      const text = cell(col);
      if (!text) {
        if (!given && col >= 0) err(col, 'required', `empty ${plan.names[col]} and no ${name} parameter`);
        return fallback;
      }
      const d = parseDateTime(text, offset);
      if (d.ok) return d.value;
      err(col, 'value', d.reason);
      return undefined;
    };
    const startCol = f['period-start'] >= 0 ? f['period-start'] : f.period;
    const endCol = f['period-end'] >= 0 ? f['period-end'] : f.period;
    if (f.period >= 0 && cell(f.period)) {
      row.start = row.end = when(f.period, undefined, true, 'period'); // IG: `period` when start = end
    } else {
      row.start = when(startCol, periodStart, params.periodStart !== undefined, 'period-start');
      // An empty `period` cell without parameters is one error, not two.
      const reported = endCol === startCol && params.periodStart === undefined;
      row.end = when(endCol, periodEnd, params.periodEnd !== undefined || reported, 'period-end');
    }
    if (row.start && row.end && row.start !== row.end && Date.parse(row.end) < Date.parse(row.start)) {
      err(endCol, 'invariant', `period end ${row.end} is before its start ${row.start}`);
    }
    row.key = [subject.key, reporter.key, row.start ? instant(row.start) : null, row.end ? instant(row.end) : null];

    if (f.stratifier >= 0) {
      const [s, t] = [cell(f.stratifier), cell(f.stratum)];
      if (s && t) [row.stratifier, row.stratum] = [s, t];
      else if (s) err(f.stratum, 'required', `stratifier ${JSON.stringify(s)} without a stratum`);
      else if (t) err(f.stratifier, 'required', `stratum ${JSON.stringify(t)} without a stratifier`);
    }
    if (ragged) return row;

    for (const { index: col, kind } of plan.data) {
      const text = cell(col);
      if (!text) continue;
      const v = kind === 'count' ? parseCount(text) : parseScore(text);
      if (v.ok) row.cells[col] = v.value;
      else err(col, 'value', v.reason);
    }
    for (const col of plan.unnamed) {
      if (!cell(col)) continue;
      fail(line, `#${col + 1}`, 'structure', `a value in column ${col + 1}, which has no name in the header`);
      row.bad = true;
    }

    // A stratified row adds a stratum to each group that has data in the row and defines the
    // stratifier. Population codes may be shared by groups (numC19Pats in both Encounters and
    // CovidDeaths of ComputableCDCPatientImpactAndHospitalCapacity), so a group lacking the
    // stratifier is not an error in itself; a value that no group can take is: it would be lost.
    if (row.stratifier !== undefined) {
      const name = row.stratifier.toLowerCase();
      const stratifierOf = index.groups.map((g) => g.stratifiers.findIndex((s) => s.names.has(name)));
      const fed = new Set<number>();
      for (const { index: col, groups } of plan.data) {
        if (row.cells[col] === undefined) continue;
        const takers = groups.filter((gi) => stratifierOf[gi]! >= 0);
        if (takers.length) for (const gi of takers) fed.add(gi);
        else {
          const names = groups.map((gi) => primaryCode(index.groups[gi]!.code)).join(', ');
          err(col, 'code-invalid', `stratifier ${JSON.stringify(row.stratifier)} is not defined by the Measure for group ${names}, so this value has nowhere to go`);
        }
      }
      row.strata = [...fed].sort((a, b) => a - b).map((gi) => ({ group: gi, stratifier: stratifierOf[gi]! }));
    }
    return row;
  }
}

/**
 * Rows whose key is partly unreadable withhold the reports they may belong to. Reports are looked
 * up by the readable key parts, one index per pattern of unreadable parts (at most 16), so this
 * stays linear in rows plus reports.
 */
function withholdForOrphans(groups: Map<string, Group>, orphans: Row[]): void {
  const byPattern = new Map<string, Map<string, Group[]>>();
  for (const o of orphans) {
    const pattern = o.key.map((k) => (k === null ? '0' : '1')).join('');
    let lookup = byPattern.get(pattern);
    if (!lookup) {
      lookup = new Map();
      for (const g of groups.values()) {
        const pk = g.key.filter((_, i) => pattern[i] === '1').join('\u001f');
        lookup.set(pk, [...(lookup.get(pk) ?? []), g]);
      }
      byPattern.set(pattern, lookup);
    }
    const pk = o.key.filter((k) => k !== null).join('\u001f');
    for (const g of lookup.get(pk) ?? []) {
      if (o.stratifier !== undefined || !g.unstratified) withhold(g, o.line);
    }
  }
}

function buildReport(g: Group, plan: ColumnPlan, index: MeasureIndex, measure: string, date: string): MeasureReport {
  const first = g.rows[0]!; // the IG takes subject, reporter and period from the first row
  const report: MeasureReport = {
    resourceType: 'MeasureReport',
    meta: { profile: [PUBLIC_HEALTH_MEASURE_REPORT] },
    status: 'complete',
    type: 'summary',
    measure,
    subject: copyReference(first.subject!),
    date,
    period: { start: first.start!, end: first.end! },
  };
  if (first.reporter) report.reporter = copyReference(first.reporter);

  const stratifiers = new Map<string, MeasureReportGroupStratifier>();
  report.group = index.groups.map((gi, i): MeasureReportGroup => {
    const group: MeasureReportGroup = {
      code: gi.code,
      population: gi.populations.map((p, pi) => population(p, plan.count[i]![pi]!, g.unstratified)),
    };
    const score = measureScore(plan.score[i]!, g.unstratified);
    if (score) group.measureScore = score;
    for (const row of g.rows) {
      if (row.stratifier === undefined) continue;
      for (const s of row.strata ?? []) {
        if (s.group !== i) continue;
        const def = gi.stratifiers[s.stratifier]!;
        const sk = `${i}:${s.stratifier}`;
        let stratifier = stratifiers.get(sk);
        if (!stratifier) {
          stratifiers.set(sk, (stratifier = { code: [def.code], stratum: [] }));
          (group.stratifier ??= []).push(stratifier);
        }
        // SANER forbids stratum.value (profile: 0..0); a stratum is named by one component whose
        // code is the stratifier's and whose value is the CSV's stratum text.
        const stratumScore = measureScore(plan.score[i]!, row);
        stratifier.stratum!.push({
          component: [{ code: def.code, value: { text: row.stratum! } }],
          population: gi.populations.map((p, pi) => population(p, plan.count[i]![pi]!, row)),
          ...(stratumScore ? { measureScore: stratumScore } : {}),
        });
      }
    }
    return group;
  });
  return report;
}

/**
 * Every population of the Measure is reported (the profile wants population 1..*, and a rollup
 * must tell "absent" from 0). A missing count carries a data-absent-reason on `_count`: `unknown`
 * for an empty cell (or no unstratified row: the total was not given), `unsupported` when the file
 * has no column for it at all (as the SANER examples mark values a source does not report).
 */
function population(p: PopulationIndex, col: number, row: Row | undefined): MeasureReportGroupPopulation {
  const out: MeasureReportGroupPopulation = { code: p.code };
  const v = col >= 0 ? row?.cells[col] : undefined;
  if (typeof v === 'number') out.count = v;
  else out._count = col < 0 ? UNSUPPORTED : UNKNOWN;
  return out;
}

function measureScore(col: number, row: Row | undefined): Quantity | undefined {
  const v = col >= 0 ? row?.cells[col] : undefined;
  if (v === undefined || typeof v === 'number') return undefined;
  return v.percent ? { value: v.value, unit: '%', system: UCUM, code: '%' } : { value: v.value };
}

// Shared and frozen, like the codes (see reportCode).
const absent = (code: string): Element => Object.freeze({ extension: Object.freeze([Object.freeze({ url: DATA_ABSENT_REASON, valueCode: code })]) as Extension[] });
const UNKNOWN = absent('unknown');
const UNSUPPORTED = absent('unsupported');

/** Rows that fall back to a parameter share its Reference: each report gets its own. */
function copyReference(r: Reference): Reference {
  const id = r.identifier;
  if (!id) return { reference: r.reference! };
  const identifier = id.system === undefined ? { value: id.value! } : { system: id.system, value: id.value! };
  return r.type === undefined ? { identifier } : { type: r.type, identifier };
}

function nowToTheSecond(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

function sortByLine(errors: CsvRowError[]): CsvRowError[] {
  return errors.sort((a, b) => a.line - b.line); // stable: within a line, the order found
}
