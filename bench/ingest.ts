// Ingest benchmark (`npm run bench:ingest`): 64 concurrent keep-alive clients post distinct
// 30-population reports to a real ingest process; in the same run, the raw ceiling (kafkajs
// producing the same records with no HTTP) and the ratio; plus validation time per report.
import { parseArgs } from 'node:util';
import kafkajs from 'kafkajs';
import { topicNames, topicSpecs } from '@sitrep/shared/contracts/topics';
import { measureDefinition } from '@sitrep/shared/fhir/measure';
import { validateMeasureReport } from '@sitrep/shared/fhir/validate';
import { facilities, scenario, simMeasure } from '../test/simulator/generate.js';
import { postReports, putResource } from '../test/simulator/post.js';
import { isolation } from '../test/helpers/stack.js';
import { serviceEnv, startIngest } from '../test/helpers/services.js';
import { benchStack, fmt, percentile, reportRecord } from './common.js';

const { values: a } = parseArgs({ options: { reports: { type: 'string', default: '20000' }, clients: { type: 'string', default: '64' } } });
const N = Number(a.reports);
const clients = Number(a.clients);
const stack = await benchStack();
const iso = isolation('bench_ingest');
const topics = topicNames(iso.topicPrefix);

try {
  const measure = simMeasure(10);
  const fac = facilities(1000, { states: 4, seed: 1 });
  const reports = scenario({ measure, subjects: fac.map((f) => f.key), days: Math.ceil(N / 1000), startDate: '2021-01-01', correctionShare: 0, duplicateShare: 0, seed: 2 })
    .slice(0, N)
    .map((s) => s.report);
  const bytes = reports.reduce((s, r) => s + JSON.stringify(r).length, 0) / N;
  console.log(`${fmt(N)} distinct reports, 30 populations each, ${fmt(bytes)} bytes on average; ${clients} concurrent keep-alive clients`);

  // Validation alone, as ingest does it (with the Measure's definition).
  const def = measureDefinition(measure);
  for (let i = 0; i < 2000; i++) validateMeasureReport(reports[i % N], { measure: def });
  const tv = performance.now();
  for (let i = 0; i < N; i++) validateMeasureReport(reports[i], { measure: def });
  console.log(`validation: ${fmt(((performance.now() - tv) * 1000) / N, 1)} us/report`);

  // Through ingest.
  const ingest = await startIngest({ ...serviceEnv(iso), LOG_LEVEL: 'warn' });
  if ((await putResource(ingest.url, measure as never)) !== 201) throw new Error('Measure not accepted');
  await postReports(ingest.url, reports.slice(0, 500), { concurrency: clients }); // warm-up (updates afterwards are still real publishes)
  const t0 = performance.now();
  const results = await postReports(ingest.url, reports, { concurrency: clients });
  const httpSeconds = (performance.now() - t0) / 1000;
  const ok = results.filter((r) => r.status === 200 || r.status === 201).length;
  const lat = results.map((r) => r.ms).sort((x, y) => x - y);
  const httpRate = ok / httpSeconds;
  console.log(`ingest: ${fmt(httpRate)} accepted reports/s (${ok}/${N} 2xx in ${fmt(httpSeconds, 1)} s), latency p50 ${fmt(percentile(lat, 50), 1)} ms, p99 ${fmt(percentile(lat, 99), 1)} ms`);
  await ingest.stop();

  // The raw ceiling: the same records produced with kafkajs, no HTTP, idempotent, acks from all ISR.
  const kafka = new kafkajs.Kafka({ brokers: stack.kafkaBrokers, logLevel: kafkajs.logLevel.ERROR });
  const admin = kafka.admin();
  await admin.connect();
  const existing = new Set(await admin.listTopics());
  await admin.createTopics({ topics: topicSpecs(topics).filter((t) => !existing.has(t.topic)), waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const receivedAt = new Date().toISOString();
  const t1 = performance.now();
  for (let i = 0; i < N; i += clients) {
    await producer.send({
      topic: topics.measureReports,
      acks: -1,
      compression: kafkajs.CompressionTypes.GZIP, // as ingest's publisher does
      messages: reports.slice(i, i + clients).map((r) => reportRecord(r, receivedAt)),
    });
  }
  const rawRate = N / ((performance.now() - t1) / 1000);
  await producer.disconnect();
  console.log(`raw kafkajs ceiling (batches of ${clients}, same records, headers and gzip): ${fmt(rawRate)} reports/s`);
  console.log(`ratio ingest / raw: ${fmt(httpRate / rawRate, 2)}`);
} finally {
  await stack.stop();
}
