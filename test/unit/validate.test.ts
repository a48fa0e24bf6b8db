// Unit tests of FHIR validation: the SANER examples pass, and each broken report in
// test/fixtures/invalid (named after its defect) yields exactly the issues that defect should.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Measure, MeasureReport } from 'fhir/r4.js';
import { measureDefinition, type MeasureDefinition } from '@sitrep/shared/fhir/measure';
import type { Issue } from '@sitrep/shared/fhir/outcome';
import { INVALID, P } from '../helpers/invalid-reports.js';
import {
  validateLocation,
  validateMeasure,
  validateMeasureReport,
  validateOrganization,
} from '@sitrep/shared/fhir/validate';

const FIXTURES = join(process.cwd(), 'test/fixtures');
const read = <T = Record<string, unknown>>(path: string): T => JSON.parse(readFileSync(join(FIXTURES, path), 'utf8')) as T;
const files = (dir: string) =>
  readdirSync(join(FIXTURES, dir))
    .filter((f) => f.endsWith('.json'))
    .sort();
const clone = <T>(v: T): T => structuredClone(v);

/** [severity, code, expression] of each issue, sorted: the order of issues is not part of the contract. */
const brief = (issues: Issue[]) => issues.map((i) => [i.severity, i.code, i.expression?.[0]]).sort();
const errors = (issues: Issue[]) => issues.filter((i) => i.severity === 'error');

const measures = new Map<string, Measure>(files('saner/measures').map((f) => {
  const m = read<Measure>(`saner/measures/${f}`);
  return [m.url!, m];
}));
const definitionOf = (url: string): MeasureDefinition => {
  const m = measures.get(url);
  assert.ok(m, `no example Measure ${url}`);
  return measureDefinition(m);
};
const FEMA = 'http://hl7.org/fhir/uv/saner/Measure/FEMADailyHospitalCOVID19Reporting';

describe('SANER example resources are valid', () => {
  for (const f of files('saner/measure-reports')) {
    test(f, () => {
      const report = read<MeasureReport>(`saner/measure-reports/${f}`);
      assert.deepEqual(validateMeasureReport(report), []);
      assert.deepEqual(validateMeasureReport(report, { measure: definitionOf(report.measure) }), []);
    });
  }
  test('Measures', () => {
    for (const f of files('saner/measures')) assert.deepEqual(validateMeasure(read(`saner/measures/${f}`)), [], f);
  });
  test('Locations', () => {
    for (const f of files('saner/locations')) assert.deepEqual(validateLocation(read(`saner/locations/${f}`)), [], f);
  });
  test('Organizations', () => {
    for (const f of files('saner/organizations')) assert.deepEqual(validateOrganization(read(`saner/organizations/${f}`)), [], f);
  });
});


describe('broken reports (test/fixtures/invalid)', () => {
  test('every file has an expectation and every expectation a file', () => {
    assert.deepEqual(files('invalid').map((f) => f.replace(/\.json$/, '')), Object.keys(INVALID).sort());
  });
  for (const [name, expected] of Object.entries(INVALID)) {
    test(name, () => {
      const report = read(`invalid/${name}.json`);
      const issues = validateMeasureReport(report, expected.measure ? { measure: definitionOf(FEMA) } : undefined);
      assert.deepEqual(brief(issues), brief(expected.issues.map(([code, expression]) => ({ severity: 'error', code, expression: [expression] }))));
      for (const i of issues) assert.ok(i.diagnostics && i.diagnostics.length > 0, 'every issue says what is wrong');
    });
  }
  test('an unknown code is named in its issue', () => {
    const [group] = validateMeasureReport(read('invalid/unknown-group-code.json'), { measure: definitionOf(FEMA) });
    assert.match(group!.diagnostics!, /'negativePercent'/);
    const [population] = validateMeasureReport(read('invalid/unknown-population-code.json'), { measure: definitionOf(FEMA) });
    assert.match(population!.diagnostics!, /'totalTestResultsYesterday'/);
  });
  test('codes that need a Measure are not checked without one', () => {
    assert.deepEqual(validateMeasureReport(read('invalid/unknown-group-code.json')), []);
    assert.deepEqual(validateMeasureReport(read('invalid/unknown-population-code.json')), []);
  });
});

describe('rules', () => {
  const base = () => read<MeasureReport>('saner/measure-reports/ExampleNJ-20200404-FEMADailyHospitalCOVID19Reporting.json');
  const fema = () => ({ measure: definitionOf(FEMA) });

  test('anything but a JSON object is one structure error', () => {
    for (const input of [null, 'MeasureReport', 42, [], [base()]]) {
      assert.deepEqual(brief(validateMeasureReport(input)), [['error', 'structure', undefined]]);
    }
  });
  test('an object without resourceType is one invalid error', () => {
    assert.deepEqual(brief(validateMeasureReport({ status: 'complete' })), [['error', 'invalid', 'resourceType']]);
  });

  test('lenient: unknown elements become warnings, everything else stays an error', () => {
    const issues = validateMeasureReport(read('invalid/unknown-element-at-root.json'), { lenient: true });
    assert.deepEqual(brief(issues), [['warning', 'structure', 'MeasureReport.reportedBy']]);
    const several = validateMeasureReport(read('invalid/several-defects.json'), { lenient: true, measure: definitionOf(FEMA) });
    assert.deepEqual(several.filter((i) => i.severity === 'warning').map((i) => i.expression?.[0]).sort(), [
      'MeasureReport.group[0].population[1].value',
      'MeasureReport.reportedBy',
    ]);
    assert.equal(errors(several).length, INVALID['several-defects']!.issues.length - 2);
  });

  test('population and group codes match the Measure case-insensitively', () => {
    const r = base();
    r.group![0]!.code!.coding![0]!.code = 'POSITIVEINCREASEPERCENT';
    r.group![0]!.population![1]!.code!.coding![0]!.code = 'totaltestresultsincrease';
    assert.deepEqual(validateMeasureReport(r, fema()), []);
    // Twice: the second lookup takes the cached spelling.
    assert.deepEqual(validateMeasureReport(r, fema()), []);
  });

  test('a data-absent-reason on the population itself also stands for the count (the IG invariant)', () => {
    const r = base();
    const p = r.group![0]!.population![1]!;
    delete p.count;
    p.extension = [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'unknown' }];
    assert.deepEqual(validateMeasureReport(r), []);
  });

  test('the data-absent-reason extension carries a code', () => {
    const r = base();
    const dar = r.group![0]!.population![0]!._count!.extension![0]!;
    delete dar.valueCode;
    dar.valueString = 'unsupported';
    assert.deepEqual(brief(validateMeasureReport(r)), [['error', 'required', `${P}[0].count.extension[0].valueCode`]]);
  });

  test('a stratified report identified by components is valid; strata need components', () => {
    const r = base();
    const code = clone(r.group![0]!.population![1]!.code!);
    r.group![0]!.stratifier = [{
      code: [{ text: 'age group' }],
      stratum: [{
        component: [{ code: { text: 'age group' }, value: { text: '0-17' } }],
        population: [{ code, count: 12 }],
        measureScore: { value: 1.5 },
      }],
    }];
    assert.deepEqual(validateMeasureReport(r, fema()), []);
    delete r.group![0]!.stratifier[0]!.stratum![0]!.component;
    assert.deepEqual(brief(validateMeasureReport(r)), [['error', 'required', 'MeasureReport.group[0].stratifier[0].stratum[0].component']]);
  });

  test('stratum population codes are checked against the group', () => {
    const r = base();
    r.group![0]!.stratifier = [{
      code: [{ text: 'age group' }],
      stratum: [{
        component: [{ code: { text: 'age group' }, value: { text: '0-17' } }],
        population: [{ code: { coding: [{ code: 'numBeds' }] }, count: 12 }],
      }],
    }];
    assert.deepEqual(brief(validateMeasureReport(r, fema())), [
      ['error', 'code-invalid', 'MeasureReport.group[0].stratifier[0].stratum[0].population[0].code'],
    ]);
  });

  test('subject and reporter: target types from `type` or a literal reference; others are not judged', () => {
    const r = base();
    r.subject!.type = 'Patient';
    assert.deepEqual(brief(validateMeasureReport(r)), [['error', 'invariant', 'MeasureReport.subject.type']]);
    r.subject!.type = 'http://hl7.org/fhir/StructureDefinition/Location';
    r.subject!.reference = 'https://example.org/fhir/Location/states-NJ/_history/3';
    r.reporter!.reference = 'urn:uuid:375c3957-9219-11ea-1863-09173f13e4c5';
    assert.deepEqual(validateMeasureReport(r), []);
  });

  test('period: instants compare across offsets, equal values are fine', () => {
    const r = base();
    r.period = { start: '2020-04-04T06:00:00+01:00', end: '2020-04-04T00:00:00-05:00' }; // 05:00Z .. 05:00Z
    assert.deepEqual(validateMeasureReport(r), []);
    r.period = { start: '2020-04-04T06:00:01+01:00', end: '2020-04-04T00:00:00-05:00' };
    assert.deepEqual(brief(validateMeasureReport(r)), [['error', 'invariant', 'MeasureReport.period']]);
    r.period = { start: '2020-04-04T00:00:00.123Z', end: '2020-04-04T23:59:59.999Z' };
    assert.deepEqual(validateMeasureReport(r), []);
  });

  test('hostile sizes: a fraction beyond the nanosecond, key texts over 1024 characters, many codes', { timeout: 20_000 }, () => {
    const r = base();
    r.period = { start: '2020-04-04T00:00:00.123456789Z', end: '2020-04-04T23:59:59Z' };
    assert.deepEqual(validateMeasureReport(r), []);
    // 400 k digits: refused at once (a pattern with an unbounded fraction was the door to slow regexes further on).
    r.period = { start: `2020-04-04T00:00:00.${'0'.repeat(400_000)}1Z`, end: '2020-04-04T23:59:59Z' };
    assert.deepEqual(brief(validateMeasureReport(r)), [['error', 'value', 'MeasureReport.period.start']]);
    const long = base();
    long.subject!.identifier!.value = 'x'.repeat(1025);
    long.reporter = { identifier: { system: `urn:${'y'.repeat(1024)}`, value: 'r' } };
    long.measure = `http://example.org/${'m'.repeat(1024)}`;
    assert.deepEqual(brief(validateMeasureReport(long)), [
      ['error', 'value', 'MeasureReport.measure'],
      ['error', 'value', 'MeasureReport.reporter.identifier.system'],
      ['error', 'value', 'MeasureReport.subject.identifier.value'],
    ]);
    // 100 k distinct population codes, then one twice: the one duplicate is found (a search per code was quadratic).
    const many = base();
    const population = Array.from({ length: 100_000 }, (_, i) => ({ code: { coding: [{ code: `p${i}` }] }, count: 1 }));
    many.group = [{ code: { coding: [{ code: 'g' }] }, population: [...population, { code: { coding: [{ code: 'P7' }] }, count: 1 }] }];
    const issues = validateMeasureReport(many);
    assert.deepEqual(brief(issues), [['error', 'invariant', 'MeasureReport.group[0].population[100000].code']]);
    assert.match(issues[0]!.diagnostics!, /also at population\[7\]/);
  });

  test('dates: a day that does not exist and a leap second are refused, Feb 29 of a leap year is fine', () => {
    const r = base();
    r.period = { start: '2020-02-30T00:00:00Z', end: '2020-03-01T23:59:59Z' };
    const issues = validateMeasureReport(r);
    assert.deepEqual(brief(issues), [['error', 'value', 'MeasureReport.period.start']]);
    assert.match(issues[0]!.diagnostics!, /"2020-02-30T00:00:00Z" is not a calendar date/);
    r.period = { start: '2019-02-29T00:00:00Z', end: '2019-03-01T00:00:00Z' };
    assert.deepEqual(brief(validateMeasureReport(r)), [['error', 'value', 'MeasureReport.period.start']]);
    r.period = { start: '2020-02-29T00:00:00Z', end: '2020-04-31T00:00:00Z' };
    assert.deepEqual(brief(validateMeasureReport(r)), [['error', 'value', 'MeasureReport.period.end']]);
    r.period = { start: '2020-02-29T00:00:00Z', end: '2020-03-01T00:00:00Z' };
    assert.deepEqual(validateMeasureReport(r), []);
    r.period = { start: '2016-12-31T23:59:60Z', end: '2017-01-01T23:59:59Z' };
    assert.match(validateMeasureReport(r)[0]!.diagnostics!, /leap second/);
    r.date = '2021-04-31T10:00:00Z';
    r.period = { start: '2020-02-29T00:00:00Z', end: '2020-03-01T00:00:00Z' };
    assert.deepEqual(brief(validateMeasureReport(r)), [['error', 'value', 'MeasureReport.date']]);
  });

  test('a body full of problems lists 100 of them and counts the rest; unknown names are clipped', () => {
    const r = base() as unknown as Record<string, unknown>;
    for (let i = 0; i < 300; i++) r[`x${i}`] = 1;
    r[`y${'z'.repeat(100_000)}`] = 1;
    const issues = validateMeasureReport(r);
    assert.equal(issues.length, 101);
    assert.deepEqual(issues.at(-1), { severity: 'error', code: 'too-costly', diagnostics: '201 more problems not listed (at most 100 are)', expression: ['MeasureReport'] });
    const json = JSON.stringify(validateMeasureReport({ ...base(), [`y${'z'.repeat(100_000)}`]: 1 }));
    assert.ok(json.length < 1000, `${json.length} characters`);
    // Lenient: 302 unknown elements are warnings, and so is the issue that counts the unlisted ones.
    const lenient = validateMeasureReport(r, { lenient: true });
    assert.equal(lenient.length, 101);
    assert.ok(lenient.every((i) => i.severity === 'warning'), JSON.stringify(lenient.at(-1)));
  });

  test('primitives: JSON types, empty strings, _element companions, datatypes', () => {
    const r = base() as unknown as Record<string, any>;
    r.language = 'en-US ';
    r.implicitRules = 'http://example.org/rules with space';
    r._status = { extension: [{ url: 'http://example.org/ext', valueBoolean: true }], comment: 'x' };
    r.meta.lastUpdated = '2020-04-04';
    r.meta.profile = [null];
    r.subject.display = '';
    r.subject.identifier.system = 3;
    r.reporter.reference = { reference: 'Organization/NJ-DPH' };
    r.group[0].measureScore.comparator = '~';
    r.group[0].measureScore.value = '53.85';
    r.group[0].population[1]._count = {};
    r.text = { div: '<p>no div</p>' };
    r.contained = [{ id: 'x' }];
    r.extension = [{ url: 'http://example.org/ext' }];
    assert.deepEqual(brief(validateMeasureReport(r)), brief([
      ['value', 'MeasureReport.language'],
      ['value', 'MeasureReport.implicitRules'],
      ['structure', 'MeasureReport.status.comment'],
      ['value', 'MeasureReport.meta.lastUpdated'],
      ['structure', 'MeasureReport.meta.profile[0]'],
      ['value', 'MeasureReport.subject.display'],
      ['structure', 'MeasureReport.subject.identifier.system'],
      ['structure', 'MeasureReport.reporter.reference'],
      ['value', 'MeasureReport.group[0].measureScore.comparator'],
      ['structure', 'MeasureReport.group[0].measureScore.value'],
      ['invariant', `${P}[1].count`],
      ['value', 'MeasureReport.text.div'],
      ['required', 'MeasureReport.text.status'],
      ['required', 'MeasureReport.contained[0]'],
      ['invariant', 'MeasureReport.extension[0]'],
    ].map(([code, e]) => ({ severity: 'error' as const, code: code as Issue['code'], expression: [e!] }))));
  });

  test('never throws, whatever replaces any part of a report', () => {
    // Deterministic: every node of the report, replaced in turn by each odd value.
    const odd: unknown[] = [null, 0, -1.5, '', ' x ', true, [], [null], {}, { extension: 1 }, [{}]];
    const paths: (string | number)[][] = [];
    const walk = (v: unknown, p: (string | number)[]) => {
      paths.push(p);
      if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...p, i]));
      else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...p, k]);
    };
    walk(base(), []);
    let total = 0;
    // paths[0] is the report itself; replacing resourceType is covered above.
    for (const p of paths.slice(1).filter((p) => p[0] !== 'resourceType')) {
      for (const value of odd) {
        const r = base() as unknown as Record<string | number, unknown>;
        let parent: any = r;
        for (const seg of p.slice(0, -1)) parent = parent[seg];
        parent[p[p.length - 1]!] = value;
        const issues = validateMeasureReport(r, fema());
        for (const i of issues) {
          assert.ok(i.severity && i.code && i.diagnostics, JSON.stringify(i));
          assert.ok(i.expression?.[0]?.startsWith('MeasureReport'), JSON.stringify(i));
        }
        total += issues.length;
      }
    }
    assert.ok(total > paths.length, 'odd values are reported');
  });
});

describe('Measure, Location, Organization', () => {
  const measure = () => read('saner/measures/FEMADailyHospitalCOVID19Reporting.json') as Record<string, any>;
  const location = () => read('saner/locations/Loc-X140008.json') as Record<string, any>;
  const organization = () => read('saner/organizations/X140008.json') as Record<string, any>;

  test('a wrong resourceType is one invalid error', () => {
    assert.deepEqual(brief(validateMeasure(location())), [['error', 'invalid', 'resourceType']]);
    assert.deepEqual(brief(validateLocation(organization())), [['error', 'invalid', 'resourceType']]);
    assert.deepEqual(brief(validateOrganization(measure())), [['error', 'invalid', 'resourceType']]);
  });

  test('Measure: url, status and group codes are required; unknown elements; JSON types', () => {
    const m = measure();
    delete m.url;
    m.status = 'final';
    delete m.group[0].code;
    delete m.group[1].population[0].code;
    m.experimental = 'false';
    m.scoringMethod = 'x';
    assert.deepEqual(brief(validateMeasure(m)), brief([
      ['required', 'Measure.url'],
      ['value', 'Measure.status'],
      ['required', 'Measure.group[0].code'],
      ['required', 'Measure.group[1].population[0].code'],
      ['structure', 'Measure.experimental'],
      ['structure', 'Measure.scoringMethod'],
    ].map(([code, e]) => ({ severity: 'error' as const, code: code as Issue['code'], expression: [e!] }))));
    assert.deepEqual(brief(validateMeasure({ ...measure(), scoringMethod: 'x' }, { lenient: true })), [['warning', 'structure', 'Measure.scoringMethod']]);
  });

  test('Location: address shape, position, id', () => {
    const l = location();
    l.id = 'Loc X140008';
    l.address.line = '701 W NORTH AVE';
    l.address.use = 'office';
    l.address.county = 'COOK';
    l.position.latitude = 141.9;
    assert.deepEqual(brief(validateLocation(l)), brief([
      ['value', 'Location.id'],
      ['structure', 'Location.address.line'],
      ['value', 'Location.address.use'],
      ['structure', 'Location.address.county'],
      ['value', 'Location.position.latitude'],
    ].map(([code, e]) => ({ severity: 'error' as const, code: code as Issue['code'], expression: [e!] }))));
  });

  test('Organization: identifier shape, name or identifier (org-1)', () => {
    const o = organization();
    o.identifier = [{ system: 'http://sanerproject.org/connectathon/hospitals', value: 140008 }, { use: 'primary' }];
    assert.deepEqual(brief(validateOrganization(o)), [
      ['error', 'structure', 'Organization.identifier[0].value'],
      ['error', 'value', 'Organization.identifier[1].use'],
    ]);
    const bare = organization();
    delete bare.identifier;
    delete bare.name;
    assert.deepEqual(brief(validateOrganization(bare)), [['error', 'invariant', 'Organization']]);
    const barred = organization();
    barred.identifier[0].system = 'http://example.org|ids';
    assert.deepEqual(brief(validateOrganization(barred)), [['error', 'value', 'Organization.identifier[0].system']]);
    const l = location();
    l.identifier = [{ system: 'urn:x', value: '1' }, { system: 'urn:x|y', value: '1' }];
    assert.deepEqual(brief(validateLocation(l)), [['error', 'value', 'Location.identifier[1].system']]);
    const single = organization();
    single.identifier = single.identifier[0];
    assert.deepEqual(brief(validateOrganization(single)), [['error', 'structure', 'Organization.identifier']]);
  });
});
