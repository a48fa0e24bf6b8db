// Reading the repo's FHIR fixtures (test/fixtures), relative to the repo root (npm runs from there).
import { readFileSync, readdirSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import type { MeasureReport } from 'fhir/r4.js';
import path from 'node:path';

export const FIXTURES = path.resolve('test/fixtures');

export function fixture<T = Record<string, unknown>>(relative: string): T {
  return JSON.parse(readFileSync(path.join(FIXTURES, relative), 'utf8')) as T;
}

export function fixtureNames(dir: string): string[] {
  return readdirSync(path.join(FIXTURES, dir)).filter((f) => f.endsWith('.json')).sort();
}

/** A SANER example report with a subject of its own: a business key no other test uses. */
export function freshReport(): MeasureReport {
  const r = fixture<MeasureReport>('saner/measure-reports/ExampleNJ-20200404-FEMADailyHospitalCOVID19Reporting.json');
  delete r.id;
  r.subject!.identifier = { system: 'urn:sitrep:test:subject', value: randomUUID() };
  return r;
}
