// Accepting one resource: validate -> decide its identity -> publish durably -> remember it.
// Every intake path (single create/update, batch Bundles, NDJSON lines, CSV rows) goes through here,
// so identity and durability rules live in one place.
import type { MeasureReport } from 'fhir/r4.js';
import { OperationOutcomeError } from '@sitrep/shared/errors';
import { encodeRecord, encodeRecordWithJson, recordHeaders, RECORD_SCHEMA, type ResourceKind, type Sender } from '@sitrep/shared/contracts/records';
import type { Topics } from '@sitrep/shared/contracts/topics';
import { businessKey, businessKeyString, reportIdFor } from '@sitrep/shared/fhir/identity';
import { canonicalUrl } from '@sitrep/shared/fhir/measure';
import { hasErrors, issue, type Issue } from '@sitrep/shared/fhir/outcome';
import { validateLocation, validateMeasure, validateMeasureReport, validateOrganization } from '@sitrep/shared/fhir/validate';
import type { Catalog } from './catalog.js';
import type { OutgoingRecord, Publisher } from './publish.js';

export interface AcceptDeps {
  publisher: Publisher;
  catalog: Catalog;
  topics: Topics;
}

export interface AcceptContext {
  requestId: string;
  sender: Sender;
  receivedAt: string;
  lenient: boolean;
  /** The id in the URL of a PUT; absent for a create. */
  urlId?: string;
  /** The publish bound (Acceptor.deadline()) shared by the resources of one request (a batch); else each acceptance gets its own. */
  deadline?: number;
}

export interface Accepted {
  resourceType: ResourceKind;
  id: string;
  versionId: string;
  lastUpdated: string;
  /** False when it replaced an existing resource (an update). */
  created: boolean;
  /** Warnings (e.g. unknown elements accepted under Prefer: handling=lenient). */
  warnings: Issue[];
}

const ID = /^[A-Za-z0-9\-.]{1,64}$/;
/**
 * Largest Measure, Location or Organization, as JSON. Every service keeps the latest of each in
 * memory for good (ingest's catalog, replayed from the compacted topics at every start), so a few
 * hundred multi-MB resources would exhaust it; the SANER examples are 18-64 kB.
 */
export const MAX_REFERENCE_BYTES = 1024 * 1024;
const VALIDATORS = {
  Measure: validateMeasure,
  Location: validateLocation,
  Organization: validateOrganization,
} as const;

export class Acceptor {
  /** Publishes for one id run one after another, so concurrent duplicates get one create and ordered versions. */
  private readonly inFlight = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: AcceptDeps) {}

  /** The publish bound of an acceptance that starts now (performance.now() time). */
  deadline(): number {
    return this.deps.publisher.deadline();
  }

  /** `json`: the bytes `input` was parsed from (valid UTF-8), when the intake has them; a report's record then carries them as they are. */
  async accept(kind: ResourceKind, input: unknown, ctx: AcceptContext, json?: Buffer): Promise<Accepted> {
    // One bound for the whole acceptance, waits behind earlier publishes of the same resource included.
    const deadline = ctx.deadline ?? this.deadline();
    const body = checkShape(kind, input, ctx.urlId);
    if (kind === 'MeasureReport') return this.acceptReport(body, ctx, deadline, json);
    // Measured the same way on every path (a batch entry has no bytes of its own): as compact JSON.
    const bytes = Buffer.byteLength(JSON.stringify(body));
    if (bytes > MAX_REFERENCE_BYTES) {
      throw OperationOutcomeError.single(413, 'too-costly', `a ${kind} is ${bytes} bytes; at most ${MAX_REFERENCE_BYTES} are kept`, kind);
    }
    const issues = VALIDATORS[kind](body, { lenient: ctx.lenient });
    if (hasErrors(issues)) throw OperationOutcomeError.of(422, issues);
    const id = ctx.urlId!;
    return this.serialized(`${kind}/${id}`, deadline, async () => {
      const created = !this.deps.catalog.getReference(kind, id);
      const topic = kind === 'Measure' ? this.deps.topics.measures : kind === 'Location' ? this.deps.topics.locations : this.deps.topics.organizations;
      const ack = await this.deps.publisher.publish(this.record(kind, topic, `${kind}/${id}`, id, body, ctx), deadline);
      this.deps.catalog.recordReference(kind, id, { resource: storedResource(body, id), versionId: ack.offset, lastUpdated: ctx.receivedAt });
      return { resourceType: kind, id, versionId: ack.offset, lastUpdated: ctx.receivedAt, created, warnings: issues };
    });
  }

  private async acceptReport(body: Record<string, unknown>, ctx: AcceptContext, deadline: number, json: Buffer | undefined): Promise<Accepted> {
    const report = body as unknown as MeasureReport;
    const measure = typeof report.measure === 'string' ? this.deps.catalog.measure(canonicalUrl(report.measure)) : undefined;
    const issues = validateMeasureReport(body, measure ? { lenient: ctx.lenient, measure } : { lenient: ctx.lenient });
    if (hasErrors(issues)) throw OperationOutcomeError.of(422, issues);
    const key = businessKey(report);
    const keyId = reportIdFor(key);
    const { catalog } = this.deps;
    const idNow = () => ctx.urlId ?? catalog.reportIdOfKeyId(keyId) ?? keyId;
    const keyText = businessKeyString(key);
    // Encoded before waiting on anything: from here on only the record's bytes are held, not the
    // parsed report (tens of kB of small objects per report). Held across the wait for Kafka, a
    // bulk import's hundreds of reports in flight outlived young-generation collections and were
    // promoted, and old-generation collections ran all the time.
    let encodedFor = idNow();
    let record = this.record('MeasureReport', this.deps.topics.measureReports, keyText, encodedFor, body, ctx, json);
    // Kept only to encode again if the id changes while waiting for the key (below).
    let held: { body: Record<string, unknown>; json: Buffer | undefined } | undefined = { body, json };
    // Serialized on the business key, then on the id: a PUT to a chosen id and a create of the same
    // report (or PUTs of it to two ids) run one after the other, so the second sees the first in the
    // catalog, as if they had come one after the other (a create then updates the chosen id; a PUT
    // to another id gets its 409). The id of a create is decided once the key is held. The key is
    // the outer lock, and nothing waits for a lock inside the inner one, so no two requests ever
    // wait for each other.
    return this.serialized(`key/${keyId}`, deadline, () => {
      const id = idNow();
      if (id !== encodedFor) {
        encodedFor = id;
        record = this.record('MeasureReport', this.deps.topics.measureReports, keyText, id, held!.body, ctx, held!.json);
      }
      held = undefined;
      return this.serialized(`MeasureReport/${id}`, deadline, async () => {
        const boundKey = catalog.reportKeyIdOf(id);
        if (boundKey !== undefined && boundKey !== keyId) {
          throw OperationOutcomeError.of(409, [
            issue('conflict', `MeasureReport/${id} already holds the report for another business key (measure, subject, reporter, period); an update cannot move it`, 'MeasureReport'),
          ]);
        }
        const holder = catalog.reportIdOfKeyId(keyId);
        if (holder !== undefined && holder !== id) {
          throw OperationOutcomeError.of(409, [
            issue('duplicate', `the report for this measure, subject, reporter and period already exists as MeasureReport/${holder}; update that resource instead`, 'MeasureReport'),
          ]);
        }
        const created = boundKey === undefined;
        const ack = await this.deps.publisher.publish(record, deadline);
        catalog.recordReport(id, keyId);
        return { resourceType: 'MeasureReport', id, versionId: ack.offset, lastUpdated: ctx.receivedAt, created, warnings: issues };
      });
    });
  }

  private record(kind: ResourceKind, topic: string, key: string, id: string, resource: Record<string, unknown>, ctx: AcceptContext, json?: Buffer): OutgoingRecord {
    const envelope = { schema: RECORD_SCHEMA, resourceType: kind, id, receivedAt: ctx.receivedAt, requestId: ctx.requestId, sender: ctx.sender } as const;
    return {
      topic,
      key,
      // The record carries the resource exactly as received; `id` says which id the server gave it.
      value: json ? encodeRecordWithJson(envelope, json) : encodeRecord({ ...envelope, resource }),
      headers: recordHeaders({ resourceType: kind, id }),
    };
  }

  /**
   * Runs `work` after every earlier call for `lock` has settled. A caller still waiting at its
   * deadline gets the publish timeout's 503 (Kafka is what the queue waits on) and its turn is
   * skipped, but kept in the queue, so that no later caller overtakes an earlier one still running.
   */
  private serialized<T>(lock: string, deadline: number, work: () => Promise<T>): Promise<T> {
    const previous = this.inFlight.get(lock) ?? Promise.resolve();
    let abandoned = false;
    let started = false;
    const turn = previous.catch(() => undefined).then(() => {
      if (abandoned) return undefined;
      started = true;
      return work();
    });
    this.inFlight.set(lock, turn);
    const forget = () => {
      if (this.inFlight.get(lock) === turn) this.inFlight.delete(lock);
    };
    turn.then(forget, forget);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (started) return;
        abandoned = true;
        reject(this.deps.publisher.timeoutError());
      }, Math.max(0, deadline - performance.now()));
      turn.then(
        (v) => {
          clearTimeout(timer);
          if (!abandoned) resolve(v as T);
        },
        (err: unknown) => {
          clearTimeout(timer);
          if (!abandoned) reject(err);
        },
      );
    });
  }
}

/** The checks that decide 400 rather than 422: it must be a JSON object of the right type, whose id matches the URL. */
function checkShape(kind: ResourceKind, input: unknown, urlId: string | undefined): Record<string, unknown> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw OperationOutcomeError.single(400, 'structure', `the body must be a FHIR ${kind} JSON object`);
  }
  const body = input as Record<string, unknown>;
  if (body.resourceType !== kind) {
    throw OperationOutcomeError.single(400, 'invalid', `resourceType is ${JSON.stringify(body.resourceType)}, expected "${kind}"`, `${kind}.resourceType`);
  }
  if (urlId !== undefined) {
    if (!ID.test(urlId)) throw OperationOutcomeError.single(400, 'value', `"${urlId}" is not a valid FHIR id`);
    if (body.id === undefined) throw OperationOutcomeError.single(400, 'required', 'an update must carry the id of the URL in the resource', `${kind}.id`);
    if (body.id !== urlId) throw OperationOutcomeError.single(400, 'invariant', `id in the body (${JSON.stringify(body.id)}) differs from the id in the URL (${urlId})`, `${kind}.id`);
  }
  return body;
}

/**
 * The resource as stored: the server's id replaces any id the client sent on create. Routes that
 * answer with the resource build it from their own input (Accepted does not carry it, so that the
 * Acceptor need not hold every report until Kafka acknowledged it).
 */
export function storedResource(input: unknown, id: string): Record<string, unknown> {
  const body = input as Record<string, unknown>;
  return body.id === id ? body : { ...body, id };
}
