// Ingest's bounds against hostile clients, on the real app in this process with a publisher
// stand-in (nothing here reaches Kafka): a body trickled in is cut off at BODY_TIMEOUT_MS, and a
// Measure, Location or Organization over MAX_REFERENCE_BYTES is refused, alone or in a batch; a
// batch entry lists at most 20 issues.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Bundle, OperationOutcome } from 'fhir/r4.js';
import { createLogger } from '@sitrep/shared/log';
import { topicNames } from '@sitrep/shared/contracts/topics';
import { Acceptor, MAX_REFERENCE_BYTES } from '@sitrep/ingest/accept';
import { Catalog } from '@sitrep/ingest/catalog';
import { createApp, createServer } from '@sitrep/ingest/app';
import type { Publisher } from '@sitrep/ingest/publish';
import { fixture } from '../helpers/fixtures.js';

const BODY_TIMEOUT_MS = 500;
let server: Server;
let port: number;
let published = 0;

before(async () => {
  const publisher = {
    deadline: () => performance.now() + 3000,
    publish: async () => ({ partition: 0, offset: String(published++) }),
  } as unknown as Publisher;
  const catalog = new Catalog();
  const acceptor = new Acceptor({ publisher, catalog, topics: topicNames('limits.') });
  const app = createApp({ acceptor, catalog, log: createLogger('test', 'silent'), isReady: () => ({ ready: true, checks: {} }), maxBodyBytes: 4 * MAX_REFERENCE_BYTES, bodyTimeoutMs: BODY_TIMEOUT_MS });
  server = createServer(app).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  port = (server.address() as AddressInfo).port;
});

after(() => new Promise((r) => server.close(r)));

/** Sends the head of a POST announcing `length` bytes, then one byte every `everyMs`; resolves with how long the server kept the socket open. */
function trickle(path: string, length: number, everyMs: number): Promise<number> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\nContent-Length: ${length}\r\n\r\n{`);
    });
    const timer = setInterval(() => socket.writable && socket.write(' '), everyMs);
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(timer);
      resolve(performance.now() - started);
    });
  });
}

test('a body trickled in is cut off at the body timeout, though bytes keep coming', { timeout: 20_000 }, async () => {
  for (const path of ['/MeasureReport', '/', '/Location/x']) {
    const open = await trickle(path, 100_000, 100);
    assert.ok(open >= BODY_TIMEOUT_MS - 50 && open < BODY_TIMEOUT_MS + 2000, `${path}: closed after ${Math.round(open)} ms`);
  }
});

test('a request sent whole in time is answered as usual', async () => {
  const location = fixture<Record<string, unknown>>('saner/locations/Loc-X140008.json');
  const res = await fetch(`http://127.0.0.1:${port}/Location/${location.id as string}`, { method: 'PUT', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(location) });
  assert.equal(res.status, 201, await res.text());
});

test('a Measure, Location or Organization over MAX_REFERENCE_BYTES: 413, alone or as a batch entry; nothing published', async () => {
  const big = { resourceType: 'Location', id: 'big', name: 'x'.repeat(MAX_REFERENCE_BYTES) };
  const before = published;
  const res = await fetch(`http://127.0.0.1:${port}/Location/big`, { method: 'PUT', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(big) });
  assert.equal(res.status, 413);
  const oo = (await res.json()) as OperationOutcome;
  assert.equal(oo.issue[0]!.code, 'too-costly');
  const batch = { resourceType: 'Bundle', type: 'batch', entry: [{ resource: big, request: { method: 'PUT', url: 'Location/big' } }] };
  const answer = (await (await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(batch) })).json()) as Bundle;
  assert.equal(answer.entry![0]!.response!.status, '413 Payload Too Large');
  assert.equal(published, before);
});

test('a batch entry lists at most 20 issues, then counts the rest', async () => {
  const report = fixture<Record<string, unknown>>('saner/measure-reports/ExampleNJ-20200404-CDCPatientImpactAndHospitalCapacity.json');
  // 30 populations whose count is a string: 30 issues.
  const populations = 30;
  report.group = [{ code: { coding: [{ code: 'Beds' }] }, population: Array.from({ length: populations }, (_, i) => ({ code: { coding: [{ code: `p${i}` }] }, count: 'many' })) }];
  const batch = { resourceType: 'Bundle', type: 'batch', entry: [{ resource: report, request: { method: 'POST', url: 'MeasureReport' } }] };
  const answer = (await (await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(batch) })).json()) as Bundle;
  const oo = answer.entry![0]!.response!.outcome as OperationOutcome;
  assert.equal(answer.entry![0]!.response!.status, '422 Unprocessable Entity');
  assert.equal(oo.issue.length, 21);
  assert.equal(oo.issue[20]!.code, 'too-costly');
  assert.match(oo.issue[20]!.diagnostics!, new RegExp(`^${populations - 20} more issues`));
});
