// Ingest benchmark (`npm run bench:ingest`): 64 concurrent keep-alive clients post distinct
// 30-population reports to a real ingest process; in the same run, the raw ceiling (kafkajs
// producing the same records with no HTTP) and the ratio; plus validation time per report.
import { parseArgs } from 'node:util';
import kafkajs from 'kafkajs';
import type { MeasureReport } from 'fhir/r4.js';
import { topicNames, topicSpecs } from '@sitrep/shared/contracts/topics';
import { measureDefinition } from '@sitrep/shared/fhir/measure';
import { validateMeasureReport } from '@sitrep/shared/fhir/validate';
import { facilities, scenario, simMeasure } from '../test/simulator/generate.js';
import { postPrepared, preparePosts, putResource } from '../test/simulator/post.js';
import { isolation } from '../test/helpers/stack.js';
import { serviceEnv, startIngest } from '../test/helpers/services.js';
import { COMPRESSION as PRODUCER_CODEC } from '@sitrep/ingest/publish';
import { useGzipCodec } from '@sitrep/shared/gzip-codec';
import { benchStack, cpuMeter, deleteTopics, fmt, listeningPid, loadAverage, percentile } from './common.js';
import { publishedRecord } from '../test/simulator/records.js';

// --ingest-node-options "--cpu-prof --cpu-prof-dir=/tmp/prof": node flags for the ingest child (profiling, GC tuning).
const { values: a } = parseArgs({
  options: { reports: { type: 'string', default: '20000' }, clients: { type: 'string', default: '64' }, 'ingest-node-options': { type: 'string' } },
});
const N = Number(a.reports);
const clients = Number(a.clients);
const stack = await benchStack();
const iso = isolation('bench_ingest');
const topics = topicNames(iso.topicPrefix);

try {
  const measure = simMeasure(10);
  const fac = facilities(1000, { states: 4, seed: 1 });
  let reports: MeasureReport[] | undefined = scenario({ measure, subjects: fac.map((f) => f.key), days: Math.ceil(N / 1000), startDate: '2021-01-01', correctionShare: 0, duplicateShare: 0, seed: 2 })
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
  const ingest = await startIngest({ ...serviceEnv(iso), LOG_LEVEL: 'warn' }, { nodeArgs: a['ingest-node-options']?.split(' ').filter(Boolean) });
  if ((await putResource(ingest.url, measure as never)) !== 201) throw new Error('Measure not accepted');
  // The load generator keeps only the request bodies: with the parsed reports alive too (~100 MB
  // of small objects), each of its major GCs marked them all, on the 2 cores it shares with ingest.
  const posts = preparePosts(reports);
  reports = undefined;
  await postPrepared(ingest.url, posts.slice(0, 500), { concurrency: clients }); // warm-up (updates afterwards are still real publishes)
  const broker = stack.pids()[0] ?? listeningPid(Number(stack.kafkaBrokers[0]!.split(':').pop()));
  const perReport = (ms: number | undefined) => (ms === undefined ? '?' : fmt((ms * 1000) / N, 0));
  const meter = cpuMeter([ingest.process.pid, broker, process.pid]);
  const t0 = performance.now();
  const results = await postPrepared(ingest.url, posts, { concurrency: clients });
  const httpSeconds = (performance.now() - t0) / 1000;
  const [ingestCpu, brokerCpu, clientCpu] = meter();
  const ok = results.filter((r) => r.status === 200 || r.status === 201).length;
  const lat = results.map((r) => r.ms).sort((x, y) => x - y);
  const httpRate = ok / httpSeconds;
  console.log(`ingest: ${fmt(httpRate)} accepted reports/s (${ok}/${N} 2xx in ${fmt(httpSeconds, 1)} s), latency p50 ${fmt(percentile(lat, 50), 1)} ms, p99 ${fmt(percentile(lat, 99), 1)} ms`);
  console.log(`  CPU per report: ingest ${perReport(ingestCpu)} us, broker ${perReport(brokerCpu)} us, load generator ${perReport(clientCpu)} us (load average ${loadAverage()})`);
  await ingest.stop();

  // The raw ceiling: the same records produced with kafkajs, no HTTP, idempotent, acks from all ISR.
  const kafka = new kafkajs.Kafka({ brokers: stack.kafkaBrokers, logLevel: kafkajs.logLevel.ERROR });
  const admin = kafka.admin();
  await admin.connect();
  const existing = new Set(await admin.listTopics());
  await admin.createTopics({ topics: topicSpecs(topics).filter((t) => !existing.has(t.topic)), waitForLeaders: true });
  await admin.disconnect();
  // Both codecs: the ceiling with the producer's codec, and what the other would cost. gzip is
  // ingest's own codec (gzip-codec.ts), as ingest registers it.
  useGzipCodec();
  const parsed = posts.map((p) => JSON.parse(p.body) as MeasureReport);
  let rawRate = 0;
  for (const codec of [kafkajs.CompressionTypes.None, kafkajs.CompressionTypes.GZIP]) {
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const receivedAt = new Date().toISOString();
    const rawMeter = cpuMeter([process.pid, broker]);
    const t1 = performance.now();
    for (let i = 0; i < N; i += clients) {
      await producer.send({ topic: topics.measureReports, acks: -1, compression: codec, messages: parsed.slice(i, i + clients).map((r) => publishedRecord(r, receivedAt)) });
    }
    const rate = N / ((performance.now() - t1) / 1000);
    const [producerCpu, rawBrokerCpu] = rawMeter();
    await producer.disconnect();
    if (codec === PRODUCER_CODEC) rawRate = rate;
    console.log(
      `raw kafkajs ceiling (batches of ${clients}, same records and headers, ${codec === kafkajs.CompressionTypes.GZIP ? 'gzip' : 'uncompressed'}): ${fmt(rate)} reports/s; ` +
        `CPU per report: producer ${perReport(producerCpu)} us (with building the records), broker ${perReport(rawBrokerCpu)} us`,
    );
  }
  console.log(`ratio ingest / raw: ${fmt(httpRate / rawRate, 2)}`);
} finally {
  await deleteTopics(stack.kafkaBrokers, iso.topicPrefix).catch((err: Error) => console.error(`topic cleanup failed: ${err.message}`));
  await stack.stop();
}
