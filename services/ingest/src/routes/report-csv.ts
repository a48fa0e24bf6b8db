// SANER CSV option: POST [base]/Measure/[id]/$report-csv (OperationDefinition Measure-report-csv,
// shared/spec/saner.md section 6). Contract, decisions and curl examples: docs/report-csv.md.
//
// One request:
//   Measure registered? (404) -> media type (415) -> body (413) -> parameters (400)
//   -> readReportCsv (pure, shared/src/csv: every row read and checked, reports not built yet)
//   -> per report, at most maxInFlight at once: build -> Acceptor.accept() -> drop it
//   -> answer (a report that was not stored is built again to describe it)
//
// - Input: a `text/csv` body with the other parameters in the query string, or FHIR JSON: a
//   `Parameters` resource (input as a Binary resource or a valueAttachment, base64), or the Binary
//   itself with the other parameters in the query string. A parameter may come from the query or
//   the body, not both.
// - Every converted report goes through Acceptor.accept() like a single create: validation against
//   the Measure, identity by business key (re-sending a file updates the same resources, 200, never
//   duplicates them) and a durable publish.
// - Failure scope (partial success is the point: one bad row must not sink the file):
//   400  parameters, map, header or CSV syntax unusable: nothing converts, one OperationOutcome;
//   422  nothing stored: every row or every converted report failed, one OperationOutcome that
//        names each problem with its CSV line (and column);
//   200  at least one report stored: a batch-response Bundle, one entry per converted report
//        (201/200 with location and version, or its 4xx/503 and outcome), then an entry whose
//        resource is the OperationOutcome of the conversion (summary, every row error).
//   503  Kafka down and nothing stored (DependencyUnavailableError -> the app's error handler).
//        Kafka down after some reports were stored: 200 + Retry-After, the stored ones listed,
//        the others `503` (re-sending the file is safe).
// - Defaults where the IG lets the server decide: reporter = the `reporter` column, else the
//   parameter, else the sender (`urn:sitrep:sender|<sender id>`, today `anonymous`); a subject or
//   reporter `Type/id` must name a registered Location (its first identifier is used) or a
//   reporter type (kept as a literal reference).
import { Router, raw, type NextFunction, type Request, type Response } from 'express';
import { isUtf8 } from 'node:buffer';
import { STATUS_CODES } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Bundle, BundleEntry, Measure, MeasureReport, OperationOutcome, OperationOutcomeIssue, Reference } from 'fhir/r4.js';
import { DependencyUnavailableError, OperationOutcomeError } from '@sitrep/shared/errors';
import { issue, outcome, type Issue } from '@sitrep/shared/fhir/outcome';
import { readReportCsv, type CsvRowError, type PendingReport, type ReportCsvParams } from '@sitrep/shared/csv/report-csv';
import { readRecords } from '@sitrep/shared/csv/records';
import { isOffset, parseReferenceParameter } from '@sitrep/shared/csv/values';
import type { Logger } from '@sitrep/shared/log';
import { storedResource, type AcceptContext, type Accepted, type Acceptor } from '../accept.js';
import type { Catalog } from '../catalog.js';
import { acceptContext, baseUrl, mediaType, requireJsonResponse, withMeta } from '../http.js';

export interface ReportCsvRouteDeps {
  acceptor: Acceptor;
  catalog: Catalog;
  log: Logger;
  /** Body limit (the CSV, or the JSON carrying it in base64): 413 above it. */
  maxBodyBytes: number;
  publicBaseUrl?: string | undefined;
  retryAfterSeconds?: number;
  /** Reports being accepted at once (default 2000): two produce batches' worth, see Publisher. */
  maxInFlight?: number;
}

/** Reporter of reports whose file and request name none: the sender (SANER: "the server may decide"). */
export const SENDER_SYSTEM = 'urn:sitrep:sender';
/** Standard extension (FHIR extensions pack) for the source line of an issue. */
export const ISSUE_LINE_URL = 'http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-line';
/** Row errors listed at most; later ones are counted (keeps the answer bounded for a file of garbage). */
export const MAX_LISTED_ERRORS = 1000;

const PATHS = ['/Measure/:id/$report-csv', '/Measure/:id/%24report-csv'];
const CSV_TYPE = 'text/csv';
const JSON_TYPES = new Set(['application/fhir+json', 'application/json', 'application/json+fhir']);
const SINGLE = ['period-start', 'period-end', 'reporter', 'subject', 'timezone-offset'] as const;
type SingleName = (typeof SINGLE)[number];
/** Query parameters that are not operation parameters. */
const GENERAL = new Set(['_format', '_pretty']);
const REPORTER_TYPES = new Set(['Organization', 'Location', 'Practitioner', 'PractitionerRole']);
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const COMMA = Buffer.from(',');

/** The operation's inputs, from wherever they came. */
interface Inputs {
  csv: Buffer;
  single: Partial<Record<SingleName, { value: string; where: string }>>;
  map: string[];
}

type Outcome =
  | { kind: 'ok'; accepted: Accepted }
  | { kind: 'failed'; status: number; outcome: OperationOutcome }
  | { kind: 'unavailable'; outcome: OperationOutcome };

export function reportCsvRoutes(d: ReportCsvRouteDeps): Router {
  const router = Router();
  const body = raw({ type: () => true, limit: d.maxBodyBytes });
  const maxInFlight = d.maxInFlight ?? 2000;
  const retryAfter = String(d.retryAfterSeconds ?? 5);

  // Refusals that need no body, before reading it: 404, 415 (and _format=xml).
  const precheck = (req: Request, _res: Response, next: NextFunction) => {
    requireJsonResponse(req);
    registeredMeasure(d.catalog, String(req.params.id));
    const type = mediaType(req);
    if (type !== CSV_TYPE && !JSON_TYPES.has(type)) {
      throw OperationOutcomeError.single(415, 'not-supported', `unsupported media type "${type || '(none)'}": send text/csv, or application/fhir+json with a Parameters resource`);
    }
    const charset = /;\s*charset="?([^";]+)"?/i.exec(req.headers['content-type'] ?? '')?.[1]?.toLowerCase();
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8' && charset !== 'us-ascii') {
      throw OperationOutcomeError.single(415, 'not-supported', `charset ${charset} is not supported: send UTF-8`);
    }
    next();
  };

  router.post(PATHS, precheck, body, async (req: Request, res: Response) => {
    const started = performance.now();
    const measureId = String(req.params.id);
    const measure = registeredMeasure(d.catalog, measureId);
    const ctx = acceptContext(req, res);
    const inputs = mediaType(req) === CSV_TYPE ? csvBody(req) : jsonBody(req);
    const { params, subjectReference } = resolveParameters(inputs, measure, d.catalog, ctx);

    const converted = readReportCsv(inputs.csv, params);
    const reports = subjectReference ? converted.reports.map((p) => linkSubject(p, params.subject!, subjectReference)) : converted.reports;
    const rowErrors = converted.errors;
    const notKept = converted.errorsNotKept;
    if (reports.length === 0) {
      // Nothing to store. 400 when the request as a whole is unusable, 422 when its rows are.
      const status = unusable(inputs.csv, rowErrors) ? 400 : 422;
      d.log.info({ requestId: ctx.requestId, measure: measureId, status, errors: rowErrors.length + notKept, ms: Math.round(performance.now() - started) }, 'report_csv');
      const summary = status === 422 ? [summaryIssue(0, [], rowErrors, notKept)] : [];
      throw new OperationOutcomeError(status, outcome([...summary, ...listed(rowErrors, notKept)]));
    }

    const base = baseUrl(req, d.publicBaseUrl);
    // Reports are included only when asked for: prefer() defaults to representation, which for a
    // file of 20,000 rows would echo 20,000 reports.
    const representation = /return\s*=\s*"?representation/.test(String(req.headers.prefer ?? ''));
    // Each entry of the answer is encoded as soon as its report settled, while later reports wait
    // for Kafka, rather than all of them after the last one (~10 % of the request's time for
    // 20,000 rows, with Kafka idle): at the end the entries are only copied into one Buffer.
    // Wasted only when nothing is stored (422, 503).
    const entries: Buffer[] = new Array(reports.length);
    const results = await acceptAll(d.acceptor, reports, ctx, maxInFlight, d.log, (i, r) => {
      entries[i] = Buffer.from(JSON.stringify(responseEntry(r, reports[i]!, base, representation)));
    });
    const stored = results.filter((r): r is Extract<Outcome, { kind: 'ok' }> => r.kind === 'ok');
    const unavailable = results.some((r) => r.kind === 'unavailable');
    const ms = Math.round(performance.now() - started);
    const created = stored.filter((r) => r.accepted.created).length;
    d.log.info(
      { requestId: ctx.requestId, measure: measureId, reports: results.length, created, updated: stored.length - created, rejected: results.length - stored.length, errors: rowErrors.length + notKept, kafkaDown: unavailable, ms },
      'report_csv',
    );

    if (stored.length === 0) {
      if (unavailable) throw new DependencyUnavailableError('kafka', 'Kafka unavailable: no report of the CSV was stored');
      const bug = results.find((r) => r.kind === 'failed' && r.status === 500);
      if (bug) throw new Error(`every report of the CSV failed; the first with an internal error (request id ${ctx.requestId})`);
      // The issues of the first refused reports: every report of a large file can be refused.
      const all = results.flatMap((r, i) => (r.kind === 'failed' ? rejectionIssues(reports[i]!, r.status, r.outcome) : []));
      const rejected = all.slice(0, MAX_LISTED_ERRORS);
      if (all.length > rejected.length) rejected.push(issue('too-costly', `${all.length - rejected.length} further issues of refused reports are not listed`, undefined, 'warning'));
      throw OperationOutcomeError.of(422, [summaryIssue(results.length, results, rowErrors, notKept), ...listed(rowErrors, notKept), ...rejected]);
    }

    const final = outcome([summaryIssue(results.length, results, rowErrors, notKept), ...listed(rowErrors, notKept)]);
    if (unavailable) {
      res.setHeader('Retry-After', retryAfter);
      final.issue.push(
        issue('transient', 'Kafka became unavailable: the reports listed with 503 may not have been stored. Re-send the file after Retry-After seconds; reports already stored are updated, not duplicated'),
      );
    }
    const last: BundleEntry = { resource: final, response: { status: statusLine(rowErrors.length > 0 ? 422 : 200) } };
    entries.push(Buffer.from(JSON.stringify(last)));
    const bundle: Bundle = { resourceType: 'Bundle', id: randomUUID(), type: 'batch-response', timestamp: new Date().toISOString() };
    res.status(200).type('application/fhir+json').send(withEntries(bundle, entries));
  });

  router.all(PATHS, (req, res) => {
    res.setHeader('Allow', 'POST');
    throw OperationOutcomeError.single(405, 'not-supported', `${req.method} is not supported on ${req.path}; supported: POST`);
  });
  return router;
}

function registeredMeasure(catalog: Catalog, id: string): Measure {
  const stored = catalog.getReference('Measure', id);
  if (!stored) throw OperationOutcomeError.single(404, 'not-found', `Measure/${id} is not registered: PUT /Measure/${id} first`);
  return stored.resource as unknown as Measure;
}

// ---------------------------------------------------------------- inputs

/** The parameters of the query string (repeated ones are arrays with Express' simple parser). */
function queryInputs(req: Request, into: Inputs): Issue[] {
  const problems: Issue[] = [];
  for (const [name, raw] of Object.entries(req.query)) {
    if (GENERAL.has(name)) continue;
    const values = (Array.isArray(raw) ? raw : [raw]).map((v) => (typeof v === 'string' ? v : undefined));
    const where = `parameter ${name}`;
    if (values.some((v) => v === undefined)) {
      problems.push(issue('structure', `query parameter ${name} is not a plain value`, where));
    } else if (name === 'map') {
      into.map.push(...(values as string[]));
    } else if ((SINGLE as readonly string[]).includes(name)) {
      if (values.length > 1) problems.push(issue('structure', `parameter ${name} is given ${values.length} times; it takes one value`, where));
      else into.single[name as SingleName] = { value: values[0]!, where };
    } else if (name === 'input') {
      problems.push(issue('not-supported', 'the input parameter is the request body (text/csv), or a Binary in a Parameters body; not a query parameter', where));
    } else {
      problems.push(issue('not-supported', `unknown parameter ${JSON.stringify(name)}: $report-csv takes period-start, period-end, reporter, subject, map (and sitrep's timezone-offset)`, where));
    }
  }
  return problems;
}

function csvBody(req: Request): Inputs {
  const inputs: Inputs = { csv: bodyBytes(req), single: {}, map: [] };
  const problems = queryInputs(req, inputs);
  if (problems.length) throw OperationOutcomeError.of(400, problems);
  return inputs;
}

function bodyBytes(req: Request): Buffer {
  return Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
}

/** A Parameters resource, or a Binary (the one resource input) with the other parameters in the query. */
function jsonBody(req: Request): Inputs {
  const raw = bodyBytes(req);
  if (raw.length === 0) throw OperationOutcomeError.single(400, 'structure', 'the request has no body');
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw OperationOutcomeError.single(400, 'structure', `the body is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(json) || (json.resourceType !== 'Parameters' && json.resourceType !== 'Binary')) {
    throw OperationOutcomeError.single(400, 'structure', 'a JSON body must be a Parameters resource (or the input Binary alone)', 'resourceType');
  }
  const inputs: Inputs = { csv: Buffer.alloc(0), single: {}, map: [] };
  const problems: Issue[] = [];
  let csv: Buffer | undefined;
  let inputSeen = false;
  if (json.resourceType === 'Binary') {
    inputSeen = true;
    csv = fromBinary(json, 'Binary', problems);
  } else {
    const list = json.parameter ?? [];
    if (!Array.isArray(list)) throw OperationOutcomeError.single(400, 'structure', 'Parameters.parameter must be an array', 'Parameters.parameter');
    list.forEach((p: unknown, i: number) => {
      const at = `Parameters.parameter[${i}]`;
      if (!isObject(p) || typeof p.name !== 'string') {
        problems.push(issue('structure', 'every parameter needs a name', at));
        return;
      }
      const name = p.name;
      if (name === 'input') {
        const twice = inputSeen;
        inputSeen = true;
        if (twice) problems.push(issue('structure', 'parameter input is given twice; it takes one file', at));
        else if (isObject(p.resource)) {
          if (p.resource.resourceType !== 'Binary') problems.push(issue('structure', `input must be a Binary resource, not ${JSON.stringify(p.resource.resourceType)}`, `${at}.resource`));
          else csv = fromBinary(p.resource, `${at}.resource`, problems);
        } else if (isObject(p.valueAttachment)) {
          csv = fromAttachment(p.valueAttachment, `${at}.valueAttachment`, problems);
        } else problems.push(issue('required', 'input needs a Binary resource (or a valueAttachment) with base64 data', at));
        return;
      }
      const value = parameterValue(p, at, problems);
      if (value === undefined) return;
      if (name === 'map') inputs.map.push(value.value);
      else if ((SINGLE as readonly string[]).includes(name)) {
        if (inputs.single[name as SingleName]) problems.push(issue('structure', `parameter ${name} is given twice; it takes one value`, at));
        else inputs.single[name as SingleName] = value;
      } else {
        problems.push(issue('not-supported', `unknown parameter ${JSON.stringify(name)}: $report-csv takes input, period-start, period-end, reporter, subject, map (and sitrep's timezone-offset)`, `${at}.name`));
      }
    });
    if (!inputSeen) {
      problems.push(issue('required', 'parameter input (the CSV file, a Binary with contentType text/csv) is required', 'Parameters.parameter'));
    }
  }
  // Parameters may also come from the query string, but each from one place only.
  const fromQuery: Inputs = { csv: Buffer.alloc(0), single: {}, map: [] };
  problems.push(...queryInputs(req, fromQuery));
  for (const name of SINGLE) {
    const q = fromQuery.single[name];
    if (!q) continue;
    if (inputs.single[name]) problems.push(issue('structure', `parameter ${name} is given both in the query and in the body`, q.where));
    else inputs.single[name] = q;
  }
  if (fromQuery.map.length && inputs.map.length) problems.push(issue('structure', 'parameter map is given both in the query and in the body; give all map values in one place', 'parameter map'));
  else inputs.map.push(...fromQuery.map);
  if (problems.length) throw OperationOutcomeError.of(400, problems);
  inputs.csv = csv!;
  return inputs;
}

/** A primitive parameter as a string, from the value[x] types that make sense for it. */
function parameterValue(p: Record<string, unknown>, at: string, problems: Issue[]): { value: string; where: string } | undefined {
  for (const key of ['valueString', 'valueDate', 'valueDateTime', 'valueInstant', 'valueCode', 'valueUri']) {
    if (typeof p[key] === 'string') return { value: p[key] as string, where: `${at}.${key}` };
  }
  const ref = p.valueReference;
  if (isObject(ref)) {
    const id = ref.identifier;
    if (isObject(id) && typeof id.value === 'string') return { value: `${typeof id.system === 'string' ? id.system : ''}|${id.value}`, where: `${at}.valueReference.identifier` };
    if (typeof ref.reference === 'string') return { value: ref.reference, where: `${at}.valueReference.reference` };
    problems.push(issue('required', 'valueReference needs an identifier (system and value) or a reference Type/id', `${at}.valueReference`));
    return undefined;
  }
  const ident = p.valueIdentifier;
  if (isObject(ident) && typeof ident.value === 'string') return { value: `${typeof ident.system === 'string' ? ident.system : ''}|${ident.value}`, where: `${at}.valueIdentifier` };
  problems.push(issue('required', `parameter ${String(p.name)} needs a value (valueString, valueDate, valueReference ...)`, at));
  return undefined;
}

function fromBinary(b: Record<string, unknown>, at: string, problems: Issue[]): Buffer | undefined {
  if (typeof b.contentType !== 'string') {
    problems.push(issue('required', 'Binary.contentType is required: text/csv', `${at}.contentType`));
    return undefined;
  }
  return decodeCsv(b.contentType, b.data, at, problems);
}

function fromAttachment(a: Record<string, unknown>, at: string, problems: Issue[]): Buffer | undefined {
  if (a.url !== undefined && a.data === undefined) {
    problems.push(issue('not-supported', 'an attachment by url is not fetched: send the CSV inline as base64 data', `${at}.url`));
    return undefined;
  }
  return decodeCsv(typeof a.contentType === 'string' ? a.contentType : CSV_TYPE, a.data, at, problems);
}

function decodeCsv(contentType: string, data: unknown, at: string, problems: Issue[]): Buffer | undefined {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  if (type !== CSV_TYPE) {
    // NOTE: a 415 by meaning, but reported with the other parameter problems as one 400.
    problems.push(issue('not-supported', `input contentType ${JSON.stringify(contentType)} is not supported: text/csv`, `${at}.contentType`));
    return undefined;
  }
  if (typeof data !== 'string') {
    problems.push(issue('required', 'the CSV must be inline: data (base64) is required', `${at}.data`));
    return undefined;
  }
  const compact = data.replace(/\s+/g, '');
  if (compact.length % 4 !== 0 || !BASE64.test(compact)) {
    problems.push(issue('value', 'data is not valid base64', `${at}.data`));
    return undefined;
  }
  return Buffer.from(compact, 'base64');
}

// ---------------------------------------------------------------- parameters

/**
 * The converter's parameters: the subject `Location/id` resolved to the registered Location's
 * identifier, the reporter checked and defaulted to the sender, the zone checked.
 */
function resolveParameters(inputs: Inputs, measure: Measure, catalog: Catalog, ctx: AcceptContext): { params: ReportCsvParams; subjectReference?: string } {
  const problems: Issue[] = [];
  const s = inputs.single;
  if (!isUtf8(inputs.csv)) problems.push(issue('structure', 'the CSV is not valid UTF-8', 'input'));
  const params: ReportCsvParams = { measure, map: inputs.map };
  let subjectReference: string | undefined;
  if (s['period-start']) params.periodStart = s['period-start'].value;
  if (s['period-end']) params.periodEnd = s['period-end'].value;

  const tz = s['timezone-offset'];
  if (tz) {
    if (isOffset(tz.value.trim())) params.timezoneOffset = tz.value.trim();
    else problems.push(issue('value', `timezone-offset ${JSON.stringify(tz.value)} is not Z or ±hh:mm (e.g. -05:00)`, tz.where));
  }

  const subject = s.subject;
  if (subject) {
    const parsed = parseReferenceParameter(subject.value, 'urn:unused', 'Location');
    const reference = parsed.ok ? parsed.value.reference : undefined;
    if (reference === undefined) params.subject = subject.value; // an identifier, or bad: the converter says why
    else {
      const [type, id] = reference.split('/') as [string, string];
      const location = type === 'Location' ? catalog.getReference('Location', id) : undefined;
      const identifiers = (location?.resource.identifier as { system?: unknown; value?: unknown }[] | undefined) ?? [];
      const first = identifiers.find((i) => typeof i?.value === 'string' && i.value !== '');
      if (type !== 'Location') problems.push(issue('value', `subject ${reference}: the subject of a SANER report is a Location (Location/id or system|value)`, subject.where));
      else if (!location) problems.push(issue('not-found', `subject ${reference} is not registered: PUT it first, or give its identifier as system|value`, subject.where));
      else if (!first) problems.push(issue('value', `subject ${reference} has no identifier, which every report subject needs: give one as system|value`, subject.where));
      else {
        params.subject = `${typeof first.system === 'string' ? first.system : ''}|${first.value as string}`;
        subjectReference = reference;
      }
    }
  }

  const reporter = s.reporter;
  if (reporter) {
    const parsed = parseReferenceParameter(reporter.value, 'urn:unused', 'Organization');
    const type = parsed.ok ? parsed.value.reference?.split('/')[0] : undefined;
    if (type !== undefined && !REPORTER_TYPES.has(type)) problems.push(issue('value', `reporter ${reporter.value}: a reporter is an ${[...REPORTER_TYPES].join(', ')}`, reporter.where));
    params.reporter = reporter.value;
  } else {
    // Rows without a reporter cell fall back to the parameter: the sender stands in for it.
    params.reporter = `${SENDER_SYSTEM}|${ctx.sender.id}`;
  }
  if (problems.length) throw OperationOutcomeError.of(400, problems);
  return subjectReference ? { params, subjectReference } : { params };
}

/** Reports about the Location the subject parameter named keep the reference next to its identifier. */
function linkSubject(pending: PendingReport, identifier: string, reference: string): PendingReport {
  const bar = identifier.indexOf('|');
  const [system, value] = [identifier.slice(0, bar), identifier.slice(bar + 1)];
  return {
    lines: pending.lines,
    build: () => {
      const report = pending.build();
      const id = report.subject?.identifier;
      if (id && (id.system ?? '') === system && id.value === value && !report.subject!.reference) report.subject = { reference, ...report.subject };
      return report;
    },
  };
}

// ---------------------------------------------------------------- conversion results

/**
 * True when no row could have converted because of the request as a whole: a bad parameter
 * (line 0), a bad header, an empty file or a CSV syntax error. Only called when nothing converted,
 * so the second parse costs nothing on the success path.
 */
function unusable(csv: Buffer, errors: CsvRowError[]): boolean {
  if (errors.some((e) => e.line === 0)) return true;
  let header: number | undefined;
  const syntax = readRecords(csv, (r) => {
    if (header === undefined && r.fields.some((f) => f.trim() !== '')) header = r.line;
  });
  return syntax !== undefined || header === undefined || errors.some((e) => e.line === header);
}

/** The converter's first MAX_LISTED_ERRORS issues, each marked with its line; `notKept`: errors it counted without keeping them. */
function listed(errors: CsvRowError[], notKept: number): Issue[] {
  const out = errors.slice(0, MAX_LISTED_ERRORS).map((e) => (e.line > 0 ? withLine(e.issue, e.line) : e.issue));
  const further = errors.length + notKept - MAX_LISTED_ERRORS;
  if (further > 0) {
    out.push(issue('too-costly', `${further} further errors are counted but not listed (only the first ${MAX_LISTED_ERRORS} are)`, undefined, 'warning'));
  }
  return out;
}

function withLine(i: Issue, line: number): Issue {
  return { ...i, extension: [...(i.extension ?? []), { url: ISSUE_LINE_URL, valueInteger: line }] };
}

function linesText(lines: number[]): string {
  return `line${lines.length > 1 ? 's' : ''} ${lines.join(', ')}`;
}

function summaryIssue(reports: number, results: Outcome[], errors: CsvRowError[], notKept: number): Issue {
  const created = results.filter((r) => r.kind === 'ok' && r.accepted.created).length;
  const stored = results.filter((r) => r.kind === 'ok').length;
  const badLines = new Set(errors.filter((e) => e.line > 0).map((e) => e.line)).size;
  const count = errors.length + notKept;
  // Lines are known only for the errors kept.
  const lines = `${notKept > 0 ? 'at least ' : ''}${badLines} line${badLines === 1 ? '' : 's'}`;
  return issue(
    'informational',
    `${reports} report${reports === 1 ? '' : 's'} converted: ${stored} stored (${created} created, ${stored - created} updated), ${reports - stored} not stored; ${count} error${count === 1 ? '' : 's'} on ${lines} of the CSV`,
    undefined,
    'information',
  );
}

/** A report the Acceptor refused, as issues of the one OperationOutcome of a 422. */
function rejectionIssues(c: PendingReport, status: number, oo: OperationOutcome): Issue[] {
  const first = c.lines[0]!;
  return [
    withLine(issue('processing', `the report from ${linesText(c.lines)} was converted but not stored (${statusLine(status)}): ${describe(c.build())}`, linesText(c.lines)), first),
    ...oo.issue.map((i) => withLine(i, first)),
  ];
}

function describe(r: MeasureReport): string {
  const id = (ref: Reference | undefined) => (ref?.identifier ? `${ref.identifier.system ?? ''}|${ref.identifier.value ?? ''}` : (ref?.reference ?? '(none)'));
  return `subject ${id(r.subject)}, reporter ${id(r.reporter)}, period ${r.period.start} .. ${r.period.end}`;
}

// ---------------------------------------------------------------- accepting

/**
 * Accepts every report, at most `maxInFlight` at once (the Publisher gathers them into produce
 * requests; an unbounded queue would let late reports time out waiting behind early ones).
 * After the first Kafka failure the remaining reports are not attempted: they would fail the same
 * way after a publish timeout each.
 * Each report is built just before it is accepted and is not kept: accept() validates and encodes
 * it before it returns and then holds only the record's bytes while Kafka is waited on, so the
 * reports of a file never all exist at once (see readReportCsv).
 * `onResult` gets each report's outcome as soon as it is known, in no particular order.
 */
async function acceptAll(
  acceptor: Acceptor,
  reports: PendingReport[],
  ctx: AcceptContext,
  maxInFlight: number,
  log: Logger,
  onResult: (i: number, r: Outcome) => void,
): Promise<Outcome[]> {
  const results: Outcome[] = new Array(reports.length);
  let inFlight = 0;
  let kafkaDown = false;
  let wake: (() => void) | undefined;
  // Thrown after every report settled: thrown from a settling callback it would be an unhandled
  // rejection, and the reports in flight would never be counted down.
  let failure: { err: unknown } | undefined;
  const done = (i: number, r: Outcome) => {
    results[i] = r;
    try {
      onResult(i, r);
    } catch (err) {
      failure ??= { err };
    }
  };
  const settle = (i: number, r: Outcome) => {
    done(i, r);
    inFlight--;
    const w = wake;
    wake = undefined;
    w?.();
  };
  const until = async (condition: () => boolean) => {
    while (!condition()) await new Promise<void>((r) => (wake = r));
  };
  const notAttempted = (): Outcome => ({ kind: 'unavailable', outcome: outcome([issue('transient', 'not attempted: Kafka was unavailable for an earlier report; nothing was stored for this one, re-send the file later')]) });

  for (let i = 0; i < reports.length; i++) {
    if (inFlight >= maxInFlight) await until(() => inFlight < maxInFlight);
    if (kafkaDown) {
      done(i, notAttempted());
      continue;
    }
    inFlight++;
    const report = reports[i]!.build();
    // Called in report order; Acceptor serializes publishes per id in call order.
    acceptor.accept('MeasureReport', report, ctx).then(
      (accepted) => settle(i, { kind: 'ok', accepted }),
      (err: unknown) => {
        if (err instanceof OperationOutcomeError) settle(i, { kind: 'failed', status: err.status, outcome: err.outcome });
        else if (err instanceof DependencyUnavailableError) {
          kafkaDown = true;
          settle(i, { kind: 'unavailable', outcome: outcome([issue('transient', `${err.dependency} is unavailable; this report may not have been stored, re-send the file later`)]) });
        } else {
          log.error({ err, requestId: ctx.requestId, lines: reports[i]!.lines }, 'report_csv_accept_failed');
          settle(i, { kind: 'failed', status: 500, outcome: outcome([issue('exception', `internal error (request id ${ctx.requestId})`)]) });
        }
      },
    );
  }
  await until(() => inFlight === 0);
  if (failure) throw failure.err;
  return results;
}

// ---------------------------------------------------------------- answer

function statusLine(status: number): string {
  return `${status} ${STATUS_CODES[status] ?? ''}`.trim();
}

/** The Bundle's JSON as JSON.stringify would write it with these entries (each an entry's JSON). */
function withEntries(bundle: Bundle, entries: Buffer[]): Buffer {
  const head = JSON.stringify(bundle);
  const parts: Buffer[] = [Buffer.from(`${head.slice(0, -1)},"entry":[`)];
  for (const entry of entries) {
    if (parts.length > 1) parts.push(COMMA);
    parts.push(entry);
  }
  parts.push(Buffer.from(']}'));
  return Buffer.concat(parts);
}

function responseEntry(r: Outcome, c: PendingReport, base: string, representation: boolean): BundleEntry {
  const where = linesText(c.lines);
  if (r.kind !== 'ok') {
    const status = r.kind === 'unavailable' ? 503 : r.status;
    const first = c.lines[0]!;
    const report = c.build();
    const entry: BundleEntry = {
      response: {
        status: statusLine(status),
        outcome: outcome([
          withLine(issue('processing', `the report from ${where} was not stored: ${describe(report)}`, where), first),
          ...r.outcome.issue.map((i: OperationOutcomeIssue) => withLine(i, first)),
        ]),
      },
    };
    if (representation) entry.resource = report;
    return entry;
  }
  const a = r.accepted;
  const entry: BundleEntry = {
    fullUrl: `${base}/MeasureReport/${a.id}`,
    response: {
      status: statusLine(a.created ? 201 : 200),
      location: `${base}/MeasureReport/${a.id}/_history/${a.versionId}`,
      etag: `W/"${a.versionId}"`,
      lastModified: a.lastUpdated,
      // The lines are how a sender maps its rows to resources: always listed.
      outcome: outcome([withLine(issue('informational', `${a.created ? 'created' : 'updated'} from ${where}`, where, 'information'), c.lines[0]!), ...a.warnings]),
    },
  };
  if (representation) entry.resource = withMeta(storedResource(c.build(), a.id), a) as unknown as BundleEntry['resource'];
  return entry;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
