// Pure: one Kafka record -> the row it becomes in ClickHouse, or `invalid` with a reason.
// No I/O here, so every rule is unit-testable; bad input is a value, never a throw.
import type { Address, Location, Measure, MeasureReport, Organization } from 'fhir/r4.js';
import type { ResourceRecord } from '@sitrep/shared/contracts/records';
import { businessKey, businessKeyString, identifierKey } from '@sitrep/shared/fhir/identity';
import { measureDefinition, primaryCode, timeAggregation } from '@sitrep/shared/fhir/measure';
import { regionChainForAddress, regionChainForIdentifier } from '@sitrep/shared/regions/resolve';

export type Table = 'reports' | 'measures' | 'locations' | 'organizations';
export type Row = Record<string, unknown>;
export type Transformed = { kind: 'ok'; table: Table; row: Row } | { kind: 'invalid'; step: string; reason: string };

export interface SourceMessage {
  value: Buffer | null;
  partition: number;
  offset: string;
}

export const COLUMNS: Record<Table, string[]> = {
  reports: [
    'business_key', 'version', 'kafka_partition', 'id', 'measure', 'subject', 'reporter', 'period_start', 'period_end',
    'period_start_utc', 'period_end_utc', 'local_date', 'status', 'received_at', 'request_id', 'sender', 'resource',
    'subject_is_region', 'region_types', 'regions', 'grains', 'grain_starts', 'grain_ends',
    'pop_group_keys', 'pop_keys', 'pop_values', 'pop_present',
  ],
  measures: ['url', 'version', 'id', 'received_at', 'resource', 'group_keys', 'group_codes', 'pop_keys', 'pop_codes', 'pop_roles', 'time_aggs'],
  locations: ['location_id', 'version', 'received_at', 'identifiers', 'managing_org', 'region_types', 'regions', 'resource'],
  organizations: ['org_id', 'version', 'received_at', 'identifiers', 'resource'],
};

const invalid = (step: string, reason: string): Transformed => ({ kind: 'invalid', step, reason });

/** ClickHouse DateTime text for an instant; undefined outside DateTime's range (1970..2105). */
export function chDateTime(iso: string): string | undefined {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms) || ms < 0 || ms >= Date.UTC(2106, 0, 1)) return undefined;
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

export const DAY_MS = 86_400_000;
/** A UTC instant's calendar date, `YYYY-MM-DD`. */
export const dateText = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** Day, ISO week (Monday) and month buckets of a local calendar date `YYYY-MM-DD`: [start, end). */
export function grainBuckets(localDate: string): { grains: string[]; starts: string[]; ends: string[] } {
  const [y, m, d] = localDate.split('-').map(Number) as [number, number, number];
  const day = Date.UTC(y, m - 1, d);
  const monday = day - ((new Date(day).getUTCDay() + 6) % 7) * DAY_MS;
  const month = Date.UTC(y, m - 1, 1);
  const nextMonth = Date.UTC(y, m, 1);
  const midnight = (ms: number) => `${dateText(ms)} 00:00:00`;
  return {
    grains: ['day', 'week', 'month'],
    starts: [midnight(day), midnight(monday), midnight(month)],
    ends: [midnight(day + DAY_MS), midnight(monday + 7 * DAY_MS), midnight(nextMonth)],
  };
}

function parseRecord(message: SourceMessage): ResourceRecord | string {
  if (!message.value) return 'empty record value';
  try {
    const r = JSON.parse(message.value.toString('utf8')) as ResourceRecord;
    if (typeof r !== 'object' || r === null || typeof r.resource !== 'object' || r.resource === null) return 'record has no resource';
    return r;
  } catch (err) {
    return `record is not JSON: ${(err as Error).message}`;
  }
}

export function transform(message: SourceMessage): Transformed {
  const record = parseRecord(message);
  if (typeof record === 'string') return invalid('decode', record);
  const version = message.offset;
  const receivedAt = chDateTime(record.receivedAt) ?? chDateTime(new Date().toISOString())!;
  const resource = record.resource as { resourceType?: string };
  switch (resource.resourceType) {
    case 'MeasureReport':
      return reportRow(record, resource as MeasureReport, version, message.partition, receivedAt);
    case 'Measure':
      return measureRow(record, resource as Measure, version, receivedAt);
    case 'Location':
      return locationRow(record, resource as Location, version, receivedAt);
    case 'Organization':
      return organizationRow(record, resource as Organization, version, receivedAt);
    default:
      return invalid('decode', `unsupported resourceType ${String(resource.resourceType)}`);
  }
}

const LOCAL_DATE = /^(\d{4}-\d{2}-\d{2})T/;

function reportRow(record: ResourceRecord, r: MeasureReport, version: string, partition: number, receivedAt: string): Transformed {
  const start = r.period?.start;
  const end = r.period?.end;
  const localDate = start ? LOCAL_DATE.exec(start)?.[1] : undefined;
  const startUtc = start ? chDateTime(start) : undefined;
  const endUtc = end ? chDateTime(end) : undefined;
  if (!localDate || !startUtc || !endUtc) return invalid('transform', 'period.start/period.end missing or not a dateTime in 1970..2105');
  const subjectId = r.subject?.identifier;
  if (!subjectId?.value) return invalid('transform', 'subject.identifier missing');
  const key = businessKey(r);
  const chain = regionChainForIdentifier(subjectId.system, subjectId.value);
  const buckets = grainBuckets(localDate);
  const groupKeys: string[] = [];
  const popKeys: string[] = [];
  const values: number[] = [];
  const present: number[] = [];
  for (const g of r.group ?? []) {
    const gk = primaryCode(g.code)?.toLowerCase();
    if (!gk) continue;
    for (const p of g.population ?? []) {
      const pk = primaryCode(p.code)?.toLowerCase();
      if (!pk) continue;
      groupKeys.push(gk);
      popKeys.push(pk);
      const has = typeof p.count === 'number' && Number.isFinite(p.count);
      values.push(has ? p.count! : 0);
      present.push(has ? 1 : 0);
    }
  }
  return {
    kind: 'ok',
    table: 'reports',
    row: {
      business_key: businessKeyString(key),
      version,
      kafka_partition: partition,
      id: record.id,
      measure: key.measure,
      subject: key.subject,
      reporter: key.reporter,
      period_start: start,
      period_end: end,
      period_start_utc: startUtc,
      period_end_utc: endUtc,
      local_date: localDate,
      status: r.status ?? '',
      received_at: receivedAt,
      request_id: record.requestId ?? '',
      sender: record.sender ? `${record.sender.type}:${record.sender.id}` : '',
      resource: JSON.stringify({ ...r, id: record.id }),
      subject_is_region: chain ? 1 : 0,
      region_types: chain ? chain.map((c) => c.type) : [],
      regions: chain ? chain.map((c) => c.code) : [],
      grains: buckets.grains,
      grain_starts: buckets.starts,
      grain_ends: buckets.ends,
      pop_group_keys: groupKeys,
      pop_keys: popKeys,
      pop_values: values,
      pop_present: present,
    },
  };
}

function measureRow(record: ResourceRecord, m: Measure, version: string, receivedAt: string): Transformed {
  if (!m.url) return invalid('transform', 'Measure.url missing');
  const def = measureDefinition(m);
  const cols = { group_keys: [] as string[], group_codes: [] as string[], pop_keys: [] as string[], pop_codes: [] as string[], pop_roles: [] as string[], time_aggs: [] as string[] };
  for (const [gk, g] of def.groups) {
    for (const [pk, p] of g.populations) {
      cols.group_keys.push(gk);
      cols.group_codes.push(g.code);
      cols.pop_keys.push(pk);
      cols.pop_codes.push(p.code);
      cols.pop_roles.push(p.role ?? '');
      cols.time_aggs.push(timeAggregation(g, p));
    }
  }
  return { kind: 'ok', table: 'measures', row: { url: def.url, version, id: record.id, received_at: receivedAt, resource: JSON.stringify({ ...m, id: record.id }), ...cols } };
}

const identifierKeys = (ids: { system?: string; value?: string }[] | undefined) =>
  (ids ?? []).filter((i) => i.value !== undefined).map((i) => identifierKey({ identifier: i }));

function locationRow(record: ResourceRecord, l: Location, version: string, receivedAt: string): Transformed {
  // The facility element of the chain is the report's own subject key, added by the rollups view.
  const chain = regionChainForAddress('', l.address as Address | undefined).filter((c) => c.type !== 'facility');
  const org = l.managingOrganization?.reference?.match(/^Organization\/([A-Za-z0-9\-.]{1,64})$/)?.[1] ?? '';
  return {
    kind: 'ok',
    table: 'locations',
    row: {
      location_id: record.id,
      version,
      received_at: receivedAt,
      identifiers: identifierKeys(l.identifier),
      managing_org: org,
      region_types: chain.map((c) => c.type),
      regions: chain.map((c) => c.code),
      resource: JSON.stringify({ ...l, id: record.id }),
    },
  };
}

function organizationRow(record: ResourceRecord, o: Organization, version: string, receivedAt: string): Transformed {
  return {
    kind: 'ok',
    table: 'organizations',
    row: { org_id: record.id, version, received_at: receivedAt, identifiers: identifierKeys(o.identifier), resource: JSON.stringify({ ...o, id: record.id }) },
  };
}
