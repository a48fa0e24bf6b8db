// Batch Bundles at POST [base] on the real stack (SANER Supplemental Data option): the
// batch-response with status, location, etag, lastModified and outcome per entry; independent
// entries; resource types sitrep does not store; Prefer; and the refusals of a whole Bundle
// (transaction, other types, broken envelope with FHIRPath expressions, 413, 415).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Bundle, BundleEntry, MeasureReport, OperationOutcome } from 'fhir/r4.js';
import { isolation } from '../helpers/stack.js';
import { serviceEnv, startIngest, type RunningService } from '../helpers/services.js';
import { fixture } from '../helpers/fixtures.js';
import type { AddressInfo } from 'node:net';
import { DependencyUnavailableError } from '@sitrep/shared/errors';
import { createLogger } from '@sitrep/shared/log';
import { topicNames } from '@sitrep/shared/contracts/topics';
import { Acceptor } from '@sitrep/ingest/accept';
import { Catalog } from '@sitrep/ingest/catalog';
import { createApp, createServer } from '@sitrep/ingest/app';
import type { OutgoingRecord, Publisher } from '@sitrep/ingest/publish';

const iso = isolation('ingest_batch');
const MAX_BODY_BYTES = 400_000;
let ingest: RunningService;

before(async () => {
  ingest = await startIngest({ ...serviceEnv(iso), MAX_BODY_BYTES: String(MAX_BODY_BYTES) });
});

after(async () => {
  await ingest?.stop();
});

type Resource = { resourceType: string; id?: string } & Record<string, unknown>;
type Entry = { resource?: unknown; request?: Record<string, unknown> };

const put = (resource: Resource, url = `${resource.resourceType}/${resource.id}`): Entry => ({ resource, request: { method: 'PUT', url } });
const post = (resource: Resource, url = resource.resourceType): Entry => ({ resource, request: { method: 'POST', url } });
const batch = (entry: Entry[], type = 'batch') => ({ resourceType: 'Bundle', type, entry });

async function send(body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${ingest.url}/`, {
    method: 'POST',
    headers: { 'content-type': 'application/fhir+json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: <T = Record<string, unknown>>() => JSON.parse(text) as T };
}

/** POSTs a batch, expects a 200 batch-response with one entry per request entry, returns the entries. */
async function sendBatch(entries: Entry[], headers: Record<string, string> = {}): Promise<BundleEntry[]> {
  const res = await send(batch(entries), headers);
  assert.equal(res.status, 200, res.text);
  assert.match(res.headers.get('content-type') ?? '', /^application\/fhir\+json/);
  const bundle = res.json<Bundle>();
  assert.equal(bundle.resourceType, 'Bundle');
  assert.equal(bundle.type, 'batch-response');
  assert.equal(bundle.entry?.length, entries.length, res.text);
  return bundle.entry!;
}

const statusOf = (e: BundleEntry) => e.response!.status;
const expressionsOf = (e: BundleEntry) => (e.response!.outcome as OperationOutcome).issue.map((i) => i.expression?.[0]);
const codesOf = (e: BundleEntry) => (e.response!.outcome as OperationOutcome).issue.map((i) => i.code);

function assertStored(e: BundleEntry, status: '201 Created' | '200 OK', type: string): { id: string; version: string } {
  assert.equal(statusOf(e), status, JSON.stringify(e));
  const m = (e.response!.location ?? '').match(new RegExp(`^http://127\\.0\\.0\\.1:\\d+/${type}/([A-Za-z0-9\\-.]{1,64})/_history/(\\d+)$`));
  assert.ok(m, `location ${e.response!.location}`);
  assert.equal(e.response!.etag, `W/"${m[2]}"`);
  assert.ok(!Number.isNaN(Date.parse(e.response!.lastModified ?? '')), `lastModified ${e.response!.lastModified}`);
  const oo = e.response!.outcome as OperationOutcome | undefined;
  assert.ok(oo?.issue.some((i) => i.severity === 'information'), JSON.stringify(e));
  return { id: m[1]!, version: m[2]! };
}

function assertRefused(e: BundleEntry, status: string, code?: string, expression?: string): void {
  assert.equal(statusOf(e), status, JSON.stringify(e));
  assert.equal(e.response!.location, undefined);
  assert.equal(e.resource, undefined);
  const oo = e.response!.outcome as OperationOutcome;
  assert.equal(oo.resourceType, 'OperationOutcome');
  assert.ok(oo.issue.length > 0 && oo.issue.every((i) => i.severity === 'error' && i.diagnostics), JSON.stringify(oo));
  if (code) assert.ok(codesOf(e).includes(code as never), `${code} in ${JSON.stringify(oo)}`);
  if (expression) assert.ok(expressionsOf(e).includes(expression), `${expression} in ${JSON.stringify(oo)}`);
}

/** A SANER example report with a subject nobody else uses, so its first create is a 201. */
function freshReport(file = 'ExampleNJ-20200404-FEMADailyHospitalCOVID19Reporting.json'): MeasureReport & Resource {
  const r = fixture<MeasureReport & Resource>(`saner/measure-reports/${file}`);
  delete r.id;
  r.subject!.identifier = { system: 'urn:sitrep:test:subject', value: randomUUID() };
  return r;
}

const PATIENT = { resourceType: 'Patient', id: 'p1', gender: 'female', birthDate: '1960-01-01' };
const OBSERVATION = { resourceType: 'Observation', id: 'o1', status: 'final', code: { text: 'COVID-19 PCR' }, subject: { reference: 'Patient/p1' } };

describe('batch-response', () => {
  test('SANER supplemental data: the report, the resources it references, and patient data sitrep does not store', async () => {
    const report = fixture<Resource>('saner/measure-reports/ExampleNJ-20200406-CDCPatientImpactAndHospitalCapacity.json');
    const measure = fixture<Resource>('saner/measures/CDCPatientImpactAndHospitalCapacity.json');
    const location = fixture<Resource>('saner/locations/states-NJ.json');
    const organization = fixture<Resource>('saner/organizations/NJ-DPH.json');
    const entries = await sendBatch([post(report), put(measure), put(location), put(organization), post(PATIENT), post(OBSERVATION)]);

    const r = assertStored(entries[0]!, '201 Created', 'MeasureReport');
    assertStored(entries[1]!, '201 Created', 'Measure');
    assertStored(entries[2]!, '201 Created', 'Location');
    assertStored(entries[3]!, '201 Created', 'Organization');
    // Patient-level supplemental data: FHIR's answer for a resource type the server does not support.
    assertRefused(entries[4]!, '404 Not Found', 'not-supported', 'Bundle.entry[4].request.url');
    assertRefused(entries[5]!, '404 Not Found', 'not-supported', 'Bundle.entry[5].request.url');

    // The default is return=representation: the stored resource with its version.
    const stored = entries[0]!.resource as unknown as { id: string; meta: { versionId: string } };
    assert.equal(stored.id, r.id);
    assert.equal(stored.meta.versionId, r.version);
    assert.equal(entries[0]!.fullUrl, entries[0]!.response!.location!.replace(/\/_history\/\d+$/, ''));

    // Stored for real: readable, and the report has the same identity as through the REST API.
    for (const res of [measure, location, organization]) {
      const got = await fetch(`${ingest.url}/${res.resourceType}/${res.id}`);
      assert.equal(got.status, 200, `${res.resourceType}/${res.id}`);
      await got.arrayBuffer();
    }
    const again = await fetch(`${ingest.url}/MeasureReport`, { method: 'POST', headers: { 'content-type': 'application/fhir+json', prefer: 'return=minimal' }, body: JSON.stringify(report) });
    assert.equal(again.status, 200);
    assert.match(again.headers.get('location') ?? '', new RegExp(`/MeasureReport/${r.id}/_history/\\d+$`));
  });

  test('Measures are accepted before reports: a report is checked against the Measure in its own Bundle', async () => {
    const measure = fixture<Resource>('saner/measures/FEMADailyHospitalCOVID19Reporting.json');
    assert.equal((await fetch(`${ingest.url}/Measure/${measure.id}`)).status, 404, 'not registered before the Bundle');
    const broken = fixture<Resource>('invalid/unknown-population-code.json');
    broken.subject = { identifier: { system: 'urn:sitrep:test:subject', value: randomUUID() } };
    const entries = await sendBatch([post(broken), put(measure)]);
    assertRefused(entries[0]!, '422 Unprocessable Entity', 'code-invalid', 'MeasureReport.group[0].population[1].code');
    assert.match(JSON.stringify(entries[0]!.response!.outcome), /'totalTestResultsYesterday'/);
    assertStored(entries[1]!, '201 Created', 'Measure');
  });

  test('entries are independent: each gets the answer a single request would', async () => {
    const good = freshReport();
    const held = freshReport();
    const first = await sendBatch([post(held)]);
    const heldId = assertStored(first[0]!, '201 Created', 'MeasureReport').id;
    const other = freshReport();
    const location = fixture<Resource>('saner/locations/Loc-X140010.json');

    const entries = await sendBatch([
      post(good),
      post(fixture('invalid/several-defects.json')),
      put({ ...freshReport(), id: 'body-id' }, 'MeasureReport/url-id'),
      put({ ...other, id: heldId }), // moves an existing id to another business key
      put(location),
      { request: { method: 'GET', url: `Location/${location.id}` } },
      { request: { method: 'DELETE', url: `Location/${location.id}` } },
      post(location), // a Location needs the id it is referenced by: PUT only
      put(good, 'MeasureReport'),
      post({ ...good }, 'MeasureReport/some-id'),
      put({ ...location, resourceType: 'Location' }, 'Organization/Loc-X140010'),
      post(good, 'MeasureReport?identifier=x'),
      { resource: good, request: { method: 'POST', url: 'MeasureReport', ifNoneExist: 'identifier=x' } },
      post(fixture('invalid/resource-type-observation.json'), 'Observation'),
    ]);
    assertStored(entries[0]!, '201 Created', 'MeasureReport');
    assertRefused(entries[1]!, '422 Unprocessable Entity');
    assert.deepEqual(
      expressionsOf(entries[1]!).sort(),
      [
        'MeasureReport.status',
        'MeasureReport.type',
        'MeasureReport.subject.identifier',
        'MeasureReport.date',
        'MeasureReport.period.end',
        'MeasureReport.reportedBy',
        'MeasureReport.group[0].population[1].count',
        'MeasureReport.group[0].population[1].value',
        'MeasureReport.group[0].population[2].code',
        // The FEMA Measure is registered (previous test), so the group code is checked too.
        'MeasureReport.group[0].code',
      ].sort(),
    );
    assertRefused(entries[2]!, '400 Bad Request', 'invariant', 'MeasureReport.id');
    assertRefused(entries[3]!, '409 Conflict', 'conflict');
    assertStored(entries[4]!, '201 Created', 'Location');
    assertRefused(entries[5]!, '405 Method Not Allowed', 'not-supported', 'Bundle.entry[5].request.method');
    assertRefused(entries[6]!, '405 Method Not Allowed', 'not-supported', 'Bundle.entry[6].request.method');
    assertRefused(entries[7]!, '405 Method Not Allowed', 'not-supported', 'Bundle.entry[7].request.method');
    assertRefused(entries[8]!, '405 Method Not Allowed', 'not-supported', 'Bundle.entry[8].request.method');
    assertRefused(entries[9]!, '405 Method Not Allowed', 'not-supported', 'Bundle.entry[9].request.method');
    assertRefused(entries[10]!, '400 Bad Request', 'invalid', 'Organization.resourceType');
    assertRefused(entries[11]!, '400 Bad Request', 'not-supported', 'Bundle.entry[11].request.url');
    assertRefused(entries[12]!, '400 Bad Request', 'not-supported', 'Bundle.entry[12].request.ifNoneExist');
    assertRefused(entries[13]!, '404 Not Found', 'not-supported', 'Bundle.entry[13].request.url');
  });

  test('the same report twice in one Bundle: one create, then an update with a later version; the Bundle again: all updates', async () => {
    const report = freshReport();
    const location = fixture<Resource>('saner/locations/Loc-X140048.json');
    const bundle = [post(report), put(location), post(report)];
    const entries = await sendBatch(bundle);
    const a = assertStored(entries[0]!, '201 Created', 'MeasureReport');
    assertStored(entries[1]!, '201 Created', 'Location');
    const b = assertStored(entries[2]!, '200 OK', 'MeasureReport');
    assert.equal(b.id, a.id);
    assert.ok(BigInt(b.version) > BigInt(a.version));

    const again = await sendBatch(bundle);
    assert.deepEqual(again.map(statusOf), ['200 OK', '200 OK', '200 OK']);
    assert.equal(assertStored(again[0]!, '200 OK', 'MeasureReport').id, a.id);
  });

  test('absolute request.url: this server base is accepted, another server is not', async () => {
    const location = fixture<Resource>('saner/locations/Loc-X140049.json');
    const entries = await sendBatch([put(location, `${ingest.url}/Location/${location.id}`), put(location, `https://elsewhere.example/fhir/Location/${location.id}`)]);
    assertStored(entries[0]!, '201 Created', 'Location');
    assertRefused(entries[1]!, '400 Bad Request', 'not-supported', 'Bundle.entry[1].request.url');
  });

  test('Prefer: return=minimal | OperationOutcome | representation, and handling=lenient, apply to every entry', async () => {
    const report = freshReport();
    const minimal = await sendBatch([post(report), post(PATIENT)], { prefer: 'return=minimal' });
    assert.equal(minimal[0]!.resource, undefined);
    assert.equal(minimal[0]!.response!.outcome, undefined, 'minimal: no outcome for a success without warnings');
    assert.equal(statusOf(minimal[0]!), '201 Created');
    assertRefused(minimal[1]!, '404 Not Found'); // failures always carry their outcome

    const oo = await sendBatch([post(report)], { prefer: 'return=OperationOutcome' });
    assert.equal(oo[0]!.resource, undefined);
    assertStored(oo[0]!, '200 OK', 'MeasureReport');

    const rep = await sendBatch([post(report)], { prefer: 'return=representation' });
    const v = assertStored(rep[0]!, '200 OK', 'MeasureReport').version;
    assert.equal((rep[0]!.resource as unknown as { meta: { versionId: string } }).meta.versionId, v);

    const unknown = { ...freshReport(), reportedBy: 'someone' };
    const strict = await sendBatch([post(unknown)]);
    assertRefused(strict[0]!, '422 Unprocessable Entity', 'structure', 'MeasureReport.reportedBy');
    const lenient = await sendBatch([post(unknown)], { prefer: 'handling=lenient' });
    assertStored(lenient[0]!, '201 Created', 'MeasureReport');
    const warnings = (lenient[0]!.response!.outcome as OperationOutcome).issue.filter((i) => i.severity === 'warning');
    assert.deepEqual(warnings.map((i) => i.expression?.[0]), ['MeasureReport.reportedBy']);
  });

  test('an empty batch gets an empty batch-response', async () => {
    for (const body of [{ resourceType: 'Bundle', type: 'batch' }, { resourceType: 'Bundle', type: 'batch', entry: [] }]) {
      const res = await send(body);
      assert.equal(res.status, 200, res.text);
      const bundle = res.json<Bundle>();
      assert.equal(bundle.type, 'batch-response');
      assert.equal(bundle.entry, undefined);
    }
  });
});

describe('refusing the whole Bundle', () => {
  const assertOutcome = (res: Awaited<ReturnType<typeof send>>, status: number, code: string, expression?: string) => {
    assert.equal(res.status, status, res.text);
    const oo = res.json<OperationOutcome>();
    assert.equal(oo.resourceType, 'OperationOutcome');
    assert.ok(oo.issue.some((i) => i.code === code && (expression === undefined || i.expression?.[0] === expression)), res.text);
    return oo;
  };

  test('transaction: 400, because all-or-nothing across Kafka topics cannot be promised', async () => {
    const oo = assertOutcome(await send(batch([post(freshReport())], 'transaction')), 400, 'not-supported', 'Bundle.type');
    assert.match(oo.issue[0]!.diagnostics!, /transaction/);
  });

  test('other Bundle types, a missing type, a resource that is not a Bundle: 400', async () => {
    for (const type of ['collection', 'document', 'message', 'searchset', 'batch-response']) {
      assertOutcome(await send(batch([post(freshReport())], type)), 400, 'not-supported', 'Bundle.type');
    }
    assertOutcome(await send({ resourceType: 'Bundle', entry: [] }), 400, 'required', 'Bundle.type');
    assertOutcome(await send(freshReport()), 400, 'invalid', 'resourceType');
    assertOutcome(await send({ resourceType: 'Bundle', type: 'batch', entry: {} }), 400, 'structure', 'Bundle.entry');
    assertOutcome(await send('{"resourceType": "Bundle", "type": "ba'), 400, 'structure');
    assertOutcome(await send('[]'), 400, 'structure');
  });

  test('a broken envelope: one 400 naming every problem with its FHIRPath, and nothing stored', async () => {
    const valid = freshReport();
    const res = await send(
      batch([
        post(valid),
        { resource: freshReport() },
        { resource: freshReport(), request: { method: 'POST' } },
        { resource: freshReport(), request: { method: 'SEND', url: 'MeasureReport' } },
        { request: { method: 'PUT', url: 'Location/x' } },
        { resource: 'MeasureReport', request: { method: 'POST', url: 'MeasureReport' } },
        'not an entry' as never,
      ]),
    );
    const oo = assertOutcome(res, 400, 'required');
    assert.deepEqual(
      oo.issue.map((i) => [i.code, i.expression?.[0]]),
      [
        ['required', 'Bundle.entry[1].request'],
        ['required', 'Bundle.entry[2].request.url'],
        ['value', 'Bundle.entry[3].request.method'],
        ['required', 'Bundle.entry[4].resource'],
        ['structure', 'Bundle.entry[5].resource'],
        ['structure', 'Bundle.entry[6]'],
      ],
    );
    // Nothing of a refused Bundle is stored: its valid first entry is still new.
    const created = await fetch(`${ingest.url}/MeasureReport`, { method: 'POST', headers: { 'content-type': 'application/fhir+json', prefer: 'return=minimal' }, body: JSON.stringify(valid) });
    assert.equal(created.status, 201);
  });

  test('415 for a non-JSON body, 413 over the limit, 405 for other methods on [base]', async () => {
    assertOutcome(await send(JSON.stringify(batch([])), { 'content-type': 'application/fhir+xml' }), 415, 'not-supported');
    const big = batch([post({ ...freshReport(), text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${'x'.repeat(MAX_BODY_BYTES)}</div>` } })]);
    assertOutcome(await send(big), 413, 'too-costly');
    // More entries than a batch holds (MAX_ENTRIES, 1000), however small: 413 before anything is published.
    const location = { resourceType: 'Location', id: 'many', name: 'x' };
    assertOutcome(await send(batch(Array.from({ length: 1001 }, () => put(location)))), 413, 'too-costly', 'Bundle.entry');
    assert.equal((await fetch(`${ingest.url}/Location/many`)).status, 404);
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const res = await fetch(`${ingest.url}/`, { method });
      assert.equal(res.status, 405, `${method} /`);
      assert.equal(res.headers.get('allow'), 'POST');
      await res.arrayBuffer();
    }
  });
});

// In this process, with a publisher that answers slowly or fails on cue: what a real broker does
// only under load (the Kafka-down case is in ingest-kafka-down.test.ts, against the real broker).
describe('publish bounds of a batch', () => {
  async function inProcess(publish: (r: OutgoingRecord, deadline: number) => Promise<{ partition: number; offset: string }>) {
    const publisher = { deadline: () => performance.now() + 3000, publish } as unknown as Publisher;
    const catalog = new Catalog();
    const acceptor = new Acceptor({ publisher, catalog, topics: topicNames('inprocess.') });
    const app = createApp({ acceptor, catalog, log: createLogger('test', 'silent'), isReady: () => ({ ready: true, checks: {} }), maxBodyBytes: MAX_BODY_BYTES, retryAfterSeconds: 7 });
    const server = createServer(app).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    return { url, close: () => new Promise((r) => server.close(r)) };
  }
  const location = fixture<Resource>('saner/locations/Loc-X140008.json');

  test("every entry's publish shares the deadline taken when the request started, across the two phases", async () => {
    const deadlines: number[] = [];
    let offset = 0;
    const app = await inProcess(async (_r, deadline) => {
      deadlines.push(deadline);
      await new Promise((r) => setTimeout(r, 50));
      return { partition: 0, offset: String(offset++) };
    });
    try {
      const res = await fetch(app.url, { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(batch([post(freshReport()), put(location)])) });
      const bundle = (await res.json()) as Bundle;
      assert.deepEqual(bundle.entry!.map(statusOf), ['201 Created', '201 Created']);
      // The Location (first phase) and the report (second, 50 ms later) with one deadline.
      assert.equal(deadlines.length, 2);
      assert.equal(deadlines[0], deadlines[1]);
    } finally {
      await app.close();
    }
  });

  test('an entry that failed on Kafka after others were stored: 503 saying it may have been stored, Retry-After as configured', async () => {
    let calls = 0;
    const app = await inProcess(async () => {
      if (++calls > 1) throw new DependencyUnavailableError('kafka', 'Kafka did not acknowledge within 3000 ms');
      return { partition: 0, offset: '1' };
    });
    try {
      const res = await fetch(app.url, { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(batch([post(freshReport()), put(location)])) });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('retry-after'), '7');
      const bundle = (await res.json()) as Bundle;
      assert.deepEqual(bundle.entry!.map(statusOf), ['503 Service Unavailable', '201 Created']);
      assert.match((bundle.entry![0]!.response!.outcome as OperationOutcome).issue[0]!.diagnostics!, /may not have been stored/);
    } finally {
      await app.close();
    }
  });
});
