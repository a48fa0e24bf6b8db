// The Measure Source simulator's generator: a seeded, reproducible stream of SANER reports from N
// facilities spread over counties and states, with a share of corrections and exact duplicates.
// Used by the demo CLI (cli.ts), the end-to-end tests and the benchmarks.
import type { Location, Measure, MeasureReport, MeasureReportGroup } from 'fhir/r4.js';

export const FACILITY_SYSTEM = 'http://sitrep.example/facility-id';
export const SIM_MEASURE_URL = 'http://sitrep.example/Measure/SimHospitalCapacity';

/** Deterministic PRNG (mulberry32): the same seed gives the same reports. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Facility {
  id: string;
  /** `<system>|<value>`, the report subject key. */
  key: string;
  state: string; // USPS code, e.g. IL
  county: string; // county name as the Location's district gives it
  location: Location;
}

const STATES: { usps: string; counties: string[] }[] = [
  { usps: 'IL', counties: ['COOK', 'DUPAGE', 'LAKE', 'WILL'] },
  { usps: 'RI', counties: ['PROVIDENCE', 'KENT', 'NEWPORT'] },
  { usps: 'NJ', counties: ['ESSEX', 'BERGEN', 'MIDDLESEX', 'HUDSON'] },
  { usps: 'NY', counties: ['KINGS', 'QUEENS'] },
];

export function facilities(n: number, opts: { states?: number; seed?: number } = {}): Facility[] {
  const rand = rng(opts.seed ?? 1);
  const states = STATES.slice(0, Math.max(1, Math.min(STATES.length, opts.states ?? 3)));
  return Array.from({ length: n }, (_, i) => {
    const st = states[i % states.length]!;
    const county = st.counties[Math.floor(rand() * st.counties.length)]!;
    const id = `F${String(i + 1).padStart(5, '0')}`;
    const location: Location = {
      resourceType: 'Location',
      id: `loc-${id}`,
      identifier: [{ system: FACILITY_SYSTEM, value: id }],
      status: 'active',
      name: `Simulated hospital ${id}`,
      address: { use: 'work', city: 'Somewhere', district: county, state: st.usps, postalCode: '00000', country: 'USA' },
    };
    return { id, key: `${FACILITY_SYSTEM}|${id}`, state: st.usps, county, location };
  });
}

type GroupSpec = { code: string; rateAggregation: 'count' | 'point-in-time' | 'cumulative'; populations: { code: string; role?: string }[] };

/** measure-population roles of each group's first populations: Beds and Deaths have scores (a capacity, an event growth). */
const ROLES: Record<string, string[]> = {
  Beds: ['denominator', 'numerator', 'denominator-exclusion'],
  Admissions: [],
  Deaths: ['initial-population', 'numerator', 'denominator'],
};

/** The simulator's Measure: one group of each rateAggregation, `populationsPerGroup` populations each. */
export function simMeasure(populationsPerGroup = 10): Measure {
  const groups: GroupSpec[] = [
    { code: 'Beds', rateAggregation: 'point-in-time', populations: [] },
    { code: 'Admissions', rateAggregation: 'count', populations: [] },
    { code: 'Deaths', rateAggregation: 'cumulative', populations: [] },
  ];
  for (const g of groups) {
    for (let i = 0; i < populationsPerGroup; i++) {
      const role = ROLES[g.code]![i];
      g.populations.push({ code: `${g.code.toLowerCase()}Pop${i}`, ...(role ? { role } : {}) });
    }
  }
  return {
    resourceType: 'Measure',
    id: 'SimHospitalCapacity',
    url: SIM_MEASURE_URL,
    status: 'active',
    name: 'SimHospitalCapacity',
    group: groups.map((g) => ({
      extension: [
        {
          url: 'http://hl7.org/fhir/uv/saner/StructureDefinition/MeasureGroupAttributes',
          extension: [{ url: 'rateAggregation', valueString: g.rateAggregation }],
        },
      ],
      code: { coding: [{ system: 'http://hl7.org/fhir/uv/saner/CodeSystem/MeasureGroupSystem', code: g.code }] },
      population: g.populations.map((p) => ({
        criteria: { language: 'text/cql-identifier', expression: p.code },
        code: {
          coding: [
            { system: 'http://sitrep.example/CodeSystem/sim', code: p.code },
            ...(p.role ? [{ system: 'http://terminology.hl7.org/CodeSystem/measure-population', code: p.role }] : []),
          ],
        },
      })),
    })),
  };
}

const DAY_MS = 86_400_000;

function reportFor(measure: Measure, subjectKey: string, day: string, offset: string, rand: () => number, absentShare: number): MeasureReport {
  const [system, value] = subjectKey.split('|') as [string, string];
  const start = `${day}T00:00:00${offset}`;
  const end = `${day}T23:59:59${offset}`;
  const groups: MeasureReportGroup[] = (measure.group ?? []).map((g) => ({
    code: g.code!,
    population: (g.population ?? []).map((p) => {
      const code = { coding: [p.code!.coding![0]!] };
      if (rand() < absentShare) {
        return { code, _count: { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'unknown' }] } } as never;
      }
      return { code, count: Math.floor(rand() * 500) };
    }),
  }));
  return {
    resourceType: 'MeasureReport',
    meta: { profile: ['http://hl7.org/fhir/uv/saner/StructureDefinition/PublicHealthMeasureReport'] },
    status: 'complete',
    type: 'summary',
    measure: measure.url!,
    subject: { identifier: { system, value } },
    date: `${day}T23:59:59${offset}`,
    reporter: { identifier: { system: 'http://sitrep.example/reporter', value: 'sim' } },
    period: { start, end },
    group: groups,
  };
}

/** The same instant written in another UTC offset ('±hh:mm'): a report can move to another local day this way. */
export function inOffset(dateTime: string, offset: string): string {
  const [h, m] = offset.slice(1).split(':').map(Number) as [number, number];
  const local = Date.parse(dateTime) + (offset.startsWith('-') ? -1 : 1) * (h * 60 + m) * 60_000;
  return `${new Date(local).toISOString().slice(0, 19)}${offset}`;
}

export interface Send {
  report: MeasureReport;
  kind: 'original' | 'correction' | 'duplicate';
}

export interface ScenarioOptions {
  measure: Measure;
  subjects: string[];
  days: number;
  startDate: string; // YYYY-MM-DD
  offset?: string; // e.g. -05:00
  correctionShare?: number;
  duplicateShare?: number;
  absentShare?: number;
  seed?: number;
}

/**
 * Every report in the order a source would send it: day by day, with corrections (same business key,
 * new values) and exact duplicates re-sent a little later in the stream.
 */
export function scenario(o: ScenarioOptions): Send[] {
  const rand = rng(o.seed ?? 42);
  const offset = o.offset ?? '-05:00';
  const sends: Send[] = [];
  const later: { at: number; send: Send }[] = [];
  const first = Date.parse(`${o.startDate}T00:00:00Z`);
  for (let d = 0; d < o.days; d++) {
    const day = new Date(first + d * DAY_MS).toISOString().slice(0, 10);
    for (const subject of o.subjects) {
      const report = reportFor(o.measure, subject, day, offset, rand, o.absentShare ?? 0.05);
      sends.push({ report, kind: 'original' });
      if (rand() < (o.correctionShare ?? 0.2)) {
        const corrected = reportFor(o.measure, subject, day, offset, rand, o.absentShare ?? 0.05);
        later.push({ at: sends.length + 1 + Math.floor(rand() * o.subjects.length), send: { report: corrected, kind: 'correction' } });
      }
      if (rand() < (o.duplicateShare ?? 0.1)) {
        later.push({ at: sends.length + 1 + Math.floor(rand() * o.subjects.length), send: { report: structuredClone(report), kind: 'duplicate' } });
      }
    }
    later.sort((a, b) => a.at - b.at);
    while (later.length && later[0]!.at <= sends.length) sends.push(later.shift()!.send);
  }
  for (const l of later) sends.push(l.send);
  // A duplicate re-sends the original; if a correction of the same report came first, the
  // duplicate is the latest version: the stream order decides, as Kafka order does.
  return sends;
}
