// The Measure Source simulator CLI (`npm run simulate -- --help`): registers the simulated Measure
// and facility Locations with ingest, then posts daily reports with corrections and duplicates at
// a given rate and concurrency, and prints what the server answered.
import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import { facilities, scenario, simMeasure } from './generate.js';
import { postReports, putResource } from './post.js';

const { values: a } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:8080' },
    facilities: { type: 'string', default: '50' },
    states: { type: 'string', default: '3' },
    days: { type: 'string', default: '7' },
    start: { type: 'string', default: '2020-04-06' },
    corrections: { type: 'string', default: '0.2' },
    duplicates: { type: 'string', default: '0.1' },
    populations: { type: 'string', default: '10' },
    rate: { type: 'string' },
    concurrency: { type: 'string', default: '16' },
    seed: { type: 'string', default: '42' },
    ndjson: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

if (a.help) {
  console.log(`usage: npm run simulate -- [--url URL] [--facilities N] [--states N] [--days N] [--start YYYY-MM-DD]
  [--corrections SHARE] [--duplicates SHARE] [--populations N per group] [--rate R/s] [--concurrency N]
  [--seed N] [--ndjson FILE (write the reports as NDJSON instead of posting)]`);
  process.exit(0);
}

const num = (s: string | undefined) => Number(s);
const measure = simMeasure(num(a.populations));
const fac = facilities(num(a.facilities), { states: num(a.states), seed: num(a.seed) });
const sends = scenario({
  measure,
  subjects: fac.map((f) => f.key),
  days: num(a.days),
  startDate: a.start!,
  correctionShare: num(a.corrections),
  duplicateShare: num(a.duplicates),
  seed: num(a.seed),
});

if (a.ndjson) {
  writeFileSync(a.ndjson, sends.map((s) => JSON.stringify(s.report)).join('\n') + '\n');
  console.log(`wrote ${sends.length} reports to ${a.ndjson}`);
  process.exit(0);
}

const url = a.url!.replace(/\/$/, '');
const refs = [measure, ...fac.map((f) => f.location)];
for (const r of refs) {
  const status = await putResource(url, r as { resourceType: string; id?: string });
  if (status >= 300) throw new Error(`PUT ${r.resourceType}/${r.id} answered ${status}`);
}
console.log(`registered Measure ${measure.url} and ${fac.length} Locations`);
const t0 = performance.now();
const results = await postReports(
  url,
  sends.map((s) => s.report),
  { concurrency: num(a.concurrency), ...(a.rate ? { rate: num(a.rate) } : {}) },
);
const seconds = (performance.now() - t0) / 1000;
const byStatus = new Map<number, number>();
for (const r of results) byStatus.set(r.status, (byStatus.get(r.status) ?? 0) + 1);
const kinds = { original: 0, correction: 0, duplicate: 0 };
for (const s of sends) kinds[s.kind]++;
console.log(
  `posted ${results.length} reports (${kinds.original} originals, ${kinds.correction} corrections, ${kinds.duplicate} duplicates) in ${seconds.toFixed(1)} s ` +
    `(${(results.length / seconds).toFixed(0)}/s); answers: ${[...byStatus].map(([s, n]) => `${s}×${n}`).join(', ')}`,
);
