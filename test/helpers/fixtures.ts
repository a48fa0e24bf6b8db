// Reading the repo's FHIR fixtures (test/fixtures), relative to the repo root (npm runs from there).
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

export const FIXTURES = path.resolve('test/fixtures');

export function fixture<T = Record<string, unknown>>(relative: string): T {
  return JSON.parse(readFileSync(path.join(FIXTURES, relative), 'utf8')) as T;
}

export function fixtureNames(dir: string): string[] {
  return readdirSync(path.join(FIXTURES, dir)).filter((f) => f.endsWith('.json')).sort();
}
