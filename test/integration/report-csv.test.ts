// $report-csv (POST /Measure/{id}/$report-csv, docs/report-csv.md) against the real stack: the
// canonical layout, stratified rows, each `map` form, the CDC/NHSN template, broken files with
// their lines and columns in the OperationOutcome, the Parameters body forms, the refusals
// (400/404/405/413/415/422), and a re-send that updates the same resources without duplicating
// them in ClickHouse (reports_latest, with an aggregator running). Kafka failures: in process with
// a publisher that fails on cue (deterministic partial failure), and with Kafka really stopped when
// the stack control channel is available (test/run.ts).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { Bundle, BundleEntry, MeasureReport, MeasureReportGroup, OperationOutcome, OperationOutcomeIssue } from 'fhir/r4.js';
import { DependencyUnavailableError } from '@sitrep/shared/errors';
import { createLogger } from '@sitrep/shared/log';
import { topicNames } from '@sitrep/shared/contracts/topics';
import { Acceptor } from '@sitrep/ingest/accept';
import { Catalog } from '@sitrep/ingest/catalog';
import { createApp, createServer } from '@sitrep/ingest/app';
import type { OutgoingRecord, Publisher } from '@sitrep/ingest/publish';
import { FIXTURES, fixture, fixtureNames } from '../helpers/fixtures.js';
import { clickhouse, dropTestDatabase, isolation, query, stackEnv, startKafka, stopKafka } from '../helpers/stack.js';
import { serviceEnv, startAggregator, startIngest, type RunningService } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { putResource } from '../simulator/post.js';

const iso = isolation('report_csv');
const MAX_BODY_BYTES = 200_000;
const ISSUE_LINE = 'http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-line';
const SANER = 'http://hl7.org/fhir/uv/saner';
const MEASURED_VALUES = `${SANER}/CodeSystem/MeasuredValues`;
const CENSUS = 'https://www.census.gov/geographies';
const CDC = 'CDCPatientImpactAndHospitalCapacity';
const FEMA = 'FEMADailyHospitalCOVID19Reporting';
const COMPUTABLE = 'ComputableCDCPatientImpactAndHospitalCapacity';
const CDC_CODES = 'numTotBeds,numbeds,numBedsOcc,numICUBeds,numICUBedsOcc,numVent,numVentUse,numC19HospPats,numC19MechVentPats,numC19HOPats,numC19OverflowPats,numC19OFMechVentPats,numC19Died';
const LOCATION = /^http:\/\/127\.0\.0\.1:\d+\/MeasureReport\/([a-f0-9]{40})\/_history\/(\d+)$/;

const ch = clickhouse();
let ingest: RunningService;
let aggregator: RunningService;

before(async () => {
  const env = { ...serviceEnv(iso), MAX_BODY_BYTES: String(MAX_BODY_BYTES), PUBLISH_TIMEOUT_MS: '3000' };
  [ingest, aggregator] = await Promise.all([startIngest(env), startAggregator(env)]);
  for (const f of fixtureNames('saner/measures')) {
    const status = await putResource(ingest.url, fixture(`saner/measures/${f}`) as never);
    assert.equal(status, 201, `PUT ${f}`);
  }
  // One Location with an identifier (a subject parameter may name it), one without.
  for (const f of ['states-NJ.json', 'Loc-X140008.json']) assert.equal(await putResource(ingest.url, fixture(`saner/locations/${f}`) as never), 201);
});

after(async () => {
  await Promise.all([ingest?.stop(), aggregator?.stop()]);
  await dropTestDatabase(ch, iso.database).catch(() => undefined);
  await ch.close();
});

// ---------------------------------------------------------------------------------------------
// Helpers

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: () => Record<string, unknown>;
}

type Query = [string, string][];

async function call(url: string, body: string | Uint8Array | undefined, headers: Record<string, string>, method = 'POST'): Promise<Answer> {
  const res = await fetch(url, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) as Record<string, unknown> };
}

const opUrl = (base: string, measure: string, q: Query = []) => `${base}/Measure/${measure}/$report-csv${q.length ? `?${new URLSearchParams(q)}` : ''}`;

/** POSTs a CSV (a fixture name under test/fixtures, or the text itself) as text/csv. */
function postCsv(measure: string, csv: string | Buffer, q: Query = [], headers: Record<string, string> = {}, base = ingest.url): Promise<Answer> {
  return call(opUrl(base, measure, q), csv, { 'content-type': 'text/csv', ...headers });
}

function postJson(measure: string, body: unknown, q: Query = [], headers: Record<string, string> = {}): Promise<Answer> {
  return call(opUrl(ingest.url, measure, q), JSON.stringify(body), { 'content-type': 'application/fhir+json', ...headers });
}

const file = (relative: string) => readFileSync(path.join(FIXTURES, relative));

/** The answer of a 200: stored/failed report entries, and the final OperationOutcome entry. */
function bundle(a: Answer) {
  assert.equal(a.status, 200, a.text);
  assert.match(a.headers.get('content-type') ?? '', /^application\/fhir\+json/);
  const b = a.json() as unknown as Bundle;
  assert.equal(b.resourceType, 'Bundle');
  assert.equal(b.type, 'batch-response');
  const entries = b.entry ?? [];
  const last = entries[entries.length - 1]!;
  const oo = last.resource as OperationOutcome;
  assert.equal(oo?.resourceType, 'OperationOutcome', 'the last entry is the conversion outcome');
  assert.equal(oo.issue[0]!.severity, 'information', 'it starts with the summary');
  return { reports: entries.slice(0, -1), final: last, errors: oo.issue.filter((i) => i.severity === 'error'), summary: oo.issue[0]!.diagnostics! };
}

/** A report entry as [status, lines]. */
function shape(e: BundleEntry): [string, number[]] {
  const first = e.response!.outcome as OperationOutcome;
  return [e.response!.status, first.issue[0]!.expression![0]!.replace(/^lines? /, '').split(', ').map(Number)];
}

function idOf(e: BundleEntry): { id: string; version: string } {
  const [, id, version] = e.response!.location!.match(LOCATION) ?? [];
  assert.ok(id && version, `location ${e.response!.location}`);
  return { id, version };
}

/** Errors as [line, expression, code], like the unit tests state them. */
function rowErrors(issues: OperationOutcomeIssue[]): [number | undefined, string | undefined, string][] {
  return issues.map((i) => [i.extension?.find((x) => x.url === ISSUE_LINE)?.valueInteger, i.expression?.[0], i.code]);
}

function outcomeOf(a: Answer, status: number): OperationOutcome {
  assert.equal(a.status, status, a.text);
  assert.match(a.headers.get('content-type') ?? '', /^application\/fhir\+json/);
  const oo = a.json() as unknown as OperationOutcome;
  assert.equal(oo.resourceType, 'OperationOutcome', a.text);
  return oo;
}

function group(r: MeasureReport, code: string): MeasureReportGroup {
  const g = r.group?.find((x) => x.code?.coding?.[0]?.code === code);
  assert.ok(g, `group ${code}`);
  return g;
}
function count(g: MeasureReportGroup, code: string): number | string | undefined {
  const p = g.population?.find((x) => x.code?.coding?.[0]?.code === code);
  assert.ok(p, `population ${code}`);
  return p.count ?? p._count?.extension?.[0]?.valueCode;
}

const REPRESENTATION = { prefer: 'return=representation' };
const resources = (entries: BundleEntry[]) => entries.map((e) => e.resource as MeasureReport);

// ---------------------------------------------------------------------------------------------

describe('conversion end to end', () => {
  test('canonical layout: 4 reports created (201), lines, locations; a re-send updates the same ids (200) and ClickHouse holds 4', async () => {
    const csv = file('csv/valid/canonical-2-subjects-2-days.csv');
    const first = bundle(await postCsv(FEMA, csv, [], REPRESENTATION));
    assert.deepEqual(first.reports.map(shape), [['201 Created', [2]], ['201 Created', [3]], ['201 Created', [4]], ['201 Created', [5]]]);
    assert.deepEqual(first.errors, []);
    assert.equal(first.final.response!.status, '200 OK');
    assert.match(first.summary, /^4 reports converted: 4 stored \(4 created, 0 updated\), 0 not stored; 0 errors/);
    const nj = first.reports[0]!.resource as MeasureReport & { id: string; meta: { versionId: string } };
    assert.equal(nj.id, idOf(first.reports[0]!).id);
    assert.equal(nj.meta.versionId, idOf(first.reports[0]!).version);
    assert.equal(first.reports[0]!.fullUrl, `${ingest.url}/MeasureReport/${nj.id}`);
    assert.deepEqual(nj.subject, { type: 'Location', identifier: { system: CENSUS, value: '34' } });
    assert.deepEqual(nj.period, { start: '2020-04-04T00:00:00+00:00', end: '2020-04-04T00:00:00+00:00' });
    assert.equal(group(nj, 'positivePercent').measureScore?.value, 20);

    const again = bundle(await postCsv(FEMA, csv));
    assert.deepEqual(again.reports.map(shape), [['200 OK', [2]], ['200 OK', [3]], ['200 OK', [4]], ['200 OK', [5]]]);
    assert.equal(again.reports[0]!.resource, undefined, 'reports are echoed only with Prefer: return=representation');
    const ids = first.reports.map((e) => idOf(e).id);
    assert.deepEqual(again.reports.map((e) => idOf(e).id), ids, 'the same resources');
    for (let i = 0; i < 4; i++) assert.ok(BigInt(idOf(again.reports[i]!).version) > BigInt(idOf(first.reports[i]!).version));

    // Two versions of each report went to Kafka; ClickHouse keeps one row per report, the later.
    const url = `${SANER}/Measure/${FEMA}`;
    const latest = await waitFor(
      () => query<{ id: string; version: string }>(ch, `SELECT id, toString(version) AS version FROM ${iso.database}.reports_latest WHERE measure = '${url}' ORDER BY id`),
      (rows) => rows.length === 4 && rows.every((r) => again.reports.some((e) => idOf(e).id === r.id && idOf(e).version === r.version)),
      { timeoutMs: 60_000, intervalMs: 250, what: '4 latest FEMA reports in ClickHouse' },
    );
    assert.deepEqual(latest.map((r) => r.id), [...ids].sort());
  });

  test('stratified rows: one report with strata under the Measure’s stratifiers', async () => {
    const b = bundle(await postCsv(COMPUTABLE, file('csv/valid/stratified.csv'), [], REPRESENTATION));
    assert.deepEqual(b.reports.map(shape), [['201 Created', [2, 3, 4, 5, 6]]]);
    const r = b.reports[0]!.resource as MeasureReport;
    const deaths = group(r, 'CovidDeaths');
    assert.equal(count(deaths, 'numC19Pats'), 500);
    assert.deepEqual(deaths.stratifier?.map((s) => s.code?.[0]?.text), ['By Age Group', 'By Gender']);
    const young = deaths.stratifier![0]!.stratum![0]!;
    assert.deepEqual(young.component, [{ code: { text: 'By Age Group' }, value: { text: '0-17' } }]);
    assert.equal(young.value, undefined);
    assert.equal(young.population?.find((p) => p.code?.coding?.[0]?.code === 'cumC19Died')?.count, 1);
  });

  describe('the map forms', () => {
    const renamed = file('csv/valid/renamed-columns.csv');
    const check = (a: Answer) => {
      const b = bundle(a);
      assert.deepEqual(b.errors, []);
      assert.deepEqual(b.reports.map((e) => shape(e)[1]), [[2], [3]]);
      const [first, second] = resources(b.reports);
      assert.deepEqual(first!.subject?.identifier, { system: 'urn:sitrep:orgid', value: '12345' });
      assert.equal(first!.period.start, '2020-05-29T00:00:00+00:00');
      const beds = group(first!, 'Beds');
      assert.deepEqual([count(beds, 'numTotBeds'), count(beds, 'numbeds'), count(beds, 'numBedsOcc'), count(beds, 'numICUBeds')], [150, 125, 100, 'unsupported']);
      assert.equal(count(group(second!, 'Beds'), 'numTotBeds'), 151);
      return b;
    };

    test('system|code$column', async () => {
      const S = MEASURED_VALUES;
      check(await postCsv(CDC, renamed, [['map', `subject$Facility ID,period$Report Date,${S}|numTotBeds$Total Beds,${S}|numbeds$Inpatient Beds,${S}|numBedsOcc$Occupied Beds`]], REPRESENTATION));
    });

    test('code$column over repeated map parameters (and now updates: same keys)', async () => {
      const b = check(await postCsv(CDC, renamed, [['map', 'subject$facility id,period$REPORT DATE'], ['map', 'numtotbeds$Total Beds,numbeds$Inpatient Beds'], ['map', 'numBedsOcc$Occupied Beds']], REPRESENTATION));
      assert.deepEqual(b.reports.map((e) => e.response!.status), ['200 OK', '200 OK']);
    });

    test('code1,code2: only the listed codes are read', async () => {
      const csv = file('csv/valid/extra-columns.csv');
      assert.deepEqual(rowErrors(outcomeOf(await postCsv(CDC, csv), 400).issue), [[1, 'line 1, column comment', 'code-invalid']], 'without a map the comment column is unknown');
      const b = bundle(await postCsv(CDC, csv, [['map', 'numTotBeds,numbeds']], REPRESENTATION));
      const [a] = resources(b.reports);
      const beds = group(a!, 'Beds');
      assert.deepEqual([count(beds, 'numTotBeds'), count(beds, 'numbeds'), count(beds, 'numBedsOcc')], [150, 125, 'unsupported']);
    });
  });

  test('the CDC/NHSN template: map for orgid and collectionDate, US dates, timezone-offset, reporter parameter', async () => {
    const b = bundle(
      await postCsv(CDC, file('saner/csv/covid19-test-csv-import.csv'), [['map', 'subject$orgid,period$collectionDate'], ['map', CDC_CODES], ['timezone-offset', '-05:00'], ['reporter', 'urn:sitrep:orgid|12345']], REPRESENTATION),
    );
    assert.deepEqual(b.errors, []);
    const reports = resources(b.reports);
    assert.deepEqual(reports.map((r) => r.period.start), ['2020-05-29T00:00:00-05:00', '2020-05-30T00:00:00-05:00', '2020-05-31T00:00:00-05:00', '2020-06-01T00:00:00-05:00']);
    assert.deepEqual(reports[0]!.subject, { type: 'Location', identifier: { system: 'urn:sitrep:orgid', value: '12345' } });
    assert.deepEqual(reports[0]!.reporter, { type: 'Organization', identifier: { system: 'urn:sitrep:orgid', value: '12345' } });
    assert.deepEqual(group(reports[0]!, 'Beds').population?.map((p) => p.count), [150, 125, 100, 20, 15]);
    assert.equal(count(group(reports[0]!, 'Encounters'), 'numC19Died'), 1);
  });

  test('without a reporter column or parameter the reporter is the sender', async () => {
    const b = bundle(await postCsv(CDC, 'subject,period,numTotBeds\nurn:x|R1,2020-05-29,7\n', [], REPRESENTATION));
    assert.deepEqual(resources(b.reports)[0]!.reporter, { type: 'Organization', identifier: { system: 'urn:sitrep:sender', value: 'anonymous' } });
  });

  test('subject and period parameters; subject Location/{id} is resolved to its identifier', async () => {
    const q: Query = [['subject', 'Location/states-NJ'], ['period-start', '2020-06-01'], ['period-end', '2020-06-01'], ['reporter', 'Organization/NJ-DPH']];
    const b = bundle(await postCsv(CDC, 'numTotBeds,numbeds\n150,125\n', q, REPRESENTATION));
    const [r] = resources(b.reports);
    assert.deepEqual(r!.subject, { reference: 'Location/states-NJ', type: 'Location', identifier: { system: CENSUS, value: '34' } });
    assert.deepEqual(r!.reporter, { reference: 'Organization/NJ-DPH' });
    assert.deepEqual(r!.period, { start: '2020-06-01T00:00:00+00:00', end: '2020-06-01T00:00:00+00:00' });
  });

  test('a gzip-compressed body (Content-Encoding: gzip)', async () => {
    const csv = gzipSync('subject,period,numTotBeds\nurn:x|GZ,2020-05-29,1\n');
    const b = bundle(await postCsv(CDC, csv, [], { 'content-encoding': 'gzip', ...REPRESENTATION }));
    assert.equal(resources(b.reports)[0]!.subject?.identifier?.value, 'GZ');
  });

  test('an operation URL with %24 for $ works the same', async () => {
    const res = await call(`${ingest.url}/Measure/${CDC}/%24report-csv`, 'subject,period,numTotBeds\nurn:x|P,2020-05-29,1\n', { 'content-type': 'text/csv' });
    assert.equal(bundle(res).reports.length, 1);
  });
});

describe('broken files: every error with its line and column', () => {
  test('ragged rows: the other rows are stored, 200; errors on lines 3 and 4', async () => {
    const b = bundle(await postCsv(CDC, file('csv/invalid/ragged-rows.csv')));
    assert.deepEqual(b.reports.map(shape), [['201 Created', [2]], ['201 Created', [5]]]);
    assert.equal(b.final.response!.status, '422 Unprocessable Entity');
    assert.deepEqual(rowErrors(b.errors), [[3, 'line 3', 'structure'], [4, 'line 4', 'structure']]);
    assert.equal(b.errors[0]!.diagnostics, 'the row has 4 fields, the header has 5');
    assert.match(b.summary, /2 reports converted: 2 stored .*; 2 errors on 2 lines/);
  });

  test('bad numbers: line and column of each', async () => {
    const b = bundle(await postCsv(CDC, file('csv/invalid/bad-numbers.csv')));
    assert.deepEqual(b.reports.map((e) => shape(e)[1]), [[2]]);
    assert.deepEqual(rowErrors(b.errors), [
      [3, 'line 3, column numTotBeds', 'value'],
      [4, 'line 4, column numbeds', 'value'],
      [5, 'line 5, column Beds', 'value'],
      [5, 'line 5, column numBedsOcc', 'value'],
      [6, 'line 6, column numTotBeds', 'value'],
    ]);
    assert.equal(b.errors[0]!.diagnostics, 'count 12.5 is not an integer');
  });

  test('duplicate strata and duplicate total rows: those reports withheld, the clean one stored', async () => {
    const b = bundle(await postCsv(COMPUTABLE, file('csv/invalid/duplicate-strata.csv'), [], REPRESENTATION));
    assert.deepEqual(resources(b.reports).map((r) => r.subject?.identifier?.value), ['C']);
    assert.deepEqual(rowErrors(b.errors), [
      [2, 'line 2', 'processing'],
      [3, 'line 3', 'processing'],
      [4, 'line 4', 'processing'],
      [5, 'line 5, column stratum', 'duplicate'],
      [6, 'line 6', 'processing'],
      [7, 'line 7', 'duplicate'],
    ]);
    assert.match(b.errors[3]!.diagnostics!, /lines 3 and 5/);
  });

  test('bad dates', async () => {
    const b = bundle(await postCsv(CDC, file('csv/invalid/bad-dates.csv')));
    assert.deepEqual(b.reports.map((e) => shape(e)[1]), [[2], [8]]);
    assert.deepEqual(rowErrors(b.errors).map(([line, , code]) => [line, code]), [[3, 'value'], [3, 'value'], [4, 'value'], [4, 'value'], [5, 'value'], [6, 'invariant'], [7, 'required']]);
  });

  test('400: unknown columns (a bad header sinks the file)', async () => {
    const oo = outcomeOf(await postCsv(CDC, file('csv/invalid/unknown-columns.csv')), 400);
    assert.deepEqual(rowErrors(oo.issue), [
      [1, 'line 1, column numBedsOccupied', 'code-invalid'],
      [1, 'line 1, column Notes', 'code-invalid'],
      [3, 'line 3, column #6', 'structure'],
    ]);
  });

  test('400: an unclosed quote (CSV syntax) and a missing subject column', async () => {
    const quote = outcomeOf(await postCsv(CDC, file('csv/invalid/unclosed-quote.csv')), 400);
    assert.deepEqual(rowErrors(quote.issue), [[3, 'line 3, column numbeds', 'value'], [4, 'line 4', 'structure']]);
    assert.match(quote.issue[1]!.diagnostics!, /CSV_QUOTE_NOT_CLOSED/);
    const subject = outcomeOf(await postCsv(CDC, file('csv/invalid/missing-subject-column.csv')), 400);
    assert.deepEqual(rowErrors(subject.issue), [[1, 'line 1, column subject', 'required']]);
  });

  test('400: an empty body, a header without rows, bytes that are not UTF-8', async () => {
    assert.deepEqual(rowErrors(outcomeOf(await postCsv(CDC, ''), 400).issue), [[1, 'line 1', 'required']]);
    assert.deepEqual(rowErrors(outcomeOf(await postCsv(CDC, 'subject,period,numTotBeds\n'), 400).issue), [[1, 'line 1', 'required']]);
    const latin1 = Buffer.from('subject,period,numTotBeds\nH\xf4pital,2020-05-29,1\n', 'latin1');
    const oo = outcomeOf(await postCsv(CDC, latin1), 400);
    assert.deepEqual(oo.issue.map((i) => [i.code, i.expression?.[0]]), [['structure', 'input']]);
  });

  test('422: nothing converts when every row is bad; the summary and each row error', async () => {
    const oo = outcomeOf(await postCsv(CDC, 'subject,period,numTotBeds\nA,2020-05-29,x\nB,2020-05-29,-1\n'), 422);
    assert.equal(oo.issue[0]!.severity, 'information');
    assert.match(oo.issue[0]!.diagnostics!, /^0 reports converted/);
    assert.deepEqual(rowErrors(oo.issue.slice(1)), [[2, 'line 2, column numTotBeds', 'value'], [3, 'line 3, column numTotBeds', 'value']]);
  });

  test('a report that converts but fails validation is a failed entry with its lines; the others are stored', async () => {
    // A system with a space inside is a cell the conversion takes as it is, but not a FHIR uri: the
    // Acceptor refuses that report (422).
    const csv = 'subject,period,numTotBeds\nurn:x|V1,2020-05-29,1\nurn: x|V2,2020-05-29,2\n';
    const b = bundle(await postCsv(CDC, csv));
    assert.deepEqual(b.reports.map(shape), [['201 Created', [2]], ['422 Unprocessable Entity', [3]]]);
    const failed = b.reports[1]!;
    assert.equal(failed.fullUrl, undefined);
    const issues = (failed.response!.outcome as OperationOutcome).issue;
    assert.equal(issues[0]!.code, 'processing');
    assert.ok(issues.slice(1).some((i) => i.expression?.[0] === 'MeasureReport.subject.identifier.system'), JSON.stringify(issues));
    assert.ok(issues.every((i) => i.extension?.some((x) => x.url === ISSUE_LINE && x.valueInteger === 3)));
    assert.deepEqual(b.errors, [], 'the conversion itself had no errors');

    // Only that report: 422 for the whole request, its issues tagged with line 3.
    const only = outcomeOf(await postCsv(CDC, 'subject,period,numTotBeds\nurn: x|V2,2020-05-29,2\n'), 422);
    assert.match(only.issue[0]!.diagnostics!, /^1 report converted: 0 stored/);
    assert.match(only.issue[1]!.diagnostics!, /^the report from line 2 was converted but not stored \(422 Unprocessable Entity\)/);
    assert.ok(only.issue.slice(1).every((i) => i.extension?.some((x) => x.url === ISSUE_LINE && x.valueInteger === 2)));
  });
});

describe('Parameters body (application/fhir+json)', () => {
  const csv = 'subject,numTotBeds,numbeds\nurn:x|PB,150,125\n';
  const base64 = Buffer.from(csv).toString('base64');
  const params = (input: Record<string, unknown>, extra: unknown[] = []) => ({
    resourceType: 'Parameters',
    parameter: [input, { name: 'period-start', valueDate: '2020-07-01' }, { name: 'period-end', valueDateTime: '2020-07-01T00:00:00Z' }, ...extra],
  });

  test('input as a Binary resource; subject as valueReference to a Location; map as valueString', async () => {
    const body = params({ name: 'input', resource: { resourceType: 'Binary', contentType: 'text/csv', data: Buffer.from('orgid,numTotBeds\nx,5\n').toString('base64') } }, [
      { name: 'subject', valueReference: { reference: 'Location/states-NJ' } },
      { name: 'reporter', valueReference: { identifier: { system: 'urn:x', value: 'NJ' } } },
      { name: 'map', valueString: 'numTotBeds' },
    ]);
    const b = bundle(await postJson(CDC, body, [], REPRESENTATION));
    const [r] = resources(b.reports);
    assert.deepEqual(r!.subject?.identifier, { system: CENSUS, value: '34' });
    assert.deepEqual(r!.reporter, { type: 'Organization', identifier: { system: 'urn:x', value: 'NJ' } });
    assert.equal(r!.period.end, '2020-07-01T00:00:00Z');
    assert.equal(count(group(r!, 'Beds'), 'numTotBeds'), 5);
  });

  test('input as valueAttachment; lines refer to the decoded CSV', async () => {
    const bad = Buffer.from('subject,numTotBeds\nurn:x|PA,1\nurn:x|PC,x\n').toString('base64');
    const b = bundle(await postJson(CDC, params({ name: 'input', valueAttachment: { contentType: 'text/csv', data: bad } })));
    assert.deepEqual(b.reports.map(shape), [['201 Created', [2]]]);
    assert.deepEqual(rowErrors(b.errors), [[3, 'line 3, column numTotBeds', 'value']]);
  });

  test('the Binary alone with the other parameters in the query', async () => {
    const res = await postJson(CDC, { resourceType: 'Binary', contentType: 'text/csv; charset=utf-8', data: base64 }, [['period-start', '2020-07-02'], ['period-end', '2020-07-02']]);
    assert.equal(bundle(res).reports.length, 1);
  });

  test('400: no input, bad base64, not text/csv, unknown parameter, a parameter twice or in both places', async () => {
    const cases: [unknown, Query, string, string][] = [
      [{ resourceType: 'Parameters', parameter: [{ name: 'period-start', valueDate: '2020-07-01' }] }, [], 'required', 'Parameters.parameter'],
      [params({ name: 'input', resource: { resourceType: 'Binary', contentType: 'text/csv', data: '%%%not base64' } }), [], 'value', 'Parameters.parameter[0].resource.data'],
      [params({ name: 'input', resource: { resourceType: 'Binary', contentType: 'application/pdf', data: base64 } }), [], 'not-supported', 'Parameters.parameter[0].resource.contentType'],
      [params({ name: 'input', resource: { resourceType: 'Binary', data: base64 } }), [], 'required', 'Parameters.parameter[0].resource.contentType'],
      [params({ name: 'input', valueAttachment: { contentType: 'text/csv', url: 'http://example.org/x.csv' } }), [], 'not-supported', 'Parameters.parameter[0].valueAttachment.url'],
      [params({ name: 'input', resource: { resourceType: 'Binary', contentType: 'text/csv', data: base64 } }, [{ name: 'colour', valueString: 'red' }]), [], 'not-supported', 'Parameters.parameter[3].name'],
      [params({ name: 'input', resource: { resourceType: 'Binary', contentType: 'text/csv', data: base64 } }, [{ name: 'subject', valueString: 'urn:x|A' }, { name: 'subject', valueString: 'urn:x|B' }]), [], 'structure', 'Parameters.parameter[4]'],
      [params({ name: 'input', resource: { resourceType: 'Binary', contentType: 'text/csv', data: base64 } }), [['period-start', '2020-07-01']], 'structure', 'parameter period-start'],
      [{ resourceType: 'Patient' }, [], 'structure', 'resourceType'],
    ];
    for (const [body, q, code, expression] of cases) {
      const oo = outcomeOf(await postJson(CDC, body, q), 400);
      assert.ok(oo.issue.some((i) => i.code === code && i.expression?.[0] === expression), `${code} at ${expression} in ${JSON.stringify(oo)}`);
    }
    outcomeOf(await call(opUrl(ingest.url, CDC), '{"resourceType": "Parameters",', { 'content-type': 'application/fhir+json' }), 400);
  });
});

describe('refusals', () => {
  const csv = 'subject,period,numTotBeds\nurn:x|Z,2020-05-29,1\n';

  test('404: the Measure is not registered', async () => {
    const oo = outcomeOf(await postCsv('NoSuchMeasure', csv), 404);
    assert.equal(oo.issue[0]!.code, 'not-found');
    assert.match(oo.issue[0]!.diagnostics!, /Measure\/NoSuchMeasure is not registered/);
  });

  test('405: other methods, with Allow', async () => {
    const res = await call(opUrl(ingest.url, CDC), undefined, {}, 'GET');
    assert.equal(outcomeOf(res, 405).issue[0]!.code, 'not-supported');
    assert.equal(res.headers.get('allow'), 'POST');
  });

  test('415: other media types and charsets', async () => {
    for (const type of ['text/plain', 'application/xml', 'application/x-www-form-urlencoded', 'text/csv; charset=iso-8859-1']) {
      assert.equal(outcomeOf(await postCsv(CDC, csv, [], { 'content-type': type }), 415).issue[0]!.code, 'not-supported', type);
    }
    assert.equal(outcomeOf(await postCsv(CDC, csv, [['_format', 'xml']]), 415).issue[0]!.code, 'not-supported');
    assert.equal(bundle(await postCsv(CDC, csv, [], { 'content-type': 'text/csv; charset=utf-8' })).reports.length, 1);
  });

  test('413: a body over the limit', async () => {
    const big = `subject,period,numTotBeds\n${'urn:x|Big,2020-05-29,1\n'.repeat(Math.ceil(MAX_BODY_BYTES / 20))}`;
    assert.equal(outcomeOf(await postCsv(CDC, big), 413).issue[0]!.code, 'too-costly');
  });

  test('400: unusable parameters, each named', async () => {
    const cases: [Query, string, string][] = [
      [[['period-start', '2020-13-01']], 'value', 'parameter period-start'],
      [[['subject', 'Location/nowhere']], 'not-found', 'parameter subject'],
      [[['subject', 'Location/Loc-X140008']], 'value', 'parameter subject'],
      [[['subject', 'Organization/NJ-DPH']], 'value', 'parameter subject'],
      [[['subject', 'urn:x|']], 'value', 'parameter subject'],
      [[['reporter', 'Patient/p1']], 'value', 'parameter reporter'],
      [[['timezone-offset', '+5']], 'value', 'parameter timezone-offset'],
      [[['period-start', '2020-05-29'], ['period-start', '2020-05-30']], 'structure', 'parameter period-start'],
      [[['perod-start', '2020-05-29']], 'not-supported', 'parameter perod-start'],
      [[['map', 'numFoo$Total Beds']], 'code-invalid', 'parameter map'],
    ];
    for (const [q, code, expression] of cases) {
      const oo = outcomeOf(await postCsv(CDC, csv, q), 400);
      assert.ok(oo.issue.some((i) => i.code === code && i.expression?.[0] === expression), `${JSON.stringify(q)}: ${code} at ${expression} in ${JSON.stringify(oo)}`);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Kafka failures

/** The real route and app in this process, with a publisher that fails on cue. */
async function inProcess(failAfter: number) {
  const catalog = new Catalog();
  let published = 0;
  const publisher = {
    deadline: () => performance.now() + 3000,
    timeoutError: () => new DependencyUnavailableError('kafka', 'Kafka did not acknowledge within 3000 ms'),
    publish: async (_r: OutgoingRecord) => {
      await new Promise((r) => setImmediate(r));
      if (++published > failAfter) throw new DependencyUnavailableError('kafka', 'Kafka did not acknowledge within 3000 ms');
      return { partition: 0, offset: String(published) };
    },
  } as unknown as Publisher;
  const acceptor = new Acceptor({ publisher, catalog, topics: topicNames('inprocess.') });
  const measure = fixture<Record<string, unknown>>(`saner/measures/${CDC}.json`);
  catalog.recordReference('Measure', CDC, { resource: measure, versionId: '0', lastUpdated: new Date().toISOString() });
  const app = createApp({ acceptor, catalog, log: createLogger('test', 'silent'), isReady: () => ({ ready: true, checks: {} }), maxBodyBytes: MAX_BODY_BYTES, retryAfterSeconds: 7 });
  const server = createServer(app).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => server.close(r)) };
}

const manyRows = (n: number) => `subject,period,numTotBeds\n${Array.from({ length: n }, (_, i) => `urn:x|K${i},2020-05-29,${i}`).join('\n')}\n`;

describe('Kafka unavailable', () => {
  test('after some reports were stored: 200 + Retry-After, the stored ones listed, the rest 503', async () => {
    const app = await inProcess(3);
    try {
      const res = await postCsv(CDC, manyRows(10), [], {}, app.url);
      assert.equal(res.headers.get('retry-after'), '7');
      const b = bundle(res);
      const statuses = b.reports.map((e) => e.response!.status);
      assert.deepEqual(statuses.slice(0, 3), ['201 Created', '201 Created', '201 Created']);
      assert.ok(statuses.slice(3).every((s) => s === '503 Service Unavailable'), statuses.join());
      assert.ok((b.final.resource as OperationOutcome).issue.some((i) => i.code === 'transient'));
      assert.match(b.summary, /^10 reports converted: 3 stored \(3 created, 0 updated\), 7 not stored/);
    } finally {
      await app.close();
    }
  });

  test('before anything was stored: 503 + Retry-After, an OperationOutcome', async () => {
    const app = await inProcess(0);
    try {
      const res = await postCsv(CDC, manyRows(5), [], {}, app.url);
      assert.equal(outcomeOf(res, 503).issue[0]!.code, 'transient');
      assert.equal(res.headers.get('retry-after'), '7');
    } finally {
      await app.close();
    }
  });

  const canStop = Boolean(stackEnv().control);
  test('Kafka really stopped: 503 within the publish timeout; the re-send after recovery creates each report once', { timeout: 240_000, skip: canStop ? false : 'needs the stack control channel (run through test/run.ts)' }, async () => {
    const subject = randomUUID();
    const csv = `subject,period,numTotBeds\n${Array.from({ length: 20 }, (_, i) => `urn:kafka:${subject}|F${i},2020-05-29,${i}`).join('\n')}\n`;
    await stopKafka();
    try {
      const started = Date.now();
      const res = await postCsv(CDC, csv);
      assert.equal(outcomeOf(res, 503).issue[0]!.code, 'transient');
      assert.equal(res.headers.get('retry-after'), '5');
      assert.ok(Date.now() - started < 10_000, `answered in ${Date.now() - started} ms`);
    } finally {
      await startKafka();
    }
    const again = await waitFor(() => postCsv(CDC, csv), (r) => r.status === 200, { timeoutMs: 90_000, intervalMs: 2000, what: 're-send accepted after Kafka is back' });
    assert.equal(bundle(again).reports.length, 20);
    await waitFor(
      () => query<{ n: string }>(ch, `SELECT count() AS n FROM ${iso.database}.reports_latest WHERE subject LIKE 'urn:kafka:${subject}|%'`),
      (rows) => rows[0]?.n === '20',
      { timeoutMs: 60_000, intervalMs: 500, what: '20 reports in ClickHouse' },
    );
  });
});
