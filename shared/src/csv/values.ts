// Cell and parameter parsers for $report-csv: counts, scores, dates and identifiers. Each returns
// a value or a reason string (the caller knows the line and column), never throws.
import type { Identifier, Reference } from 'fhir/r4.js';

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };
const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = (reason: string): Parsed<never> => ({ ok: false, reason });

/** FHIR `integer` is a signed 32-bit value. */
const MAX_INTEGER = 2_147_483_647;

/** A cell as an error message quotes it: a hostile cell can be megabytes. */
const clip = (cell: string) => (cell.length > 40 ? `${cell.slice(0, 37)}...` : cell);

/**
 * A population count: a non-negative integer written as plain digits. `1.0`, `1e3`, `1,000` and
 * `+1` are refused rather than guessed at: FHIR counts are integers, and a sender whose spreadsheet
 * writes decimals should learn it on the first upload, not from a skewed rollup.
 */
export function parseCount(cell: string): Parsed<number> {
  if (/^\d+$/.test(cell)) {
    const n = Number(cell);
    return n <= MAX_INTEGER ? ok(n) : bad(`count ${clip(cell)} is larger than a FHIR integer (${MAX_INTEGER})`);
  }
  if (/^-\d+$/.test(cell)) return bad(`count ${clip(cell)} is negative`);
  // Unambiguous (a digit run is matched one way only): `\d+\.?\d*` backtracked quadratically on a long cell.
  if (/^[+-]?(\d+(?:\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(cell)) return bad(`count ${clip(cell)} is not an integer`);
  return bad(`count ${JSON.stringify(clip(cell))} is not a number`);
}

export interface Score {
  value: number;
  /** Written with a trailing `%`: emitted as UCUM `%`, like the SANER FEMA examples (53.85 %, not 0.5385). */
  percent: boolean;
}

/** A measureScore: a decimal, possibly negative (growth rates), optionally followed by `%`. */
export function parseScore(cell: string): Parsed<Score> {
  const m = /^(-?\d+(?:\.\d+)?)\s*(%?)$/.exec(cell);
  if (!m) return bad(`score ${JSON.stringify(clip(cell))} is not a decimal number`);
  const value = Number(m[1]);
  // Hundreds of digits parse to Infinity, which JSON writes as null.
  if (!Number.isFinite(value)) return bad(`score ${clip(cell)} is too large`);
  return ok({ value, percent: m[2] === '%' });
}

/** As FHIR's dateTime: up to ±13:59, or exactly ±14:00. */
const OFFSET = /^(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00))$/;

export function isOffset(s: string): boolean {
  return OFFSET.test(s);
}

// Fractions to the nanosecond at most, as for FHIR dateTimes (datatypes.ts).
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?$/;
const US = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/;

function daysIn(year: number, month: number): number {
  return month === 2 ? (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31;
}

const pad2 = (s: string) => s.padStart(2, '0');

/**
 * A period boundary as a FHIR dateTime precise to the second with a zone, which the
 * PublicHealthMeasureReport profile requires (spec section 3). Server rule for inputs that are
 * less precise:
 * - a date (`2020-05-29`, or US `5/29/2020` as in the CDC/NHSN templates) means local midnight:
 *   `2020-05-29T00:00:00` + `offset`. This holds for period-end too: SANER daily reports use
 *   period.start = period.end (see the IG examples), so a date names a point, not a whole day;
 * - a dateTime without seconds gets `:00`, one without a zone gets `offset`;
 * - a complete dateTime is kept exactly as written.
 * Two-digit years, `D/M/Y` and other layouts are refused: `5/6/2020` is read as May 6 only
 * because the US templates are the one source of slashed dates.
 */
export function parseDateTime(cell: string, offset: string): Parsed<string> {
  let y: string, mo: string, d: string, h = '00', mi = '00', s = '00', frac = '', zone = offset;
  const iso = ISO.exec(cell);
  if (iso) {
    [y, mo, d] = [iso[1]!, iso[2]!, iso[3]!];
    if (iso[4] !== undefined) {
      h = iso[4];
      mi = iso[5]!;
      s = iso[6] ?? '00';
      frac = iso[7] ?? '';
      zone = iso[8] ?? offset;
    }
  } else {
    const us = US.exec(cell);
    if (!us) return bad(`date ${JSON.stringify(cell)} is neither YYYY-MM-DD, M/D/YYYY nor a FHIR dateTime`);
    [mo, d, y] = [pad2(us[1]!), pad2(us[2]!), us[3]!];
  }
  const [year, month, day] = [Number(y), Number(mo), Number(d)];
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return bad(`date ${JSON.stringify(cell)} does not exist`);
  if (Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) return bad(`time in ${JSON.stringify(cell)} does not exist`);
  if (!OFFSET.test(zone)) return bad(`time zone in ${JSON.stringify(cell)} is not Z or +hh:mm within ±14:00`);
  return ok(`${y}-${mo}-${d}T${h}:${mi}:${s}${frac}${zone}`);
}

/**
 * An identifier as a CSV cell holds it: `system|value`, `|value` (explicitly no system, as in FHIR
 * token search) or a bare `value`, which gets `defaultSystem` so that the same facility sent as
 * `12345` by a CDC template always has the same business key.
 */
export function parseIdentifier(cell: string, defaultSystem: string): Parsed<Identifier> {
  const bar = cell.indexOf('|');
  if (bar < 0) return ok({ system: defaultSystem, value: cell });
  const system = cell.slice(0, bar).trim();
  const value = cell.slice(bar + 1).trim();
  if (!value) return bad(`identifier ${JSON.stringify(cell)} has no value after '|'`);
  return ok(system ? { system, value } : { value });
}

/** A literal relative reference `Type/id` (FHIR id rules). */
const RELATIVE_REFERENCE = /^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/;

/**
 * The `subject` and `reporter` operation parameters are of type reference: accept `Type/id` (kept
 * as a literal reference; the caller must resolve it to an identifier, which the profile requires)
 * or an identifier in the cell syntax above.
 */
export function parseReferenceParameter(param: string, defaultSystem: string, type: string): Parsed<Reference> {
  const s = param.trim();
  if (RELATIVE_REFERENCE.test(s)) return ok({ reference: s });
  if (!s) return bad('is empty');
  const id = parseIdentifier(s, defaultSystem);
  return id.ok ? ok({ type, identifier: id.value }) : id;
}
