// One report, one identity: the business key of a MeasureReport, and the server id derived from it,
// so a retried or repeated create lands on the same resource.
import { createHash } from 'node:crypto';
import { canonicalUrl } from './measure.js';

export interface BusinessKey {
  measure: string;
  /** `<system>|<value>` of subject.identifier. */
  subject: string;
  /** `<system>|<value>` of reporter.identifier, else reporter.reference, else ''. */
  reporter: string;
  /** period.start and period.end as UTC instants (ISO, to the precision written; see utcInstant). */
  periodStart: string;
  periodEnd: string;
}

type Ref = { reference?: string; identifier?: { system?: string; value?: string }; display?: string } | undefined;

export function identifierKey(ref: Ref): string {
  const id = ref?.identifier;
  if (id?.value !== undefined) return `${id.system ?? ''}|${id.value}`;
  return ref?.reference ?? '';
}

/**
 * UTC instant of a FHIR dateTime that has seconds and an offset; the input itself when it does not
 * parse. Digits below the millisecond, which Date drops, are kept (`.0001` is not `.000`), so that
 * two instants are one key only when they are one instant.
 */
export function utcInstant(dateTime: string): string {
  const ms = Date.parse(dateTime);
  if (Number.isNaN(ms)) return dateTime;
  const iso = new Date(ms).toISOString();
  const finer = digitsBelowMillisecond(dateTime);
  return finer ? `${iso.slice(0, -1)}${finer}Z` : iso.replace('.000Z', 'Z');
}

const isDigit = (s: string, i: number) => s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57;

/** The fraction's digits after the third, trailing zeros dropped. A scan, not a regex: one over a hostile fraction of 40 k digits backtracked for seconds. */
function digitsBelowMillisecond(dateTime: string): string {
  // YYYY-MM-DDThh:mm:ss.f...
  if (dateTime[19] !== '.') return '';
  let end = 20;
  while (isDigit(dateTime, end)) end++;
  let last = end;
  while (last > 23 && dateTime[last - 1] === '0') last--;
  return last > 23 ? dateTime.slice(23, last) : '';
}

/** Assumes a validated report (measure, subject.identifier and period present). */
export function businessKey(report: {
  measure?: string;
  subject?: Ref;
  reporter?: Ref;
  period?: { start?: string; end?: string };
}): BusinessKey {
  return {
    measure: canonicalUrl(report.measure ?? ''),
    subject: identifierKey(report.subject),
    reporter: identifierKey(report.reporter),
    periodStart: utcInstant(report.period?.start ?? ''),
    periodEnd: utcInstant(report.period?.end ?? ''),
  };
}

/** The Kafka record key: every version of one report lands on the same partition, in order. */
export function businessKeyString(k: BusinessKey): string {
  return [k.measure, k.subject, k.reporter, k.periodStart, k.periodEnd].join('\u001f');
}

/** Server-assigned id of a report: a hash of its business key (FHIR id: [A-Za-z0-9\-\.]{1,64}). */
export function reportIdFor(k: BusinessKey): string {
  return reportIdForKeyString(businessKeyString(k));
}

/** The same, from a Kafka record key (see businessKeyString). */
export function reportIdForKeyString(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 40);
}
