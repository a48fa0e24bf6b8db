// POST [base] with a `batch` Bundle: the SANER Supplemental Data option (a MeasureReport first, then
// the resources it references) and, generally, many resources in one request. Each entry goes
// through Acceptor.accept() like a single create or update and gets its own response entry.
// FHIR rules: https://hl7.org/fhir/R4/http.html#transaction (batch and transaction processing).
//
// Decisions (docs/spec digest shared/spec/saner.md sections 1, 7, 9):
// - `transaction` Bundles are refused with 400. All-or-nothing would need every entry to become
//   durable atomically, but each resource type has its own Kafka topic and the producer is not
//   transactional: a broker failure half way would leave some entries stored and others not, which
//   a 2xx for a transaction would misrepresent. Validating everything first does not close that gap,
//   so we say so instead of pretending. Every other type but `batch` is refused with 400 too.
// - The envelope (Bundle.type, entry[], entry.request.method/url, entry.resource present for POST
//   and PUT) is checked first; any problem there refuses the whole Bundle with one 400 naming every
//   problem by FHIRPath (`Bundle.entry[2].request.url`), as FHIR says for a Bundle that is not valid.
// - Each entry gets the status a single request would get (201/200, 400, 404, 405, 409, 422, 503),
//   an OperationOutcome, and for a success location, etag, lastModified and, unless Prefer says
//   otherwise, the resource. Entries are independent but for one thing, on purpose (stated in the
//   CapabilityStatement): a report is validated against a Measure that came in the same Bundle, if
//   that Measure was accepted.
// - At most MAX_ENTRIES entries (else 413): they are all published at once, into the queue that
//   every other request shares; larger pushes are what the NDJSON endpoint is for.
// - Resource types sitrep does not store (Patient, Observation, Encounter... the patient-level
//   supplemental data) get a per-entry `404 Not Found` with code not-supported, which is what FHIR
//   prescribes for "resource type not supported" and what `POST /Patient` answers here. sitrep
//   deliberately keeps no patient-level data (SANER section 8: supplemental data is patient
//   sensitive); the MeasureReport in the same Bundle is still accepted.
// - Order: FHIR lets a server process batch entries in any order, so Measures, Locations and
//   Organizations are accepted before the MeasureReports; a report is then validated against the
//   Measure that came with it. The response keeps the request's entry order. We do not require the
//   MeasureReport to be the first entry (the SupplementalData CapabilityStatement asks the Source
//   for that, but nothing here depends on it).
// - Kafka down: if nothing was stored and an entry failed because Kafka is unavailable, the whole
//   answer is 503 + Retry-After (the same as a single request; retrying the Bundle is safe because
//   creates are idempotent by business key). If some entries were stored, the answer is the
//   batch-response with `503` on the others. Every entry's publish shares one deadline, taken when
//   the entries start (the body read and the envelope checked), so the answer comes within one
//   publish timeout of it whatever the phases; after an
//   entry fails on Kafka, the later phase is not attempted.
// - Conditional entries (ifNoneExist, ifMatch, a query in request.url) are not supported
//   (per-entry 400), like conditional create/update on the REST API.
import { Router, raw, type Request, type Response } from 'express';
import { STATUS_CODES } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Bundle, BundleEntry, OperationOutcome } from 'fhir/r4.js';
import { DependencyUnavailableError, OperationOutcomeError } from '@sitrep/shared/errors';
import type { ResourceKind } from '@sitrep/shared/contracts/records';
import { firstIssues, issue, outcome, type Issue } from '@sitrep/shared/fhir/outcome';
import { storedResource, type AcceptContext, type Acceptor, type Accepted } from '../accept.js';
import { acceptContext, baseUrl, parseJsonBody, prefer, requireJsonBody, requireJsonResponse, withMeta, type Prefer } from '../http.js';

export interface BatchRouteDeps {
  acceptor: Acceptor;
  maxBodyBytes: number;
  publicBaseUrl: string | undefined;
  /** Retry-After of a batch-response in which some entries got 503 (the error handler sets it for a whole 503). */
  retryAfterSeconds?: number;
}

const KINDS: readonly ResourceKind[] = ['MeasureReport', 'Measure', 'Location', 'Organization'];
const FHIR_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH']);
const ID = /^[A-Za-z0-9\-.]{1,64}$/;
/** Entries of one batch at most. */
export const MAX_ENTRIES = 1000;

/** One entry after the envelope check: what to do with it, or the answer it already has. */
type Planned =
  | { kind: 'accept'; type: ResourceKind; resource: unknown; urlId: string | undefined }
  | { kind: 'answer'; status: number; issues: Issue[] };

type EntryResult =
  | { kind: 'ok'; accepted: Accepted; resource: unknown }
  | { kind: 'failed'; status: number; outcome: OperationOutcome }
  | { kind: 'unavailable'; outcome: OperationOutcome };

export function batchRoutes(d: BatchRouteDeps): Router {
  const router = Router();
  const body = raw({ type: () => true, limit: d.maxBodyBytes });

  router.post('/', body, async (req: Request, res: Response) => {
    requireJsonResponse(req);
    requireJsonBody(req);
    const bundle = parseJsonBody(req);
    const base = baseUrl(req, d.publicBaseUrl);
    const entries = checkEnvelope(bundle);
    const plans = entries.map((e, i) => plan(e, i, base));
    const ctx = { ...acceptContext(req, res), deadline: d.acceptor.deadline() };
    const results = await run(d.acceptor, plans, ctx);

    const stored = results.some((r) => r.kind === 'ok');
    const unavailable = results.some((r) => r.kind === 'unavailable');
    if (unavailable && !stored) {
      throw new DependencyUnavailableError('kafka', 'Kafka unavailable for every entry of the batch');
    }
    if (unavailable) res.setHeader('Retry-After', String(d.retryAfterSeconds ?? 5));
    const p = prefer(req);
    const response: Bundle = {
      resourceType: 'Bundle',
      id: randomUUID(),
      type: 'batch-response',
      timestamp: new Date().toISOString(),
    };
    // FHIR JSON has no empty arrays: an empty batch gets a response without entries.
    if (results.length > 0) response.entry = results.map((r) => responseEntry(r, p, base));
    res.status(200).type('application/fhir+json').send(response);
  });
  return router;
}

/** The entries of a valid batch Bundle, or a 400 naming every problem of the envelope. */
function checkEnvelope(input: unknown): Record<string, unknown>[] {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw OperationOutcomeError.single(400, 'structure', 'the body must be a FHIR Bundle JSON object');
  }
  const b = input as Record<string, unknown>;
  if (b.resourceType !== 'Bundle') {
    throw OperationOutcomeError.single(400, 'invalid', `resourceType is ${JSON.stringify(b.resourceType)}; POST [base] takes a Bundle of type batch`, 'resourceType');
  }
  if (b.type === 'transaction') {
    throw OperationOutcomeError.single(
      400,
      'not-supported',
      'transaction Bundles are not supported: each resource type goes to its own Kafka topic and sitrep cannot make them durable all-or-nothing; send a batch Bundle (entries are processed independently)',
      'Bundle.type',
    );
  }
  if (b.type === undefined) throw OperationOutcomeError.single(400, 'required', 'Bundle.type is required (batch)', 'Bundle.type');
  if (b.type !== 'batch') {
    throw OperationOutcomeError.single(400, 'not-supported', `Bundle type ${JSON.stringify(b.type)} is not processed here: only batch is`, 'Bundle.type');
  }
  if (b.entry === undefined) return [];
  if (!Array.isArray(b.entry)) throw OperationOutcomeError.single(400, 'structure', 'Bundle.entry must be an array', 'Bundle.entry');
  if (b.entry.length > MAX_ENTRIES) {
    throw OperationOutcomeError.single(413, 'too-costly', `a batch holds at most ${MAX_ENTRIES} entries, this one ${b.entry.length}: split it, or push reports as NDJSON`, 'Bundle.entry');
  }

  const problems: Issue[] = [];
  b.entry.forEach((entry: unknown, i: number) => {
    const at = `Bundle.entry[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      problems.push(issue('structure', 'an entry must be a JSON object', at));
      return;
    }
    const e = entry as Record<string, unknown>;
    const request = e.request;
    let method: string | undefined;
    if (typeof request !== 'object' || request === null || Array.isArray(request)) {
      problems.push(issue('required', 'every entry of a batch needs a request (method and url)', `${at}.request`));
    } else {
      const r = request as Record<string, unknown>;
      if (typeof r.method !== 'string' || !FHIR_METHODS.has(r.method)) {
        problems.push(issue(r.method === undefined ? 'required' : 'value', `request.method must be one of ${[...FHIR_METHODS].join(', ')}`, `${at}.request.method`));
      } else {
        method = r.method;
      }
      if (typeof r.url !== 'string' || r.url.trim() === '') {
        problems.push(issue(r.url === undefined ? 'required' : 'value', 'request.url must be a non-empty string', `${at}.request.url`));
      }
    }
    if (e.resource !== undefined && (typeof e.resource !== 'object' || e.resource === null || Array.isArray(e.resource))) {
      problems.push(issue('structure', 'entry.resource must be a resource (a JSON object)', `${at}.resource`));
    } else if (e.resource === undefined && (method === 'POST' || method === 'PUT')) {
      problems.push(issue('required', `a ${method} entry needs the resource`, `${at}.resource`));
    }
  });
  if (problems.length > 0) throw OperationOutcomeError.of(400, problems);
  return b.entry as Record<string, unknown>[];
}

/** What a single request with this method and url would do; mirrors the REST routes and their 404/405. */
function plan(entry: Record<string, unknown>, i: number, base: string): Planned {
  const request = entry.request as { method: string; url: string; ifNoneExist?: unknown; ifMatch?: unknown; ifNoneMatch?: unknown; ifModifiedSince?: unknown };
  const method = request.method;
  const where = `Bundle.entry[${i}].request`;
  const refuse = (status: number, code: Issue['code'], text: string, expression = `${where}.url`): Planned => ({ kind: 'answer', status, issues: [issue(code, text, expression)] });

  for (const c of ['ifNoneExist', 'ifMatch', 'ifNoneMatch', 'ifModifiedSince'] as const) {
    if (request[c] !== undefined) return refuse(400, 'not-supported', `conditional requests (${c}) are not supported`, `${where}.${c}`);
  }
  let url = request.url.trim();
  if (/^[a-z][a-z0-9+.-]*:/i.test(url)) {
    if (!url.startsWith(`${base}/`)) return refuse(400, 'not-supported', `request.url must be relative to this server's base (${base}): ${url}`);
    url = url.slice(base.length + 1);
  }
  if (url.includes('?')) return refuse(400, 'not-supported', `conditional and search URLs are not supported in a batch: ${url}`);
  const segments = url.replace(/^\/+/, '').split('/');
  const type = segments[0] ?? '';
  const kind = KINDS.find((k) => k === type);
  if (!kind) {
    // Also the supplemental data (Patient, Observation, ...): see the decision at the top.
    return refuse(404, 'not-supported', `resource type "${type}" is not supported: sitrep stores MeasureReport, Measure, Location and Organization only`);
  }
  const resource = entry.resource;
  if (method === 'POST' && segments.length === 1 && kind === 'MeasureReport') {
    return { kind: 'accept', type: kind, resource, urlId: undefined };
  }
  if (method === 'PUT' && segments.length === 2 && segments[1]) {
    const id = segments[1];
    if (!ID.test(id)) return refuse(400, 'value', `"${id}" is not a valid FHIR id`);
    return { kind: 'accept', type: kind, resource, urlId: id };
  }
  const supported = kind === 'MeasureReport' ? 'POST MeasureReport, PUT MeasureReport/[id]' : `PUT ${kind}/[id]`;
  return refuse(405, 'not-supported', `${method} ${url} is not supported in a batch; supported: ${supported}`, `${where}.method`);
}

/** Reference data first (so reports see the Measures that came with them), then the reports. */
async function run(acceptor: Acceptor, plans: Planned[], ctx: AcceptContext): Promise<EntryResult[]> {
  const results: (EntryResult | undefined)[] = plans.map((p) => (p.kind === 'answer' ? { kind: 'failed', status: p.status, outcome: outcome(p.issues) } : undefined));
  const phases = [(t: ResourceKind) => t !== 'MeasureReport', (t: ResourceKind) => t === 'MeasureReport'];
  let kafkaDown = false;
  for (const inPhase of phases) {
    const work: Promise<void>[] = [];
    // Started in entry order: Acceptor serializes publishes per id in call order, so two entries
    // for the same resource become two versions in Bundle order.
    plans.forEach((p, i) => {
      if (p.kind !== 'accept' || !inPhase(p.type)) return;
      if (kafkaDown) {
        results[i] = { kind: 'unavailable', outcome: outcome([issue('transient', 'not attempted: Kafka was unavailable for an earlier entry; nothing was stored for this entry, retry later')]) };
        return;
      }
      work.push(
        acceptor.accept(p.type, p.resource, { ...ctx, ...(p.urlId !== undefined ? { urlId: p.urlId } : {}) }).then(
          (accepted) => {
            results[i] = { kind: 'ok', accepted, resource: p.resource };
          },
          (err: unknown) => {
            if (err instanceof OperationOutcomeError) results[i] = { kind: 'failed', status: err.status, outcome: err.outcome };
            else if (err instanceof DependencyUnavailableError) {
              kafkaDown = true;
              results[i] = {
                kind: 'unavailable',
                outcome: outcome([issue('transient', `${err.message}; this entry may not have been stored: retry it (a re-send updates, never duplicates)`)]),
              };
            } else throw err; // a bug: the error handler logs it and answers 500 (retrying is safe)
          },
        ),
      );
    });
    await Promise.all(work);
  }
  return results as EntryResult[];
}

function statusLine(status: number): string {
  return `${status} ${STATUS_CODES[status] ?? ''}`.trim();
}

/** Issues listed per entry, as per NDJSON line: a Bundle of 1000 entries of 100 issues each would be a huge answer. */
const MAX_ISSUES_PER_ENTRY = 20;

const clipped = (oo: OperationOutcome): OperationOutcome => outcome(firstIssues(oo.issue, MAX_ISSUES_PER_ENTRY, 'of this entry'));

function responseEntry(r: EntryResult, p: Prefer, base: string): BundleEntry {
  if (r.kind === 'failed') return { response: { status: statusLine(r.status), outcome: clipped(r.outcome) } };
  if (r.kind === 'unavailable') return { response: { status: statusLine(503), outcome: r.outcome } };
  const a = r.accepted;
  const entry: BundleEntry = {
    fullUrl: `${base}/${a.resourceType}/${a.id}`,
    response: {
      status: statusLine(a.created ? 201 : 200),
      location: `${base}/${a.resourceType}/${a.id}/_history/${a.versionId}`,
      etag: `W/"${a.versionId}"`,
      lastModified: a.lastUpdated,
    },
  };
  if (p.return !== 'minimal' || a.warnings.length > 0) {
    entry.response!.outcome = clipped(
      outcome([issue('informational', `${a.resourceType}/${a.id} ${a.created ? 'created' : 'updated'} as version ${a.versionId}`, undefined, 'information'), ...a.warnings]),
    );
  }
  if (p.return === 'representation') entry.resource = withMeta(storedResource(r.resource, a.id), a) as unknown as BundleEntry['resource'];
  return entry;
}
