// Ingest with Kafka down, on the real stack (needs the suite runner's control channel: run with
// `node .build/test/run.js ingest-kafka-down`): every intake answers 503 + Retry-After within 10 s
// and never a 2xx, /readyz says 503, and once Kafka is back requests succeed again without a
// restart of ingest.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { MeasureReport, OperationOutcome } from 'fhir/r4.js';
import { isolation, startKafka, stopKafka } from '../helpers/stack.js';
import { serviceEnv, startIngest, type RunningService } from '../helpers/services.js';
import { fixture, freshReport } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/wait.js';

/** The bound the issue sets for an answer while Kafka is down. */
const BOUND_MS = 10_000;

const iso = isolation('ingest_kafka_down');
let ingest: RunningService;
let kafkaStopped = false;

before(async () => {
  ingest = await startIngest(serviceEnv(iso));
});

after(async () => {
  // Never leave the shared stack without Kafka, whatever happened.
  if (kafkaStopped) await startKafka();
  await ingest?.stop();
});


interface Timed {
  status: number;
  ms: number;
  retryAfter: string | null;
  body: string;
}

async function timed(method: string, path: string, body: unknown): Promise<Timed> {
  const t0 = performance.now();
  const res = await fetch(`${ingest.url}${path}`, {
    method,
    headers: { 'content-type': 'application/fhir+json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(BOUND_MS + 20_000), // a hang fails the assertion below, not the run
  });
  const text = await res.text();
  return { status: res.status, ms: performance.now() - t0, retryAfter: res.headers.get('retry-after'), body: text };
}

function assertUnavailable(r: Timed, what: string): void {
  assert.equal(r.status, 503, `${what}: ${r.status} ${r.body}`);
  assert.ok(r.ms < BOUND_MS, `${what}: answered in ${Math.round(r.ms)} ms, bound ${BOUND_MS} ms`);
  assert.match(r.retryAfter ?? '', /^\d+$/, `${what}: Retry-After`);
  const oo = JSON.parse(r.body) as OperationOutcome;
  assert.equal(oo.resourceType, 'OperationOutcome');
  assert.equal(oo.issue[0]!.code, 'transient');
}

const readyz = () => fetch(`${ingest.url}/readyz`).then(async (r) => ({ status: r.status, body: await r.text() }));

test('Kafka down: 503 + Retry-After within 10 s, never a 2xx; /readyz 503; back without a restart', { timeout: 240_000 }, async (t) => {
  const location = fixture<{ id: string }>('saner/locations/Loc-X140008.json');
  assert.equal((await timed('POST', '/MeasureReport', freshReport())).status, 201, 'works before');
  assert.equal((await readyz()).status, 200);

  await stopKafka();
  kafkaStopped = true;
  const stoppedAt = Date.now();
  // Readiness must follow Kafka with no traffic at all (a load balancer stops sending when it is 503).
  // Failures are kept and asserted at the end, so that one failure does not hide the others.
  const notReady = await waitFor(readyz, (r) => r.status === 503 && /"kafka":false/.test(r.body), {
    timeoutMs: BOUND_MS,
    what: '/readyz 503 with kafka:false while Kafka is down, before any request',
  }).catch((err: Error) => err);

  // One at a time: each is bounded.
  const refused: MeasureReport[] = [];
  for (let i = 0; i < 2; i++) {
    const report = freshReport();
    refused.push(report);
    assertUnavailable(await timed('POST', '/MeasureReport', report), `sequential create ${i}`);
  }
  // Many at once, of every kind: each is bounded, none is a 2xx. Three are the same report (a
  // client's retries): they wait for each other, and that wait counts in the bound too.
  const same = freshReport();
  const concurrent = await Promise.all([
    ...Array.from({ length: 10 }, () => timed('POST', '/MeasureReport', freshReport())),
    ...Array.from({ length: 3 }, () => timed('POST', '/MeasureReport', same)),
    timed('PUT', `/Location/${location.id}`, location),
    // A batch whose Location (accepted first) and report both need Kafka, plus a broken report:
    // nothing stored, so the whole answer is a 503, within one publish timeout, not two.
    timed('POST', '/', {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { resource: freshReport(), request: { method: 'POST', url: 'MeasureReport' } },
        { resource: fixture('invalid/count-is-string.json'), request: { method: 'POST', url: 'MeasureReport' } },
        { resource: fixture('saner/locations/Loc-X140010.json'), request: { method: 'PUT', url: 'Location/Loc-X140010' } },
      ],
    }),
  ]);
  concurrent.forEach((r, i) => assertUnavailable(r, `concurrent request ${i}`));

  // What needs no Kafka still works: a broken report is a 422 at once, not a 503.
  const invalid = await timed('POST', '/MeasureReport', fixture('invalid/count-is-string.json'));
  assert.equal(invalid.status, 422, invalid.body);
  assert.ok(invalid.ms < 1000);

  const stillNotReady = await readyz();
  const downFor = Date.now() - stoppedAt;

  await startKafka();
  kafkaStopped = false;
  const restartedAt = Date.now();
  // Ready again by itself, before any request (nothing would send one to a pod that is not ready).
  const readyAgain = await waitFor(readyz, (r) => r.status === 200, { timeoutMs: 30_000, what: '/readyz 200 again, with no traffic' }).catch((err: Error) => err);
  const readyInMs = Date.now() - restartedAt;
  // Same process, no restart: the first create that succeeds is a 201.
  const first = await waitFor(() => timed('POST', '/MeasureReport', freshReport()), (r) => r.status === 201, {
    timeoutMs: 60_000,
    intervalMs: 500,
    what: 'the first 201 after Kafka is back',
  });
  const recoveredInMs = Date.now() - restartedAt;
  assert.equal(ingest.process.exitCode, null, 'ingest was not restarted');
  assert.ok(first.ms < BOUND_MS);

  // A refused report can simply be sent again: it is accepted now.
  // (201: the 503 stored nothing; 200 would mean a publish that timed out was delivered later.)
  const resent: number[] = [];
  for (const report of [...refused]) {
    const again = await timed('POST', '/MeasureReport', report);
    assert.ok(again.status === 201 || again.status === 200, again.body);
    resent.push(again.status);
  }
  const put = await timed('PUT', `/Location/${location.id}`, location);
  assert.ok(put.status === 201 || put.status === 200, put.body);
  t.diagnostic(`Kafka down: ${downFor} ms of refused requests (slowest ${Math.round(Math.max(...concurrent.map((r) => r.ms)))} ms); ready again after ${readyInMs} ms, first 201 after ${recoveredInMs} ms; resent: ${resent.join(' ')}, PUT ${put.status}`);
  assert.ok(!(notReady instanceof Error), String(notReady));
  assert.equal(stillNotReady.status, 503, `/readyz after the failed requests: ${stillNotReady.body}`);
  assert.ok(!(readyAgain instanceof Error), String(readyAgain));
  assert.equal((await readyz()).status, 200);
});
