// The FHIR REST API of ingest on the real stack, one status code at a time: 201/200 create and
// update (Location, ETag, Last-Modified, Prefer), content types, 400, 404, 405, 409, 413, 415, 422
// (every SANER example accepted, every broken fixture refused naming its problems), lenient
// handling, /metadata, and PUT/GET of Measure, Location and Organization.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import type { MeasureReport, OperationOutcome } from 'fhir/r4.js';
import { isolation } from '../helpers/stack.js';
import { serviceEnv, startIngest, type RunningService } from '../helpers/services.js';
import { fixture, fixtureNames } from '../helpers/fixtures.js';
import { INVALID } from '../helpers/invalid-reports.js';

const iso = isolation('ingest_rest');
const MAX_BODY_BYTES = 200_000;
let ingest: RunningService;

const FEMA = 'ExampleNJ-20200404-FEMADailyHospitalCOVID19Reporting.json';
const FHIR_JSON = 'application/fhir+json';

before(async () => {
  ingest = await startIngest({ ...serviceEnv(iso), MAX_BODY_BYTES: String(MAX_BODY_BYTES) });
  // Reports are validated against their Measure when it is registered: register them all first.
  for (const f of fixtureNames('saner/measures')) {
    const m = fixture<{ id: string }>(`saner/measures/${f}`);
    const res = await send('PUT', `/Measure/${m.id}`, m);
    assert.ok(res.status === 201 || res.status === 200, `PUT Measure/${m.id}: ${res.status} ${res.text}`);
  }
});

after(async () => {
  await ingest?.stop();
});

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: () => Record<string, unknown>;
}

/** One request; a non-string body is sent as JSON, with Content-Type application/fhir+json unless given. */
async function send(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const h: Record<string, string> = { ...headers };
  let payload: string | Uint8Array | undefined;
  if (body !== undefined) {
    payload = typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body);
    if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['content-type'] = FHIR_JSON;
  }
  const res = await fetch(`${ingest.url}${path}`, { method, headers: h, ...(payload !== undefined ? { body: payload } : {}) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) as Record<string, unknown> };
}

/** The SANER FEMA example with a subject nobody else uses: its first POST is always a create. */
function freshReport(): MeasureReport {
  const r = fixture<MeasureReport>(`saner/measure-reports/${FEMA}`);
  delete r.id;
  r.subject!.identifier = { system: 'urn:sitrep:test:subject', value: randomUUID() };
  return r;
}

/** [code, first expression] of every issue, sorted. */
function issues(answer: Answer): [string, string | undefined][] {
  const oo = answer.json() as unknown as OperationOutcome;
  assert.equal(oo.resourceType, 'OperationOutcome', answer.text);
  return oo.issue.map((i) => [i.code, i.expression?.[0]] as [string, string | undefined]).sort();
}

function assertOutcome(answer: Answer, status: number, code?: string, expression?: string): void {
  assert.equal(answer.status, status, answer.text);
  assert.match(answer.headers.get('content-type') ?? '', /^application\/fhir\+json/);
  const oo = answer.json() as unknown as OperationOutcome;
  assert.equal(oo.resourceType, 'OperationOutcome');
  assert.ok(oo.issue.length > 0 && oo.issue.every((i) => i.severity === 'error' && (i.diagnostics ?? '').length > 0), answer.text);
  if (code) assert.ok(oo.issue.some((i) => i.code === code), `issue code ${code} in ${answer.text}`);
  if (expression) assert.ok(oo.issue.some((i) => i.expression?.[0] === expression), `expression ${expression} in ${answer.text}`);
}

const LOCATION = /^http:\/\/127\.0\.0\.1:\d+\/MeasureReport\/([A-Za-z0-9\-.]{1,64})\/_history\/(\d+)$/;

describe('create and update (201, 200)', () => {
  test('201 Created: Location .../MeasureReport/{id}/_history/{vid}, ETag, Last-Modified, the resource', async () => {
    const before = Date.now();
    const res = await send('POST', '/MeasureReport', freshReport());
    assert.equal(res.status, 201, res.text);
    const [, id, vid] = (res.headers.get('location') ?? '').match(LOCATION) ?? [];
    assert.ok(id && vid, `Location ${res.headers.get('location')}`);
    assert.equal(res.headers.get('etag'), `W/"${vid}"`);
    const lastModified = Date.parse(res.headers.get('last-modified') ?? '');
    assert.ok(lastModified >= Math.floor(before / 1000) * 1000 && lastModified <= Date.now(), `Last-Modified ${res.headers.get('last-modified')}`);
    const body = res.json() as { resourceType: string; id: string; meta: { versionId: string; lastUpdated: string } };
    assert.equal(body.resourceType, 'MeasureReport');
    assert.equal(body.id, id);
    assert.equal(body.meta.versionId, vid);
    assert.equal(Math.floor(Date.parse(body.meta.lastUpdated) / 1000) * 1000, lastModified);
  });

  test('200 OK: the same report again is an update of the same resource, with a later version', async () => {
    const report = freshReport();
    const first = await send('POST', '/MeasureReport', report);
    assert.equal(first.status, 201, first.text);
    report.group![0]!.population![1]!.count = 4242; // a correction
    const second = await send('POST', '/MeasureReport', report);
    assert.equal(second.status, 200, second.text);
    const [, id1, v1] = first.headers.get('location')!.match(LOCATION)!;
    const [, id2, v2] = second.headers.get('location')!.match(LOCATION)!;
    assert.equal(id2, id1);
    assert.ok(BigInt(v2!) > BigInt(v1!), `version ${v2} after ${v1}`);

    // PUT to the id the server gave is an update too.
    const put = await send('PUT', `/MeasureReport/${id1}`, { ...report, id: id1 });
    assert.equal(put.status, 200, put.text);
    assert.equal(put.headers.get('location')!.match(LOCATION)![1], id1);
  });

  test('PUT with a new client-chosen id creates (201), then the report keeps that id', async () => {
    const id = `client-${randomBytes(6).toString('hex')}`;
    const report = { ...freshReport(), id };
    assert.equal((await send('PUT', `/MeasureReport/${id}`, report)).status, 201);
    const again = await send('POST', '/MeasureReport', { ...report, id: undefined });
    assert.equal(again.status, 200, again.text);
    assert.equal(again.headers.get('location')!.match(LOCATION)![1], id);
  });

  test('Prefer: return=minimal | representation | OperationOutcome', async () => {
    const report = freshReport();
    const minimal = await send('POST', '/MeasureReport', report, { prefer: 'return=minimal' });
    assert.equal(minimal.status, 201);
    assert.equal(minimal.text, '');
    assert.match(minimal.headers.get('location') ?? '', LOCATION);

    const representation = await send('POST', '/MeasureReport', report, { prefer: 'return=representation' });
    assert.equal(representation.status, 200);
    const body = representation.json() as { resourceType: string; measure: string; meta: { versionId: string } };
    assert.equal(body.resourceType, 'MeasureReport');
    assert.equal(body.measure, report.measure);
    assert.equal(`W/"${body.meta.versionId}"`, representation.headers.get('etag'));

    const oo = await send('POST', '/MeasureReport', report, { prefer: 'return=OperationOutcome' });
    assert.equal(oo.status, 200);
    const outcome = oo.json() as unknown as OperationOutcome;
    assert.equal(outcome.resourceType, 'OperationOutcome');
    assert.deepEqual(outcome.issue.map((i) => [i.severity, i.code]), [['information', 'informational']]);
    assert.match(outcome.issue[0]!.diagnostics!, /updated as version \d+/);
  });

  test('content types: application/fhir+json, application/json, charset parameter, _format without Content-Type', async () => {
    const report = freshReport();
    assert.equal((await send('POST', '/MeasureReport', report, { 'content-type': 'application/fhir+json' })).status, 201);
    assert.equal((await send('POST', '/MeasureReport', report, { 'content-type': 'application/json' })).status, 200);
    assert.equal((await send('POST', '/MeasureReport', report, { 'content-type': 'application/fhir+json; charset=utf-8' })).status, 200);
    for (const format of ['json', 'application/fhir+json', 'application/json']) {
      // fetch labels a string body text/plain unless told otherwise: send bytes to have no Content-Type.
      const res = await send('POST', `/MeasureReport?_format=${encodeURIComponent(format)}`, new TextEncoder().encode(JSON.stringify(report)), { 'content-type': '' });
      assert.equal(res.status, 200, `_format=${format}: ${res.text}`);
      assert.match(res.headers.get('content-type') ?? '', /^application\/fhir\+json/);
    }
  });
});

describe('refusals (400, 404, 405, 409, 413, 415)', () => {
  test('400: malformed JSON, random bytes, a JSON array, no body', async () => {
    assertOutcome(await send('POST', '/MeasureReport', '{"resourceType": "MeasureReport",'), 400, 'structure');
    assertOutcome(await send('POST', '/MeasureReport', new Uint8Array(randomBytes(512))), 400, 'structure');
    assertOutcome(await send('POST', '/MeasureReport', [freshReport()]), 400, 'structure');
    assertOutcome(await send('POST', '/MeasureReport', undefined, { 'content-type': FHIR_JSON }), 400, 'structure');
  });

  test('400: a valid Observation is not a MeasureReport', async () => {
    const res = await send('POST', '/MeasureReport', fixture('invalid/resource-type-observation.json'));
    assertOutcome(res, 400, 'invalid', 'MeasureReport.resourceType');
  });

  test('400: the id in the body differs from the URL, is missing, or the URL id is not a FHIR id', async () => {
    const report = freshReport();
    assertOutcome(await send('PUT', '/MeasureReport/abc', { ...report, id: 'xyz' }), 400, 'invariant', 'MeasureReport.id');
    assertOutcome(await send('PUT', '/MeasureReport/abc', report), 400, 'required', 'MeasureReport.id');
    assertOutcome(await send('PUT', '/MeasureReport/not_an_id!', { ...report, id: 'not_an_id!' }), 400, 'value');
    const loc = fixture<{ id: string }>('saner/locations/Loc-X140008.json');
    assertOutcome(await send('PUT', '/Location/other-id', loc), 400, 'invariant', 'Location.id');
  });

  test('400: conditional create and update (If-Match, If-None-Exist ...) are refused, not ignored', async () => {
    const report = freshReport();
    assertOutcome(await send('POST', '/MeasureReport', report, { 'if-none-exist': 'identifier=x' }), 400, 'not-supported');
    assertOutcome(await send('PUT', '/MeasureReport/cond-1', { ...report, id: 'cond-1' }, { 'if-match': 'W/"1"' }), 400, 'not-supported');
    const loc = fixture<{ id: string }>('saner/locations/Loc-X140008.json');
    assertOutcome(await send('PUT', `/Location/${loc.id}`, loc, { 'if-none-match': '*' }), 400, 'not-supported');
    assert.equal((await send('POST', '/MeasureReport', report)).status, 201, 'nothing was stored by the refused ones');
  });

  test('404: unknown resource type or route', async () => {
    assertOutcome(await send('POST', '/Patient', { resourceType: 'Patient' }), 404, 'not-found');
    assertOutcome(await send('GET', '/Observation/1'), 404, 'not-found');
    assertOutcome(await send('GET', '/no/such/route'), 404, 'not-found');
  });

  test('405: a known resource type with a method it does not support', async () => {
    assertOutcome(await send('GET', '/MeasureReport'), 405, 'not-supported');
    assertOutcome(await send('GET', '/MeasureReport/abc'), 405, 'not-supported');
    assertOutcome(await send('DELETE', '/MeasureReport/abc'), 405, 'not-supported');
    assertOutcome(await send('POST', '/Measure', fixture('saner/measures/FEMADailyHospitalCOVID19Reporting.json')), 405, 'not-supported');
    assertOutcome(await send('DELETE', '/Location/x'), 405, 'not-supported');
    assertOutcome(await send('PATCH', '/Organization/x', '[]', { 'content-type': 'application/json-patch+json' }), 405, 'not-supported');
    assertOutcome(await send('POST', '/metadata', {}), 405, 'not-supported');
    // RFC 9110: a 405 says what is allowed.
    assert.equal((await send('DELETE', '/Location/x')).headers.get('allow'), 'GET, PUT');
    assert.equal((await send('GET', '/MeasureReport')).headers.get('allow'), 'POST, PUT');
  });

  test('409: a PUT cannot move an existing id to another business key', async () => {
    const a = freshReport();
    const created = await send('POST', '/MeasureReport', a);
    assert.equal(created.status, 201);
    const id = created.headers.get('location')!.match(LOCATION)![1]!;
    const b = freshReport(); // another subject: another business key
    const res = await send('PUT', `/MeasureReport/${id}`, { ...b, id });
    assertOutcome(res, 409, 'conflict');
    // ... and a PUT under a new id for a key that already has one is a conflict too.
    const dup = await send('PUT', '/MeasureReport/another-id', { ...a, id: 'another-id' });
    assertOutcome(dup, 409, 'duplicate');
  });

  test('413: a body over MAX_BODY_BYTES', async () => {
    const report = { ...freshReport(), text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${'x'.repeat(MAX_BODY_BYTES)}</div>` } };
    assertOutcome(await send('POST', '/MeasureReport', report), 413, 'too-costly');
    assertOutcome(await send('PUT', '/Location/big', { ...report, resourceType: 'Location', id: 'big' }), 413, 'too-costly');
  });

  test('415: unsupported media types and _format', async () => {
    const body = JSON.stringify(freshReport());
    assertOutcome(await send('POST', '/MeasureReport', body, { 'content-type': 'text/plain' }), 415, 'not-supported');
    assertOutcome(await send('POST', '/MeasureReport', '<MeasureReport/>', { 'content-type': 'application/fhir+xml' }), 415, 'not-supported');
    assertOutcome(await send('POST', '/MeasureReport', body, { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'not-supported');
    assertOutcome(await send('POST', '/MeasureReport?_format=xml', body, { 'content-type': FHIR_JSON }), 415, 'not-supported');
    assertOutcome(await send('POST', '/MeasureReport', new TextEncoder().encode(body), { 'content-type': '' }), 415, 'not-supported');
  });
});

describe('422: the PublicHealthMeasureReport profile', () => {
  test('every SANER example MeasureReport is accepted', async () => {
    const names = fixtureNames('saner/measure-reports');
    assert.equal(names.length, 44);
    for (const f of names) {
      const res = await send('POST', '/MeasureReport', fixture(`saner/measure-reports/${f}`), { prefer: 'return=OperationOutcome' });
      assert.ok(res.status === 201 || res.status === 200, `${f}: ${res.status} ${res.text}`);
      const oo = res.json() as unknown as OperationOutcome;
      assert.deepEqual(oo.issue.filter((i) => i.severity !== 'information'), [], `${f}: no warnings`);
    }
  });

  // Every broken fixture, refused with exactly the issues the validator names (the Measure, FEMA,
  // is registered); a valid Observation is a 400 (wrong resourceType) before any validation.
  for (const [name, expected] of Object.entries(INVALID)) {
    test(`${name}: ${name === 'resource-type-observation' ? 400 : 422} naming every problem`, async () => {
      const res = await send('POST', '/MeasureReport', fixture(`invalid/${name}.json`));
      if (name === 'resource-type-observation') {
        assertOutcome(res, 400, 'invalid', 'MeasureReport.resourceType');
        return;
      }
      assertOutcome(res, 422);
      assert.deepEqual(issues(res), [...expected.issues].sort());
    });
  }

  test('an unknown population code is named in the 422 (Measure registered)', async () => {
    const res = await send('POST', '/MeasureReport', fixture('invalid/unknown-population-code.json'));
    assertOutcome(res, 422, 'code-invalid', 'MeasureReport.group[0].population[1].code');
    assert.match(res.text, /'totalTestResultsYesterday'/);
  });

  test('Prefer: handling=lenient accepts unknown elements with a warning that names them', async () => {
    const report = fixture<Record<string, unknown>>('invalid/unknown-element-in-population.json');
    (report.subject as { identifier: unknown }).identifier = { system: 'urn:sitrep:test:subject', value: randomUUID() };
    assertOutcome(await send('POST', '/MeasureReport', report), 422, 'structure', 'MeasureReport.group[0].population[1].value');

    const res = await send('POST', '/MeasureReport', report, { prefer: 'handling=lenient, return=OperationOutcome' });
    assert.equal(res.status, 201, res.text);
    const oo = res.json() as unknown as OperationOutcome;
    const warnings = oo.issue.filter((i) => i.severity === 'warning');
    assert.deepEqual(warnings.map((i) => [i.code, i.expression?.[0]]), [['structure', 'MeasureReport.group[0].population[1].value']]);
    assert.match(warnings[0]!.diagnostics!, /'value'/);

    // Lenient is about unknown elements only: a profile violation is still a 422.
    assertOutcome(await send('POST', '/MeasureReport', fixture('invalid/count-is-string.json'), { prefer: 'handling=lenient' }), 422, 'structure');
  });
});

describe('metadata and reference data', () => {
  test('GET /metadata: the CapabilityStatement', async () => {
    const res = await send('GET', '/metadata');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/fhir\+json/);
    const cs = res.json() as {
      resourceType: string;
      fhirVersion: string;
      kind: string;
      instantiates: string[];
      format: string[];
      rest: { mode: string; interaction?: { code: string }[]; resource: { type: string; interaction: { code: string }[]; supportedProfile?: string[]; operation?: { name: string }[] }[] }[];
    };
    assert.equal(cs.resourceType, 'CapabilityStatement');
    assert.equal(cs.fhirVersion, '4.0.1');
    assert.ok(cs.format.includes('application/fhir+json'));
    assert.ok(cs.instantiates.includes('http://hl7.org/fhir/uv/saner/CapabilityStatement/MeasureConsumer-ProduceMeasure-Push'));
    assert.ok(cs.instantiates.includes('http://hl7.org/fhir/uv/saner/CapabilityStatement/MeasureConsumer-ProduceMeasure-SupplementalData'));
    assert.ok(cs.instantiates.includes('http://hl7.org/fhir/uv/saner/CapabilityStatement/MeasureConsumer-SupplementalData'));
    assert.ok(cs.instantiates.includes('http://hl7.org/fhir/uv/saner/CapabilityStatement/MeasureConsumer-ProduceMeasure-CSV-Push'));
    const server = cs.rest.find((r) => r.mode === 'server')!;
    assert.ok(server.interaction?.some((i) => i.code === 'batch'), 'the batch system interaction is declared');
    const report = server.resource.find((r) => r.type === 'MeasureReport')!;
    assert.deepEqual(report.interaction.map((i) => i.code).sort(), ['create', 'update']);
    assert.deepEqual(report.supportedProfile, ['http://hl7.org/fhir/uv/saner/StructureDefinition/PublicHealthMeasureReport']);
    assert.deepEqual(report.operation?.map((o) => o.name), ['import']);
    assert.deepEqual(server.resource.find((r) => r.type === 'Measure')?.operation?.map((o) => o.name), ['report-csv']);
    for (const type of ['Measure', 'Location', 'Organization']) {
      assert.deepEqual(server.resource.find((r) => r.type === type)?.interaction.map((i) => i.code).sort(), ['read', 'update'], type);
    }
    // Only JSON is produced, here as everywhere.
    const xml = await send('GET', '/metadata?_format=xml');
    assert.equal(xml.status, 415, xml.text);
  });

  for (const [type, file] of [
    ['Measure', 'saner/measures/CDCHealthcareSupplyPathway.json'],
    ['Location', 'saner/locations/Loc-X140010.json'],
    ['Organization', 'saner/organizations/X140010.json'],
  ] as const) {
    test(`PUT then GET ${type} (201, 200, 404 for an unknown id)`, async () => {
      const resource = fixture<{ id: string; meta?: unknown }>(file);
      const path = `/${type}/${resource.id}`;
      const put1 = await send('PUT', path, resource);
      assert.ok(put1.status === 201 || (type === 'Measure' && put1.status === 200), `${put1.status} ${put1.text}`);
      const put2 = await send('PUT', path, resource);
      assert.equal(put2.status, 200, put2.text);
      const etag = put2.headers.get('etag');
      assert.match(put2.headers.get('location') ?? '', new RegExp(`/${type}/${resource.id}/_history/\\d+$`));

      const got = await send('GET', path);
      assert.equal(got.status, 200, got.text);
      assert.equal(got.headers.get('etag'), etag);
      assert.ok(got.headers.get('last-modified'));
      const body = got.json() as { resourceType: string; id: string; meta: { versionId: string } };
      assert.equal(body.resourceType, type);
      assert.equal(body.id, resource.id);
      assert.equal(`W/"${body.meta.versionId}"`, etag);

      assertOutcome(await send('GET', `/${type}/does-not-exist`), 404, 'not-found');
    });
  }

  test('422: an invalid Measure, Location or Organization', async () => {
    const res = await send('PUT', '/Location/broken', { resourceType: 'Location', id: 'broken', status: 'sideways', unknownThing: 1 });
    assertOutcome(res, 422);
    assert.ok(issues(res).some(([, e]) => e === 'Location.unknownThing'), res.text);
  });
});
