// Unit tests of the $report-csv conversion (CSV -> PublicHealthMeasureReports): canonical and
// stratified files, the three `map` forms, the CDC template, broken files with exact lines and
// columns, line ends/BOM/quoting, and throughput.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Measure, MeasureReport, MeasureReportGroup, MeasureReportGroupPopulation } from 'fhir/r4.js';
import {
  convertReportCsv,
  DEFAULT_IDENTIFIER_SYSTEM,
  MAX_COLUMNS,
  MAX_ERRORS_KEPT,
  MAX_REPORTS,
  readReportCsv,
  type ReportCsvParams,
  type ReportCsvResult,
} from '@sitrep/shared/csv/report-csv';
import { parseCount, parseDateTime, parseScore } from '@sitrep/shared/csv/values';
import { fixture, FIXTURES } from '../helpers/fixtures.js';

const CDC = fixture<Measure>('saner/measures/CDCPatientImpactAndHospitalCapacity.json');
const FEMA = fixture<Measure>('saner/measures/FEMADailyHospitalCOVID19Reporting.json');
const COMPUTABLE = fixture<Measure>('saner/measures/ComputableCDCPatientImpactAndHospitalCapacity.json');
const NOW = '2020-06-02T12:00:00Z';
const CENSUS = 'https://www.census.gov/geographies';
const MEASURED_VALUES = 'http://hl7.org/fhir/uv/saner/CodeSystem/MeasuredValues';

const csvFixture = (name: string) => readFileSync(path.join(FIXTURES, 'csv', name));
const convert = (csv: string | Buffer, params: Partial<ReportCsvParams> & { measure: Measure }) => convertReportCsv(csv, { now: () => NOW, ...params });

/** Errors as compact tuples, so a test states exactly which lines and columns fail and why. */
const errorsOf = (r: ReportCsvResult) => r.errors.map((e) => [e.line, e.column, e.issue.code] as const);

function group(report: MeasureReport, code: string): MeasureReportGroup {
  const g = report.group?.find((x) => x.code?.coding?.[0]?.code === code);
  assert.ok(g, `group ${code}`);
  return g;
}
function pop(populations: MeasureReportGroupPopulation[] | undefined, code: string): MeasureReportGroupPopulation {
  const p = populations?.find((x) => x.code?.coding?.[0]?.code === code);
  assert.ok(p, `population ${code}`);
  return p;
}
/** The count, or the data-absent-reason code when there is none. */
function count(populations: MeasureReportGroupPopulation[] | undefined, code: string): number | string | undefined {
  const p = pop(populations, code);
  return p.count ?? p._count?.extension?.[0]?.valueCode;
}

describe('canonical layout', () => {
  const r = convert(csvFixture('valid/canonical-2-subjects-2-days.csv'), { measure: FEMA });

  test('2 subjects x 2 days give 4 complete summary reports, in order of first row', () => {
    assert.deepEqual(r.errors, []);
    assert.equal(r.reports.length, 4);
    assert.deepEqual(r.reports.map((x) => x.lines), [[2], [3], [4], [5]]);
    for (const { report } of r.reports) {
      assert.equal(report.resourceType, 'MeasureReport');
      assert.equal(report.status, 'complete');
      assert.equal(report.type, 'summary');
      assert.equal(report.measure, FEMA.url);
      assert.equal(report.date, NOW);
      assert.deepEqual(report.meta?.profile, ['http://hl7.org/fhir/uv/saner/StructureDefinition/PublicHealthMeasureReport']);
      assert.deepEqual(report.group?.map((g) => g.code?.coding?.[0]?.code), ['positiveIncreasePercent', 'positivePercent'], 'every Measure group, in Measure order');
    }
  });

  test('subject, reporter and period come from the row; dates become dateTimes to the second with a zone', () => {
    const [nj4, ny4] = r.reports.map((x) => x.report);
    assert.deepEqual(nj4!.subject, { type: 'Location', identifier: { system: CENSUS, value: '34' } });
    assert.deepEqual(nj4!.reporter, { type: 'Organization', identifier: { system: DEFAULT_IDENTIFIER_SYSTEM, value: 'NJ-DPH' } }, 'a bare value gets the default system');
    assert.deepEqual(nj4!.period, { start: '2020-04-04T00:00:00+00:00', end: '2020-04-04T00:00:00+00:00' });
    assert.deepEqual(ny4!.period, { start: '2020-04-04T00:00:00-04:00', end: '2020-04-04T00:00:00-04:00' }, 'complete dateTimes are kept as written');
  });

  test('counts, percent scores, an empty cell and a missing column', () => {
    const ny4 = r.reports[1]!.report;
    const inc = group(ny4, 'positiveIncreasePercent');
    assert.deepEqual(inc.measureScore, { value: 12, unit: '%', system: 'http://unitsofmeasure.org', code: '%' });
    assert.equal(count(inc.population, 'totalOrdersIncrease'), 2000);
    assert.equal(count(inc.population, 'totalTestResultsIncrease'), 1900);
    assert.equal(count(inc.population, 'positiveIncrease'), 228);
    const cum = group(ny4, 'positivePercent');
    assert.equal(cum.measureScore?.value, 25.25);
    assert.equal(count(cum.population, 'positive'), 4750);
    assert.equal(count(cum.population, 'allReports'), 'unknown', 'empty cell: data-absent-reason unknown');
    assert.equal(count(cum.population, 'latestReports'), 'unsupported', 'no column: data-absent-reason unsupported');
    assert.deepEqual(pop(cum.population, 'latestReports')._count, {
      extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'unsupported' }],
    });
    assert.equal(count(group(r.reports[3]!.report, 'positivePercent').population, 'allReports'), 30);
  });

  test('population codes are copied from the Measure (codings, no descriptions)', () => {
    const p = pop(group(r.reports[0]!.report, 'positivePercent').population, 'totalOrders');
    assert.deepEqual(p.code?.coding?.map((c) => c.code), ['totalOrders', 'initial-population']);
    assert.equal(p.code?.text, undefined);
  });

  test('rows with the same subject, reporter and period (same instant, other spelling) make one report', () => {
    const csv = 'subject,period,numTotBeds,numbeds\nA,2020-05-29,1,\nA,2020-05-29T00:00:00Z,,2\n';
    const out = convert(csv, { measure: CDC });
    // Two unstratified rows for one report is a duplicate, even if they fill different columns.
    assert.deepEqual(errorsOf(out), [[2, undefined, 'processing'], [3, undefined, 'duplicate']]);
  });

  test('codes are shared between reports and frozen: reports are read-only below code', () => {
    const [a, b] = r.reports.map((x) => x.report);
    assert.equal(a!.group![0]!.code, b!.group![0]!.code);
    assert.ok(Object.isFrozen(a!.group![0]!.population![0]!.code));
    assert.throws(() => {
      (a!.group![0]!.code!.coding as unknown[]).push({});
    }, TypeError);
    assert.notEqual(a!.subject, b!.subject, 'everything else belongs to its report');
  });

  test('the default date is now, to the second, in UTC', () => {
    const out = convertReportCsv('subject,period,numTotBeds\nA,2020-05-29,1\n', { measure: CDC });
    assert.match(out.reports[0]!.report.date!, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
  });
});

describe('parameters', () => {
  const csv = 'numTotBeds,numbeds\n150,125\n';

  test('subject, reporter and period parameters fill in for missing columns', () => {
    const out = convert(csv, {
      measure: CDC,
      subject: `${CENSUS}|34`,
      reporter: 'Organization/NJ-DPH',
      periodStart: '2020-05-29',
      periodEnd: '2020-05-30',
      timezoneOffset: '-04:00',
    });
    assert.deepEqual(out.errors, []);
    const report = out.reports[0]!.report;
    assert.deepEqual(report.subject, { type: 'Location', identifier: { system: CENSUS, value: '34' } });
    assert.deepEqual(report.reporter, { reference: 'Organization/NJ-DPH' }, 'a Type/id reference is kept as a reference');
    assert.deepEqual(report.period, { start: '2020-05-29T00:00:00-04:00', end: '2020-05-30T00:00:00-04:00' });
  });

  test('a cell wins over the parameter; an empty cell falls back to it', () => {
    const out = convert('subject,period,numTotBeds\nA,2020-05-29,1\n,,2\n', {
      measure: CDC,
      subject: 'urn:x|P',
      subjectSystem: 'urn:x',
      periodStart: '2020-06-01',
      periodEnd: '2020-06-01',
    });
    assert.deepEqual(out.errors, []);
    assert.deepEqual(out.reports.map((x) => [x.report.subject?.identifier?.value, x.report.period.start]), [
      ['A', '2020-05-29T00:00:00+00:00'],
      ['P', '2020-06-01T00:00:00+00:00'],
    ]);
    assert.equal(out.reports[0]!.report.subject?.identifier?.system, 'urn:x', 'subjectSystem applies to bare values');
  });

  test('bad parameters are errors on line 0 and stop the conversion', () => {
    const out = convert(csv, { measure: CDC, subject: 'urn:x|', periodStart: '2020-13-01', periodEnd: '2020-05-29' });
    assert.deepEqual(errorsOf(out), [[0, 'period-start', 'value'], [0, 'subject', 'value']]);
    assert.equal(out.errors[0]!.issue.expression?.[0], 'parameter period-start');
    assert.deepEqual(out.reports, []);
  });

  test('a bad timezoneOffset is a programming error', () => {
    assert.throws(() => convert(csv, { measure: CDC, timezoneOffset: '+5' }), RangeError);
  });
});

describe('stratified rows', () => {
  const r = convert(csvFixture('valid/stratified.csv'), { measure: COMPUTABLE });

  test('one report; the total row fills group populations', () => {
    assert.deepEqual(r.errors, []);
    assert.equal(r.reports.length, 1);
    assert.deepEqual(r.reports[0]!.lines, [2, 3, 4, 5, 6]);
    const report = r.reports[0]!.report;
    assert.equal(count(group(report, 'AcquiredCovid').population, 'numC19HospPats'), 400);
    // numC19Pats is a population of both Encounters and CovidDeaths: the column fills both.
    assert.equal(count(group(report, 'Encounters').population, 'numC19Pats'), 500);
    assert.equal(count(group(report, 'CovidDeaths').population, 'numC19Pats'), 500);
    assert.equal(count(group(report, 'Ventilators').population, 'numVent'), 'unsupported');
  });

  test('strata go under the Measure’s stratifier, named by a component (stratum.value is forbidden)', () => {
    const report = r.reports[0]!.report;
    const deaths = group(report, 'CovidDeaths');
    assert.deepEqual(deaths.stratifier?.map((s) => s.code?.[0]?.text), ['By Age Group', 'By Gender'], 'the Measure’s spelling, not the CSV’s “by gender”');
    const age = deaths.stratifier![0]!;
    assert.deepEqual(age.stratum?.map((s) => s.component?.[0]?.value?.text), ['0-17', '18-64']);
    const young = age.stratum![0]!;
    assert.equal(young.value, undefined);
    assert.deepEqual(young.component, [{ code: { text: 'By Age Group' }, value: { text: '0-17' } }]);
    assert.equal(count(young.population, 'numC19Pats'), 10);
    assert.equal(count(young.population, 'numC19Died'), 0);
    assert.equal(count(young.population, 'cumC19Died'), 1);
    const female = deaths.stratifier![1]!.stratum![0]!;
    assert.equal(count(female.population, 'cumC19Died'), 'unknown');
  });

  test('a stratified row adds strata only to groups that define its stratifier and have data in it', () => {
    const report = r.reports[0]!.report;
    const encounters = group(report, 'Encounters');
    assert.deepEqual(encounters.stratifier?.map((s) => s.code?.[0]?.text), ['By Location and Ventilator Status']);
    assert.equal(count(encounters.stratifier![0]!.stratum![0]!.population, 'numC19Pats'), 40);
    // The ICU-vent row has numC19Pats only; CovidDeaths lacks that stratifier, so no stratum there.
    assert.equal(group(report, 'CovidDeaths').stratifier?.length, 2);
    assert.equal(group(report, 'Ventilators').stratifier, undefined);
    assert.equal(group(report, 'Beds').stratifier, undefined);
  });

  test('a value that no group with that stratifier can take is an error on its cell', () => {
    const csv = 'subject,period,stratifier,stratum,numVent,numC19HospPats\nA,2020-05-29,,,10,5\nA,2020-05-29,By Age Group,0-17,2,1\nB,2020-05-29,By Nonsense,x,,1\n';
    const out = convert(csv, { measure: COMPUTABLE });
    assert.deepEqual(errorsOf(out), [
      [2, undefined, 'processing'],
      [3, 'numVent', 'code-invalid'],
      [4, 'numC19HospPats', 'code-invalid'],
    ]);
    assert.deepEqual(out.reports, []);
  });

  test('a stratified row whose period cannot be read withholds the reports it may belong to', () => {
    const csv = 'subject,period,stratifier,stratum,numC19HospPats\nA,2020-05-29,,,400\nA,2020-05-29,By Age Group,0-17,8\nA,2020-5-29x,By Age Group,18-64,250\nB,2020-05-29,,,100\n';
    const out = convert(csv, { measure: COMPUTABLE });
    assert.deepEqual(errorsOf(out), [
      [2, undefined, 'processing'],
      [3, undefined, 'processing'],
      [4, 'period', 'value'],
    ]);
    assert.match(out.errors[0]!.issue.diagnostics!, /line 4/);
    assert.deepEqual(out.reports.map((x) => x.report.subject?.identifier?.value), ['B']);
  });
});

describe('map parameter', () => {
  const renamed = csvFixture('valid/renamed-columns.csv');
  const expectRenamed = (out: ReportCsvResult) => {
    assert.deepEqual(out.errors, []);
    assert.equal(out.reports.length, 2);
    const first = out.reports[0]!.report;
    assert.deepEqual(first.subject?.identifier, { system: DEFAULT_IDENTIFIER_SYSTEM, value: '12345' });
    assert.equal(first.period.start, '2020-05-29T00:00:00+00:00');
    const beds = group(first, 'Beds');
    assert.equal(count(beds.population, 'numTotBeds'), 150);
    assert.equal(count(beds.population, 'numbeds'), 125);
    assert.equal(count(beds.population, 'numBedsOcc'), 100);
    assert.equal(count(beds.population, 'numICUBeds'), 'unsupported');
    assert.equal(count(group(out.reports[1]!.report, 'Beds').population, 'numTotBeds'), 151);
  };

  test('form system|code$column (and structural fields mapped the same way); unmapped Notes is ignored', () => {
    const S = MEASURED_VALUES;
    expectRenamed(convert(renamed, { measure: CDC, map: [`subject$Facility ID,period$Report Date,${S}|numTotBeds$Total Beds,${S}|numbeds$Inpatient Beds,${S}|numBedsOcc$Occupied Beds`] }));
  });

  test('form code$column, split over repeated map parameters, case-insensitive', () => {
    expectRenamed(convert(renamed, { measure: CDC, map: ['subject$facility id,period$REPORT DATE', 'numtotbeds$Total Beds,numbeds$Inpatient Beds', 'numBedsOcc$Occupied Beds'] }));
  });

  test('column$code written the other way round is accepted when only the right side is a code', () => {
    expectRenamed(convert(renamed, { measure: CDC, map: ['Facility ID$subject,Report Date$period,Total Beds$numTotBeds,Inpatient Beds$numbeds,Occupied Beds$numBedsOcc'] }));
  });

  test('form code1,code2: only the listed codes are read; canonical structural columns still count', () => {
    const file = csvFixture('valid/extra-columns.csv');
    const withoutMap = convert(file, { measure: CDC });
    assert.deepEqual(errorsOf(withoutMap), [[1, 'comment', 'code-invalid']], 'without a map an extra column is an error');
    assert.deepEqual(withoutMap.reports, []);
    const out = convert(file, { measure: CDC, map: ['numTotBeds,numbeds'] });
    assert.deepEqual(out.errors, []);
    assert.equal(out.reports.length, 2);
    const beds = group(out.reports[0]!.report, 'Beds');
    assert.equal(count(beds.population, 'numTotBeds'), 150);
    assert.equal(count(beds.population, 'numbeds'), 125);
    assert.equal(count(beds.population, 'numBedsOcc'), 'unsupported', 'present in the file but not mapped: not used');
    assert.equal(count(group(out.reports[0]!.report, 'Ventilators').population, 'numVent'), 'unsupported');
    assert.deepEqual(out.reports[1]!.report.subject?.identifier, { system: 'urn:x', value: 'B' });
  });

  test('a map entry naming no code, or a column the file lacks, stops the conversion', () => {
    const out = convert(renamed, { measure: CDC, map: ['subject$Facility ID,period$Report Date,numFoo$Total Beds,numbeds$Inpatient Bedz'] });
    assert.deepEqual(errorsOf(out), [[0, 'map', 'code-invalid'], [1, 'Inpatient Bedz', 'required']]);
    assert.match(out.errors[0]!.issue.diagnostics!, /numFoo/);
    assert.deepEqual(out.reports, []);
  });

  test('one column for two codes, or one code in two columns, is an error', () => {
    const out = convert(renamed, { measure: CDC, map: ['subject$Facility ID,period$Report Date,numTotBeds$Total Beds,numbeds$Total Beds,numBedsOcc$Occupied Beds,numBedsOcc$Inpatient Beds'] });
    assert.deepEqual(errorsOf(out), [[0, 'map', 'duplicate'], [0, 'map', 'duplicate']]);
  });
});

describe('CDC/NHSN template (test/fixtures/saner/csv/covid19-test-csv-import.csv)', () => {
  const template = readFileSync(path.join(FIXTURES, 'saner/csv/covid19-test-csv-import.csv'));
  const codes = 'numTotBeds,numbeds,numBedsOcc,numICUBeds,numICUBedsOcc,numVent,numVentUse,numC19HospPats,numC19MechVentPats,numC19HOPats,numC19OverflowPats,numC19OFMechVentPats,numC19Died';

  test('converts with a map for orgid and collectionDate, US dates and a configured offset', () => {
    const out = convert(template, {
      measure: CDC,
      map: ['subject$orgid,period$collectionDate', codes],
      reporter: 'urn:sitrep:orgid|12345',
      timezoneOffset: '-05:00',
    });
    assert.deepEqual(out.errors, []);
    assert.deepEqual(out.reports.map((x) => x.report.period.start), ['2020-05-29T00:00:00-05:00', '2020-05-30T00:00:00-05:00', '2020-05-31T00:00:00-05:00', '2020-06-01T00:00:00-05:00']);
    const first = out.reports[0]!.report;
    assert.deepEqual(first.subject, { type: 'Location', identifier: { system: 'urn:sitrep:orgid', value: '12345' } });
    assert.deepEqual(first.reporter, { type: 'Organization', identifier: { system: 'urn:sitrep:orgid', value: '12345' } });
    assert.deepEqual(group(first, 'Beds').population?.map((p) => p.count), [150, 125, 100, 20, 15]);
    assert.deepEqual(group(first, 'Ventilators').population?.map((p) => p.count), [40, 15]);
    const enc = group(first, 'Encounters');
    assert.equal(count(enc.population, 'numC19HospPats'), 25);
    assert.equal(count(enc.population, 'numC19Died'), 1, 'heading "numC19Died " matches once trimmed');
    assert.equal(count(enc.population, 'numC19Pats'), 'unsupported', 'not in the template');
  });

  test('the orgid$subject spelling from the brief works too', () => {
    const out = convert(template, { measure: CDC, map: [`orgid$subject,collectionDate$period,${codes}`] });
    assert.deepEqual(out.errors, []);
    assert.equal(out.reports.length, 4);
  });

  test('without a map every foreign heading is an unknown column, and nothing converts', () => {
    const out = convert(template, { measure: CDC });
    const unknown = out.errors.filter((e) => e.issue.code === 'code-invalid').map((e) => e.column);
    assert.deepEqual(unknown.slice(0, 3), ['orgid', 'collectionDate', 'numNICUBeds']);
    assert.equal(unknown.length, 17);
    assert.ok(out.errors.every((e) => e.line === 1));
    assert.deepEqual(out.reports, []);
  });
});

describe('broken files: every error with its line and column', () => {
  test('ragged rows', () => {
    const out = convert(csvFixture('invalid/ragged-rows.csv'), { measure: CDC });
    assert.deepEqual(errorsOf(out), [[3, undefined, 'structure'], [4, undefined, 'structure']]);
    assert.equal(out.errors[0]!.issue.diagnostics, 'the row has 4 fields, the header has 5');
    assert.equal(out.errors[0]!.issue.expression?.[0], 'line 3');
    assert.deepEqual(out.reports.map((x) => x.report.subject?.identifier?.value), ['A', 'D']);
  });

  test('bad numbers: non-integer, negative, not a number, too large, bad score', { timeout: 20_000 }, () => {
    const out = convert(csvFixture('invalid/bad-numbers.csv'), { measure: CDC });
    assert.deepEqual(errorsOf(out), [
      [3, 'numTotBeds', 'value'],
      [4, 'numbeds', 'value'],
      [5, 'Beds', 'value'],
      [5, 'numBedsOcc', 'value'],
      [6, 'numTotBeds', 'value'],
    ]);
    assert.deepEqual(out.errors.map((e) => e.issue.diagnostics), [
      'count 12.5 is not an integer',
      'count -3 is negative',
      'score "lots" is not a decimal number',
      'count "n/a" is not a number',
      'count 3000000000 is larger than a FHIR integer (2147483647)',
    ]);
    assert.equal(out.errors[0]!.issue.expression?.[0], 'line 3, column numTotBeds');
    // A cell of 400 k digits and a letter: refused in one pass (an ambiguous number pattern backtracked quadratically), quoted clipped.
    assert.deepEqual(parseCount(`${'1'.repeat(400_000)}x`), { ok: false, reason: `count "${'1'.repeat(37)}..." is not a number` });
    assert.deepEqual(out.reports.map((x) => x.lines), [[2]]);
    assert.deepEqual(group(out.reports[0]!.report, 'Beds').measureScore?.value, 80);
  });

  test('duplicate stratifier/stratum pairs and duplicate total rows name both lines', () => {
    const out = convert(csvFixture('invalid/duplicate-strata.csv'), { measure: COMPUTABLE });
    assert.deepEqual(errorsOf(out), [
      [2, undefined, 'processing'],
      [3, undefined, 'processing'],
      [4, undefined, 'processing'],
      [5, 'stratum', 'duplicate'],
      [6, undefined, 'processing'],
      [7, undefined, 'duplicate'],
    ]);
    assert.match(out.errors[3]!.issue.diagnostics!, /lines 3 and 5/);
    assert.match(out.errors[5]!.issue.diagnostics!, /line 6/);
    assert.deepEqual(out.reports.map((x) => x.report.subject?.identifier?.value), ['C']);
  });

  test('cells the validator would refuse are refused on their own line and column: a huge score, year 0000, offset +14:30', () => {
    assert.deepEqual(parseScore('9'.repeat(400)), { ok: false, reason: `score ${'9'.repeat(37)}... is too large` });
    assert.deepEqual(parseScore('53.85%'), { ok: true, value: { value: 53.85, percent: true } });
    assert.equal(parseDateTime('0000-05-29', 'Z').ok, false);
    assert.equal(parseDateTime('2020-05-29T00:00:00+14:30', 'Z').ok, false);
    assert.deepEqual(parseDateTime('2020-05-29T00:00:00+14:00', 'Z'), { ok: true, value: '2020-05-29T00:00:00+14:00' });
    assert.deepEqual(parseDateTime('2020-05-29', '-13:59'), { ok: true, value: '2020-05-29T00:00:00-13:59' });
  });

  test('a stratum given under two names of one stratifier (its code and its text) is a duplicate', () => {
    const measure = structuredClone(COMPUTABLE);
    for (const g of measure.group!) for (const st of g.stratifier ?? []) if (st.code?.text === 'By Age Group') st.code.coding = [{ system: 'urn:example', code: 'age' }];
    const csv = 'subject,period,stratifier,stratum,numC19HospPats,numC19HOPats\nA,2020-05-29,age,0-17,8,1\nA,2020-05-29,By Age Group,0-17,9,2\n';
    const out = convert(csv, { measure });
    assert.deepEqual(errorsOf(out), [[2, undefined, 'processing'], [3, 'stratum', 'duplicate']]);
    assert.deepEqual(out.reports, []);
  });

  test('a report held back by many bad rows names a few of them on each of its other rows', () => {
    const rows = Array.from({ length: 20_000 }, (_, i) => (i % 2 ? `A,2020-05-29,By Age Group,b${i},x,1` : `A,2020-05-29,By Age Group,g${i},5,1`));
    const csv = `subject,period,stratifier,stratum,numC19HospPats,numC19HOPats\n${rows.join('\n')}\n`;
    const out = convert(csv, { measure: COMPUTABLE });
    const held = out.errors.find((e) => e.issue.code === 'processing')!;
    assert.match(held.issue.diagnostics!, /has errors on lines 3, 5, 7, 9, 11, 13, 15, 17, 19, 21 and 9990 more$/);
    // The whole list on each row was rows x bad lines of text: 18 s and 683 MB for this 718 kB file.
    assert.ok(out.errors.reduce((n, e) => n + e.issue.diagnostics!.length, 0) < 20_000 * 200, 'text linear in rows');
  });

  test('unknown columns (a trimmed, case-different heading is fine; an empty unnamed column is fine)', () => {
    const out = convert(csvFixture('invalid/unknown-columns.csv'), { measure: CDC });
    assert.deepEqual(errorsOf(out), [
      [1, 'numBedsOccupied', 'code-invalid'],
      [1, 'Notes', 'code-invalid'],
      [3, '#6', 'structure'],
    ]);
    assert.deepEqual(out.reports, []);
  });

  test('bad dates', () => {
    const out = convert(csvFixture('invalid/bad-dates.csv'), { measure: CDC });
    assert.deepEqual(errorsOf(out), [
      [3, 'period-start', 'value'],
      [3, 'period-end', 'value'],
      [4, 'period-start', 'value'],
      [4, 'period-end', 'value'],
      [5, 'period-start', 'value'],
      [6, 'period-end', 'invariant'],
      [7, 'period-start', 'required'],
    ]);
    assert.match(out.errors[0]!.issue.diagnostics!, /does not exist/);
    assert.deepEqual(out.reports.map((x) => [x.report.subject?.identifier?.value, x.report.period]), [
      ['A', { start: '2020-05-29T00:00:00+00:00', end: '2020-05-29T00:00:00+00:00' }],
      ['G', { start: '2020-05-29T08:30:00+00:00', end: '2020-05-29T08:30:00Z' }],
    ]);
  });

  test('unclosed quote: a syntax error on the line the broken row starts; rows before it are still checked; nothing converts', () => {
    const out = convert(csvFixture('invalid/unclosed-quote.csv'), { measure: CDC });
    assert.deepEqual(errorsOf(out), [[3, 'numbeds', 'value'], [4, undefined, 'structure']]);
    assert.match(out.errors[1]!.issue.diagnostics!, /CSV_QUOTE_NOT_CLOSED/);
    assert.deepEqual(out.reports, []);
  });

  test('text after a closing quote', () => {
    const out = convert('subject,period,numTotBeds\nA,2020-05-29,1\nB,"2020-05-29"x,1\n', { measure: CDC });
    assert.deepEqual(errorsOf(out), [[3, undefined, 'structure']]);
    assert.match(out.errors[0]!.issue.diagnostics!, /CSV_INVALID_CLOSING_QUOTE/);
  });

  test('no subject column and no subject parameter; an empty subject cell', () => {
    const out = convert(csvFixture('invalid/missing-subject-column.csv'), { measure: CDC });
    assert.deepEqual(errorsOf(out), [[1, 'subject', 'required']]);
    assert.deepEqual(out.reports, []);
    const empty = convert('subject,period,numTotBeds\nA,2020-05-29,1\n,2020-05-29,2\n', { measure: CDC });
    assert.deepEqual(errorsOf(empty), [[3, 'subject', 'required']]);
    assert.deepEqual(empty.reports.map((x) => x.lines), [[2]], 'an unstratified row without a subject cannot belong to a report that has its row');
  });

  test('an empty period cell without period parameters is one error', () => {
    const out = convert('subject,period,numTotBeds\nA,,1\nB,2020-05-29,1\n', { measure: CDC });
    assert.deepEqual(errorsOf(out), [[2, 'period', 'required']]);
    assert.deepEqual(out.reports.map((x) => x.lines), [[3]]);
  });

  test('a heading that names an Object.prototype member is just an unknown column', () => {
    const out = convert('subject,period,constructor,__proto__\nA,2020-05-29,1,2\n', { measure: CDC });
    assert.deepEqual(errorsOf(out), [[1, 'constructor', 'code-invalid'], [1, '__proto__', 'code-invalid']]);
  });

  test('an empty file, and a header without rows', () => {
    assert.deepEqual(errorsOf(convert('', { measure: CDC })), [[1, undefined, 'required']]);
    assert.deepEqual(errorsOf(convert('\n\nsubject,period,numTotBeds\n', { measure: CDC })), [[3, undefined, 'required']]);
  });
});

describe('line ends, BOM and quoting', () => {
  test('BOM + CRLF + a quoted CRLF + an empty line: headings found, line numbers exact', () => {
    const file = csvFixture('valid/crlf-bom.csv');
    // Guard: if git or an editor normalised the fixture, this test would prove nothing.
    assert.deepEqual([...file.subarray(0, 3)], [0xef, 0xbb, 0xbf]);
    assert.ok(file.includes('\r\n'));
    const out = convert(file, { measure: CDC });
    assert.deepEqual(out.errors, []);
    assert.deepEqual(out.reports.map((x) => x.lines), [[2], [3], [6]]);
    assert.deepEqual(out.reports[0]!.report.reporter?.identifier, { system: 'urn:sitrep:test', value: 'Org, Inc.' });
    assert.equal(out.reports[1]!.report.reporter?.identifier?.value, 'Two\r\nLines');
  });

  test('after quoted CRLFs, error lines are still exact (csv-parse alone counts them twice)', () => {
    const csv = '\ufeffsubject,reporter,period,numTotBeds\r\nA,"x|a\r\nb\r\nc",2020-05-29,1\r\nB,R,2020-05-29,1\r\n\r\nC,R,2020-05-29,-1\r\n';
    const out = convert(csv, { measure: CDC });
    assert.deepEqual(errorsOf(out), [[7, 'numTotBeds', 'value']]);
    assert.deepEqual(out.reports.map((x) => x.lines), [[2], [5]]);
  });

  test('a BOM followed by empty lines: the header is on the line after them', () => {
    const out = convert('\ufeff\r\n\nsubject,period,"numTotBeds",bogus\r\nA,2020-05-29,1,\r\n', { measure: CDC });
    assert.deepEqual(errorsOf(out), [[3, 'bogus', 'code-invalid']]);
  });

  test('lone CR and mixed line ends', () => {
    const out = convert('subject,period,numTotBeds\rA,2020-05-29,1\nB,2020-05-29,2\r\nC,2020-05-29,x\r', { measure: CDC });
    assert.deepEqual(errorsOf(out), [[4, 'numTotBeds', 'value']]);
    assert.deepEqual(out.reports.map((x) => x.lines), [[2], [3]]);
  });

  test('quoted headings, escaped quotes, commas and newlines inside quotes', () => {
    const out = convert(csvFixture('valid/quoted-fields.csv'), { measure: CDC });
    assert.deepEqual(out.errors, []);
    assert.deepEqual(out.reports.map((x) => [x.report.subject?.identifier?.value, x.lines]), [
      ['Hospital "St. Mary", East', [2]],
      ['Multi\nline', [3]],
      ['Plain', [5]],
    ]);
    assert.equal(count(group(out.reports[0]!.report, 'Beds').population, 'numTotBeds'), 150);
  });

  test('a blank row of delimiters is skipped', () => {
    const out = convert('subject,period,numTotBeds\n,,\nA,2020-05-29,1\n', { measure: CDC });
    assert.deepEqual(out.errors, []);
    assert.deepEqual(out.reports.map((x) => x.lines), [[3]]);
  });
});

describe('large files', () => {
  // The CDC template's shape (30 columns, US dates, a map): 2,000 facilities x 10 days.
  const header = readFileSync(path.join(FIXTURES, 'saner/csv/covid19-test-csv-import.csv'), 'utf8').split(/\r?\n/)[0]!;
  const width = header.split(',').length;
  const lines = [header];
  for (let day = 1; day <= 10; day++) {
    for (let f = 0; f < 2000; f++) lines.push([`${10000 + f}`, `6/${day}/2020`, ...Array.from({ length: width - 2 }, (_, i) => String((f + i) % 200))].join(','));
  }
  const csv = Buffer.from(lines.join('\r\n') + '\r\n');
  const rows = lines.length - 1;
  const map = ['orgid$subject,collectionDate$period', 'numTotBeds,numbeds,numBedsOcc,numICUBeds,numICUBedsOcc,numVent,numVentUse,numC19HospPats,numC19MechVentPats,numC19HOPats,numC19OverflowPats,numC19OFMechVentPats,numC19Died'];

  // Speed is measured by `npm run bench:csv`, never by a timed test; this checks the large file converts.
  test('a 20,000-row file in the CDC template shape converts completely', () => {
    const out = convert(csv, { measure: CDC, map });
    assert.deepEqual(out.errors, []);
    assert.equal(out.reports.length, rows);
  });
});

describe('bounds of a hostile file', () => {
  test('a header wider than MAX_COLUMNS: one error, no row read', () => {
    const out = convert(`${Array.from({ length: MAX_COLUMNS + 1 }, () => 'a').join(',')}\nx\n`, { measure: CDC });
    assert.deepEqual(errorsOf(out), [[1, undefined, 'too-costly']]);
    assert.equal(out.reports.length, 0);
  });

  test('errors beyond MAX_ERRORS_KEPT are counted, not kept', () => {
    // Two bad cells a row.
    const rows = Array.from({ length: MAX_ERRORS_KEPT / 2 + 3 }, (_, i) => `urn:x|F${i},2020-05-29,lots,lots`).join('\n');
    const out = convert(`subject,period,numTotBeds,numbeds\n${rows}\n`, { measure: CDC });
    assert.equal(out.errors.length, MAX_ERRORS_KEPT);
    assert.equal(out.errorsNotKept, 6);
  });

  test('a file converting to more than MAX_REPORTS reports is refused whole, naming the row that went over', () => {
    const rows = Array.from({ length: MAX_REPORTS + 1 }, (_, i) => `urn:x|F${i},2020-05-29,1`).join('\n');
    const reading = readReportCsv(`subject,period,numTotBeds\n${rows}\n`, { measure: CDC });
    assert.equal(reading.reports.length, 0);
    assert.deepEqual(reading.errors.map((e) => [e.line, e.issue.code]), [[MAX_REPORTS + 2, 'too-costly']]);
  });

  test('errors about the file as a whole are kept past the cap: the report limit after MAX_ERRORS_KEPT row errors', () => {
    // A bad cell on every row, and one report too many.
    const rows = Array.from({ length: MAX_REPORTS + 1 }, (_, i) => `urn:x|F${i},2020-05-29,lots`).join('\n');
    const reading = readReportCsv(`subject,period,numTotBeds\n${rows}\n`, { measure: CDC });
    assert.equal(reading.errors.filter((e) => e.issue.code === 'too-costly').length, 1);
  });
});
