// Kafka records exactly as ingest publishes them (key, envelope, headers), for the tests and
// benchmarks that fill the topics directly instead of posting through ingest.
import type { Location, Measure, MeasureReport } from 'fhir/r4.js';
import { encodeRecord, recordHeaders, RECORD_SCHEMA } from '@sitrep/shared/contracts/records';
import { businessKey, businessKeyString, reportIdFor } from '@sitrep/shared/fhir/identity';

export interface PublishedRecord {
  key: string;
  value: Buffer;
  headers: Record<string, string>;
}

/** A MeasureReport keyed by its business key with the id ingest derives from it; a Measure or Location keyed `Type/id`. */
export function publishedRecord(resource: MeasureReport | Measure | Location, receivedAt: string): PublishedRecord {
  const report = resource.resourceType === 'MeasureReport' ? businessKey(resource) : undefined;
  const id = report ? reportIdFor(report) : resource.id!;
  const { resourceType } = resource;
  return {
    key: report ? businessKeyString(report) : `${resourceType}/${id}`,
    value: encodeRecord({
      schema: RECORD_SCHEMA,
      resourceType,
      id,
      receivedAt,
      requestId: 'simulator',
      sender: { type: 'anonymous', id: 'anonymous' },
      resource: resource as unknown as Record<string, unknown>,
    }),
    headers: recordHeaders({ resourceType, id }),
  };
}
