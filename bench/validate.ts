// Benchmark of MeasureReport validation, the ingest hot path: prints µs per report for a realistic
// 30-population report and for the SANER example reports, with and without the Measure's definition.
// Run from the repo root after `npx tsc -b`: node .build/bench/validate.js [iterations]
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Measure, MeasureReport, MeasureReportGroup, MeasureGroup } from 'fhir/r4.js';
import { measureDefinition, MEASURE_POPULATION_SYSTEM, type MeasureDefinition } from '@sitrep/shared/fhir/measure';
import { validateMeasureReport } from '@sitrep/shared/fhir/validate';

const ITERATIONS = Number(process.argv[2] ?? 200_000);
const WARMUP = 20_000;
const BATCHES = 5;
const SANER = 'http://hl7.org/fhir/uv/saner';
const FIXTURES = join(process.cwd(), 'test/fixtures/saner');
const ROLES = ['initial-population', 'denominator', 'numerator'];

/** 3 groups × 10 populations, every third count absent (data-absent-reason), as a state would send. */
function syntheticReport(): { report: MeasureReport; measure: Measure } {
  const groups: MeasureReportGroup[] = [];
  const measureGroups: MeasureGroup[] = [];
  for (const g of ['Beds', 'Ventilators', 'Encounters']) {
    const group: MeasureReportGroup = {
      code: { coding: [{ system: `${SANER}/CodeSystem/MeasureGroupSystem`, code: g }] },
      population: [],
      measureScore: { value: 53.85, unit: '%', system: 'http://unitsofmeasure.org', code: '%' },
    };
    const measureGroup: MeasureGroup = { code: group.code!, population: [] };
    for (let p = 0; p < 10; p++) {
      const code = {
        coding: [
          { system: `${SANER}/CodeSystem/MeasuredValues`, code: `num${g}Value${p}` },
          { system: MEASURE_POPULATION_SYSTEM, code: ROLES[p % 3]! },
        ],
        text: `Number of ${g.toLowerCase()} (${p})`,
      };
      group.population!.push(
        p % 3 === 2
          ? { code, _count: { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'unsupported' }] } }
          : { code, count: 100 + p },
      );
      measureGroup.population!.push({ code, criteria: { language: 'text/plain', expression: code.text } });
    }
    groups.push(group);
    measureGroups.push(measureGroup);
  }
  const url = `${SANER}/Measure/BenchMeasure`;
  const report: MeasureReport = {
    resourceType: 'MeasureReport',
    id: 'bench-20200404',
    meta: { profile: [`${SANER}/StructureDefinition/PublicHealthMeasureReport`] },
    identifier: [{ system: 'urn:ietf:rfc:3986', value: 'urn:uuid:375c3957-9219-11ea-1863-09173f13e4c5' }],
    status: 'complete',
    type: 'summary',
    measure: url,
    subject: {
      reference: 'Location/states-NJ',
      identifier: { system: 'https://www.census.gov/geographies', value: '34' },
      display: 'State of New Jersey',
    },
    date: '2020-04-04T23:59:59-05:00',
    reporter: { reference: 'Organization/NJ-DPH', display: 'New Jersey Department of Public Health' },
    period: { start: '2020-04-04T00:00:00-05:00', end: '2020-04-04T23:59:59-05:00' },
    group: groups,
  };
  const measure: Measure = { resourceType: 'Measure', url, status: 'active', group: measureGroups };
  // A round trip gives the objects JSON.parse's shapes, as ingest sees them.
  return { report: JSON.parse(JSON.stringify(report)), measure };
}

function readJson<T>(dir: string): T[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as T);
}

/**
 * µs per call of validate over `reports`, round-robin, after a warm-up: the median of BATCHES
 * batches of this process's CPU time (not wall time), because other processes share this 2-core
 * machine and would otherwise be counted. Refuses to time the error path.
 */
function time(reports: unknown[], definitions: (MeasureDefinition | undefined)[]): number {
  reports.forEach((r, i) => {
    const issues = validateMeasureReport(r, { measure: definitions[i] });
    if (issues.length > 0) throw new Error(`benchmark input ${i} is not valid: ${JSON.stringify(issues)}`);
  });
  const options = definitions.map((measure) => ({ measure }));
  let sink = 0;
  const run = (n: number) => {
    for (let i = 0; i < n; i++) {
      const k = i % reports.length;
      sink += validateMeasureReport(reports[k], options[k]).length;
    }
  };
  run(WARMUP);
  const perBatch = Math.ceil(ITERATIONS / BATCHES);
  const us: number[] = [];
  for (let b = 0; b < BATCHES; b++) {
    const start = process.cpuUsage();
    run(perBatch);
    us.push(cpuMicros(process.cpuUsage(start)) / perBatch);
  }
  if (sink !== 0) throw new Error('issues appeared while timing');
  return us.sort((a, b) => a - b)[BATCHES >> 1]!;
}

const cpuMicros = (u: NodeJS.CpuUsage) => u.user + u.system;

function line(what: string, us: number): void {
  console.log(`validation: ${us.toFixed(1)} us/report (${ITERATIONS} reports, median of ${BATCHES} batches) ${what}`);
}

const synthetic = syntheticReport();
const syntheticDef = measureDefinition(synthetic.measure);
const examples = readJson<MeasureReport>(join(FIXTURES, 'measure-reports'));
const byUrl = new Map(readJson<Measure>(join(FIXTURES, 'measures')).map((m) => [m.url, measureDefinition(m)]));
const exampleDefs = examples.map((r) => byUrl.get(r.measure));

line('30 populations (3 groups x 10)', time([synthetic.report], [undefined]));
line('30 populations (3 groups x 10), with MeasureDefinition', time([synthetic.report], [syntheticDef]));
line(`SANER examples (${examples.length} reports)`, time(examples, examples.map(() => undefined)));
line(`SANER examples (${examples.length} reports), with MeasureDefinition`, time(examples, exampleDefs));

// For scale: what parsing the same 30-population report costs (CPU time too).
const text = JSON.stringify(synthetic.report);
const parses = ITERATIONS / 10;
const parseStart = process.cpuUsage();
let parsed = 0;
for (let i = 0; i < parses; i++) parsed += (JSON.parse(text) as MeasureReport).group!.length;
const parseUs = cpuMicros(process.cpuUsage(parseStart)) / parses;
console.log(`JSON.parse: ${parseUs.toFixed(1)} us/report (${parses} reports of ${text.length} bytes, for scale; ${parsed} groups)`);
