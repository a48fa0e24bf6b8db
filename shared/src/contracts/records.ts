// The records ingest publishes and the aggregator consumes: one JSON envelope per accepted
// resource, keyed by the resource's identity, plus headers that let consumers route without parsing.

export const RECORD_SCHEMA = 1;

export type ResourceKind = 'MeasureReport' | 'Measure' | 'Location' | 'Organization';

/** Who sent the resource. Authentication does not exist yet: every sender is `anonymous` until it does. */
export interface Sender {
  type: 'anonymous' | 'client';
  id: string;
}

export interface ResourceRecord {
  schema: typeof RECORD_SCHEMA;
  resourceType: ResourceKind;
  /** The FHIR logical id the server answered with (server-assigned or from the PUT URL). */
  id: string;
  /** ISO instant when ingest received the request. */
  receivedAt: string;
  requestId: string;
  sender: Sender;
  /** The resource exactly as received (after JSON parsing). */
  resource: Record<string, unknown>;
}

export const HEADERS = {
  resourceType: 'sitrep-resource-type',
  id: 'sitrep-id',
} as const;

/** Headers on every dead-lettered record, saying why and where it failed. */
export const DLQ_HEADERS = {
  reason: 'dlq_reason',
  step: 'dlq_step',
  timestamp: 'dlq_timestamp',
  topic: 'dlq_source_topic',
  partition: 'dlq_source_partition',
  offset: 'dlq_source_offset',
} as const;

export function encodeRecord(r: ResourceRecord): Buffer {
  return Buffer.from(JSON.stringify(r));
}

/**
 * The same envelope, with the resource as the JSON text it was received as (`json`: UTF-8 of one
 * JSON object, which parsed into the resource that was validated). Consumers parse it into the
 * same value, and ingest skips serialising every report a second time.
 */
export function encodeRecordWithJson(r: Omit<ResourceRecord, 'resource'>, json: Buffer): Buffer {
  const head = JSON.stringify({ schema: r.schema, resourceType: r.resourceType, id: r.id, receivedAt: r.receivedAt, requestId: r.requestId, sender: r.sender });
  const prefix = `${head.slice(0, -1)},"resource":`;
  const out = Buffer.allocUnsafe(Buffer.byteLength(prefix) + json.length + 1);
  const at = out.write(prefix, 0, 'utf8');
  json.copy(out, at);
  out[at + json.length] = 0x7d; // }
  return out;
}

/**
 * The headers every record carries: just enough to route it without parsing the value (everything
 * else is in the envelope). NOTE: kafkajs allocates and zero-fills buffers per header, so each
 * header costs measurable CPU per record on the ingest hot path.
 */
export function recordHeaders(r: Pick<ResourceRecord, 'resourceType' | 'id'>): Record<string, string> {
  return { [HEADERS.resourceType]: r.resourceType, [HEADERS.id]: r.id };
}
