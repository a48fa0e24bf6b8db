// Hand-written checks of the FHIR R4 JSON primitives and datatypes that sitrep's resources use,
// for the validators in validate.ts. They share one path stack, so an issue's FHIRPath expression
// is only built when there is an issue: a valid resource costs no allocation but its (empty)
// issues array.
// Rules: https://hl7.org/fhir/R4/json.html and https://hl7.org/fhir/R4/datatypes.html
import { issue, type Issue } from './outcome.js';

export type Obj = Record<string, unknown>;
/** A path segment: an element name, or an index into the repeating element before it. */
export type Seg = string | number;
type Code = Issue['code'];

// ---------------------------------------------------------------------------------------------
// Walk state. NOTE: module-level and not re-entrant; fine because validation is synchronous and
// calls nothing that could validate again. begin() resets it, so a throw cannot poison the next call.

const NO_ISSUES: Issue[] = [];
/**
 * Issues listed per resource at most: a hostile body of a few MB can hold hundreds of thousands of
 * problems (358 k unknown keys in 4 MiB took 4 s and a 43 MB answer); the rest are counted.
 */
export const MAX_ISSUES = 100;
let issues: Issue[] = NO_ISSUES;
let unlisted = 0;
/** Whether an unlisted issue is an error: then so is the issue that counts them (a lenient body's 101st warning is not). */
let unlistedError = false;
let lenient = false;
const path: Seg[] = [];
let depth = 0;

/** Starts a walk at the resource root `root` (e.g. "MeasureReport"); returns the array issues go to. */
export function begin(root: string, isLenient: boolean): Issue[] {
  issues = [];
  unlisted = 0;
  unlistedError = false;
  lenient = isLenient;
  path[0] = root;
  depth = 1;
  return issues;
}

/** Ends a walk and drops the module's reference to its issues. */
export function end(): void {
  if (unlisted > 0) issues.push(issue('too-costly', `${unlisted} more problems not listed (at most ${MAX_ISSUES} are)`, path[0] as string, unlistedError ? 'error' : 'warning'));
  issues = NO_ISSUES;
  depth = 0;
}

export function enter(seg: Seg): void {
  path[depth++] = seg;
}

export function leave(): void {
  depth--;
}

/** FHIRPath of the current element, plus `at` below it: `MeasureReport.group[0].population[2].count`. */
function expression(at: Seg | undefined): string {
  let s = path[0] as string;
  for (let i = 1; i < depth; i++) s += segText(path[i]!);
  return at === undefined ? s : s + segText(at);
}

const segText = (seg: Seg) => (typeof seg === 'number' ? `[${seg}]` : `.${seg}`);

export function report(code: Code, diagnostics: string, at?: Seg, severity: Issue['severity'] = 'error'): void {
  if (issues.length < MAX_ISSUES) issues.push(issue(code, diagnostics, expression(at), severity));
  else {
    unlisted++;
    if (severity === 'error' || severity === 'fatal') unlistedError = true;
  }
}

// ---------------------------------------------------------------------------------------------
// Common issues.

/** An element the resource or datatype does not define: an error, or a warning when lenient. */
export function unknownElement(name: string): void {
  // A name is the sender's text, of any length: shown clipped, like values.
  const shown = name.length > 80 ? `${name.slice(0, 77)}...` : name;
  report('structure', `unknown element '${shown}'`, shown, lenient ? 'warning' : 'error');
}

export function required(at: Seg, why = 'is required'): void {
  report('required', `${typeof at === 'number' ? 'element' : at} ${why}`, at);
}

export function wrongType(v: unknown, expected: string, at: Seg): void {
  report('structure', `expected ${expected}, got ${jsonType(v)}`, at);
}

export function badValue(v: unknown, why: string, at: Seg): void {
  report('value', `${show(v)} ${why}`, at);
}

export function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v}`;
}

/** A value for a diagnostic, cut short: the text of an issue must not grow with the input. */
export function show(v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

export const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A repeating element: a non-empty JSON array (https://hl7.org/fhir/R4/json.html#arrays).
 * Reports and returns false when it is not one.
 */
export function isList(v: unknown, at: Seg): v is unknown[] {
  if (!Array.isArray(v)) {
    wrongType(v, 'an array', at);
    return false;
  }
  if (v.length === 0) {
    report('structure', 'arrays must not be empty', at);
    return false;
  }
  return true;
}

/** An object element: reports and returns false when it is not a JSON object. */
export function isElement(v: unknown, at: Seg): v is Obj {
  if (isObject(v)) return true;
  wrongType(v, 'an object', at);
  return false;
}

/** ele-1: every element has a value or children, so `{}` is not an element. */
export function emptyElement(at?: Seg): void {
  report('invariant', 'ele-1: an element must have a value or children, not be empty', at);
}

// ---------------------------------------------------------------------------------------------
// Primitives (https://hl7.org/fhir/R4/datatypes.html#primitive). Each takes the JSON value and
// the name it has in its parent; the caller has seen that the value is present.

// Regexes copied from the R4 spec, anchored, with non-capturing groups.
const YEAR = '(?:[0-9](?:[0-9](?:[0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)';
const MONTH = '(?:0[1-9]|1[0-2])';
const DAY = '(?:0[1-9]|[1-2][0-9]|3[0-1])';
// Fractions to the nanosecond at most (FHIR R5's pattern; R4's is unbounded, and a hostile value can be megabytes).
const TIME = '(?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)(?:\\.[0-9]{1,9})?';
const TZ = '(?:Z|[+-](?:(?:0[0-9]|1[0-3]):[0-5][0-9]|14:00))';
const DATE_TIME_RE = new RegExp(`^${YEAR}(?:-${MONTH}(?:-${DAY}(?:T${TIME}${TZ})?)?)?$`);
/** instant, and also SANER's "precise to the second with a time zone" dateTime. */
const INSTANT_RE = new RegExp(`^${YEAR}-${MONTH}-${DAY}T${TIME}${TZ}$`);
const DATE_RE = new RegExp(`^${YEAR}(?:-${MONTH}(?:-${DAY})?)?$`);
const TIME_RE = new RegExp(`^${TIME}$`);
const CODE_RE = /^[^\s]+(?:\s[^\s]+)*$/;
/** Any whitespace: uri, url and canonical (`\S*` in R4) have none, and a primitive is never empty. */
const WHITESPACE_RE = /\s/;
const ID_RE = /^[A-Za-z0-9\-.]{1,64}$/;
const OID_RE = /^urn:oid:[0-2](?:\.(?:0|[1-9][0-9]*))+$/;
const UUID_RE = /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// NOTE: R4's base64Binary regex forgets '/'; this one also avoids the backtracking of `(\s*x{4}\s*)+`.
const BASE64_RE = /^\s*(?:[0-9a-zA-Z+/=]{4}\s*)+$/;

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

export function string(v: unknown, at: Seg): void {
  if (typeof v !== 'string') wrongType(v, 'a string', at);
  else if (v.length === 0) report('value', 'strings must not be empty', at);
}

function pattern(v: unknown, at: Seg, re: RegExp, type: string): void {
  if (typeof v !== 'string') wrongType(v, 'a string', at);
  else if (!re.test(v)) badValue(v, `is not a valid FHIR ${type}`, at);
}

/** date, dateTime and instant: the pattern, then a day that exists and no leap second. */
function temporal(v: unknown, at: Seg, re: RegExp, type: string): void {
  if (typeof v !== 'string') wrongType(v, 'a string', at);
  else if (!re.test(v)) badValue(v, `is not a valid FHIR ${type}`, at);
  else calendar(v, at);
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * The FHIR patterns let through days that do not exist (2020-02-30), which Date.parse rolls over
 * to another day (and so to another report's identity), and leap seconds (:60), which Date.parse
 * cannot read at all: neither can be placed in time, so both are refused.
 */
function calendar(v: string, at: Seg): void {
  if (v.length >= 10) {
    const year = Number(v.slice(0, 4));
    const month = Number(v.slice(5, 7));
    const day = Number(v.slice(8, 10));
    const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
    if (day > (month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1]!)) badValue(v, 'is not a calendar date', at);
  }
  if (v.length >= 19 && v.slice(17, 19) === '60') badValue(v, 'has a leap second (:60), which sitrep cannot place in time: write the next second instead', at);
}

export const code = (v: unknown, at: Seg) => pattern(v, at, CODE_RE, 'code (no leading, trailing or double whitespace)');
export const uri = (v: unknown, at: Seg) => noWhitespace(v, at, 'uri');
export const canonical = (v: unknown, at: Seg) => noWhitespace(v, at, 'canonical');

export const id = (v: unknown, at: Seg) => pattern(v, at, ID_RE, 'id ([A-Za-z0-9-.]{1,64})');
export const dateTime = (v: unknown, at: Seg) => temporal(v, at, DATE_TIME_RE, 'dateTime');
export const instant = (v: unknown, at: Seg) => temporal(v, at, INSTANT_RE, 'instant');
export const date = (v: unknown, at: Seg) => temporal(v, at, DATE_RE, 'date');
export const time = (v: unknown, at: Seg) => pattern(v, at, TIME_RE, 'time');
export const oid = (v: unknown, at: Seg) => pattern(v, at, OID_RE, 'oid');
export const uuid = (v: unknown, at: Seg) => pattern(v, at, UUID_RE, 'uuid');
export const base64Binary = (v: unknown, at: Seg) => pattern(v, at, BASE64_RE, 'base64Binary');

/** uri and canonical: `!/\s/.test()` is faster than `/^\S+$/` and these are most of a report's strings. */
function noWhitespace(v: unknown, at: Seg, type: string): void {
  if (typeof v !== 'string') wrongType(v, 'a string', at);
  else if (v.length === 0 || WHITESPACE_RE.test(v)) badValue(v, `is not a valid FHIR ${type} (non-empty, no whitespace)`, at);
}

/**
 * SANER's PreciseDateTime: a dateTime with seconds and a time zone. A valid dateTime that is less
 * precise (a date) breaks the profile (`invariant`); anything else is not a dateTime (`value`).
 */
export function preciseDateTime(v: unknown, at: Seg): void {
  if (typeof v !== 'string') wrongType(v, 'a string', at);
  else if (INSTANT_RE.test(v)) calendar(v, at);
  else if (DATE_TIME_RE.test(v)) report('invariant', `${show(v)} must be precise to the second with a time zone (e.g. 2020-04-04T00:00:00-05:00)`, at);
  else badValue(v, 'is not a valid FHIR dateTime', at);
}

/** A code from a required binding; `allowed` is tiny, so a linear scan beats a Set. */
export function codeIn(v: unknown, at: Seg, allowed: readonly string[]): void {
  if (typeof v !== 'string') return wrongType(v, 'a string', at);
  for (let i = 0; i < allowed.length; i++) if (allowed[i] === v) return;
  badValue(v, `is not one of ${allowed.join(' | ')}`, at);
}

export function boolean(v: unknown, at: Seg): void {
  if (typeof v !== 'boolean') wrongType(v, 'a boolean', at);
}

export function decimal(v: unknown, at: Seg): void {
  if (typeof v !== 'number') wrongType(v, 'a number', at);
  else if (!Number.isFinite(v)) badValue(v, 'is not a finite decimal', at);
}

/** integer: a JSON number that is whole and fits in 32 bits (https://hl7.org/fhir/R4/datatypes.html#integer). */
export function integer(v: unknown, at: Seg): void {
  if (typeof v !== 'number') wrongType(v, 'a number', at);
  else if (!Number.isInteger(v)) badValue(v, 'is not an integer', at);
  else if (v < INT32_MIN || v > INT32_MAX) badValue(v, 'is outside the 32-bit integer range', at);
}

export function unsignedInt(v: unknown, at: Seg): void {
  integer(v, at);
  if (typeof v === 'number' && Number.isInteger(v) && v < 0) badValue(v, 'must not be negative (unsignedInt)', at);
}

export function positiveInt(v: unknown, at: Seg): void {
  integer(v, at);
  if (typeof v === 'number' && Number.isInteger(v) && v < 1) badValue(v, 'must be at least 1 (positiveInt)', at);
}

/** xhtml: only the shape is checked (a `<div>`), not the XHTML rules of narrative. */
export function xhtml(v: unknown, at: Seg): void {
  if (typeof v !== 'string') wrongType(v, 'a string', at);
  else if (!v.startsWith('<div')) badValue(v, 'must be an XHTML <div> element', at);
}

/**
 * The `_name` companion of a primitive: an object with only `id` and `extension`
 * (https://hl7.org/fhir/R4/json.html#primitive). `at` is the primitive's own name: in FHIRPath the
 * extensions of `count` are `count.extension`.
 */
export function primitiveElement(v: unknown, at: Seg): void {
  if (!isElement(v, at)) return;
  enter(at);
  let n = 0;
  for (const k in v) {
    n++;
    if (!element(v, k)) unknownElement(k);
  }
  if (n === 0) emptyElement();
  leave();
}

const bareNames = new Map<string, string>();

/**
 * The primitive a known `_name` companion belongs to. Cached, so that a `_count` on every
 * population does not cost a string each; only names a switch accepted get here, so the cache
 * stays small.
 */
export function bare(companion: string): string {
  let name = bareNames.get(companion);
  if (name === undefined) {
    name = companion.slice(1);
    if (bareNames.size < 512) bareNames.set(companion, name);
  }
  return name;
}

/**
 * A repeating primitive and its `_name` companion array: both arrays, the same length, and `null`
 * in one only where the other has an entry.
 */
export function primitiveList(values: unknown, companions: unknown, at: string, check: (v: unknown, at: Seg) => void): void {
  const hasValues = values !== undefined;
  const hasCompanions = companions !== undefined;
  if (hasValues && !isList(values, at)) return;
  if (hasCompanions && !isList(companions, at)) return;
  const vs = values as unknown[] | undefined;
  const cs = companions as unknown[] | undefined;
  if (vs && cs && vs.length !== cs.length) {
    report('structure', `${at} and _${at} must have the same length`, at);
    return;
  }
  const n = (vs ?? cs)!.length;
  enter(at);
  for (let i = 0; i < n; i++) {
    const v = vs?.[i] ?? null;
    const c = cs?.[i] ?? null;
    if (v === null && c === null) report('structure', 'null is only allowed where the other array has an entry', i);
    if (v !== null) check(v, i);
    if (c !== null) primitiveElement(c, i);
  }
  leave();
}

// ---------------------------------------------------------------------------------------------
// Element bases. Each handles the keys every element of its kind has and returns false for any
// other key, so a caller's `switch (key)` can end in `default: if (!element(o, k)) unknownElement(k)`.

/** Element: `id` (any non-empty string: it is not the `id` type) and `extension`. */
export function element(o: Obj, k: string): boolean {
  switch (k) {
    case 'id':
      string(o[k], k);
      return true;
    case 'extension':
      extensions(o[k], k);
      return true;
    default:
      return false;
  }
}

/** BackboneElement: Element plus `modifierExtension`. */
export function backboneElement(o: Obj, k: string): boolean {
  if (k === 'modifierExtension') {
    extensions(o[k], k);
    return true;
  }
  return element(o, k);
}

/**
 * Resource and DomainResource (https://hl7.org/fhir/R4/domainresource.html). `contained` holds
 * resources of any type; only its shape is checked.
 */
export function domainResource(o: Obj, k: string): boolean {
  const v = o[k];
  switch (k) {
    case 'id':
      id(v, k);
      return true;
    case 'meta':
      meta(v, k);
      return true;
    case 'implicitRules':
      uri(v, k);
      return true;
    case 'language':
      code(v, k);
      return true;
    case '_implicitRules':
    case '_language':
      primitiveElement(v, bare(k));
      return true;
    case 'text':
      narrative(v, k);
      return true;
    case 'contained':
      contained(v, k);
      return true;
    case 'extension':
    case 'modifierExtension':
      extensions(v, k);
      return true;
    default:
      return false;
  }
}

function contained(v: unknown, at: string): void {
  if (!isList(v, at)) return;
  enter(at);
  for (let i = 0; i < v.length; i++) {
    const r = v[i];
    if (!isElement(r, i)) continue;
    if (r.resourceType === undefined) required(i, 'must have a resourceType');
    else if (typeof r.resourceType !== 'string' || r.resourceType.length === 0) wrongType(r.resourceType, 'a resource type name', i);
  }
  leave();
}

// ---------------------------------------------------------------------------------------------
// Extension (https://hl7.org/fhir/R4/extensibility.html#Extension).

export const DATA_ABSENT_REASON = 'http://hl7.org/fhir/StructureDefinition/data-absent-reason';

/** Datatypes sitrep does not model: checked to be objects, their content is not inspected. */
const opaque = (v: unknown, at: Seg) => {
  if (isElement(v, at) && isEmpty(v)) emptyElement(at);
};

/**
 * value[x] of an Extension: every R4 choice, with the check for its type. NOTE: dispatching through
 * this map boxes a valueDecimal (16 bytes); decimals in extensions are rare enough to accept that.
 */
const EXTENSION_VALUES = new Map<string, (v: unknown, at: Seg) => void>([
  ['valueBase64Binary', base64Binary], ['valueBoolean', boolean], ['valueCanonical', canonical], ['valueCode', code],
  ['valueDate', date], ['valueDateTime', dateTime], ['valueDecimal', decimal], ['valueId', id], ['valueInstant', instant],
  ['valueInteger', integer], ['valueMarkdown', string], ['valueOid', oid], ['valuePositiveInt', positiveInt],
  ['valueString', string], ['valueTime', time], ['valueUnsignedInt', unsignedInt], ['valueUri', uri], ['valueUrl', uri],
  ['valueUuid', uuid],
  ['valueAddress', address], ['valueAge', quantity], ['valueAnnotation', opaque],
  ['valueAttachment', opaque], ['valueCodeableConcept', codeableConcept],
  ['valueCoding', coding], ['valueContactPoint', contactPoint],
  ['valueCount', quantity], ['valueDistance', quantity], ['valueDuration', quantity],
  ['valueHumanName', opaque], ['valueIdentifier', identifier], ['valueMoney', opaque],
  ['valuePeriod', (v, at) => period(v, at, false)], ['valueQuantity', quantity], ['valueRange', opaque],
  ['valueRatio', opaque], ['valueReference', reference], ['valueSampledData', opaque],
  ['valueSignature', opaque], ['valueTiming', opaque], ['valueContactDetail', opaque], ['valueContributor', opaque],
  ['valueDataRequirement', opaque], ['valueExpression', opaque], ['valueParameterDefinition', opaque],
  ['valueRelatedArtifact', opaque], ['valueTriggerDefinition', opaque], ['valueUsageContext', opaque],
  ['valueDosage', opaque], ['valueMeta', meta],
]);

/** Extensions nest without bound in FHIR; a hostile body must not exhaust the stack (a 422, not a 500). */
const MAX_DEPTH = 64;

export function extensions(v: unknown, at: Seg): void {
  if (!isList(v, at)) return;
  if (depth > MAX_DEPTH) {
    report('too-costly', `elements nested more than ${MAX_DEPTH} levels deep are not accepted`, at);
    return;
  }
  enter(at);
  for (let i = 0; i < v.length; i++) extension(v[i], i);
  leave();
}

function extension(e: unknown, at: Seg): void {
  if (!isElement(e, at)) return;
  enter(at);
  let values = 0;
  for (const k in e) {
    const v = e[k];
    switch (k) {
      case 'url':
        uri(v, k);
        break;
      case 'id':
        string(v, k);
        break;
      case 'extension':
        extensions(v, k);
        break;
      default: {
        const check = EXTENSION_VALUES.get(k);
        if (check !== undefined) {
          values++;
          check(v, k);
        } else if (k.startsWith('_value') && isPrimitiveValue(bare(k))) {
          // `_valueCode` alone is a value with only extensions; with `valueCode` it is counted there.
          if (e[bare(k)] === undefined) values++;
          primitiveElement(v, bare(k));
        } else unknownElement(k);
      }
    }
  }
  if (e.url === undefined) required('url');
  if (values > 1) report('structure', 'an extension has at most one value[x]', undefined);
  // ext-1: https://hl7.org/fhir/R4/extensibility.html#ext-1
  if ((values > 0) === (e.extension !== undefined)) {
    report('invariant', 'ext-1: an extension must have either extensions or a value[x], not both', undefined);
  }
  if (e.url === DATA_ABSENT_REASON && e.valueCode === undefined) {
    required('valueCode', 'is required: the data-absent-reason extension carries a code');
  }
  leave();
}

function isPrimitiveValue(name: string): boolean {
  const check = EXTENSION_VALUES.get(name);
  return check !== undefined && PRIMITIVE_CHECKS.has(check);
}

const PRIMITIVE_CHECKS = new Set<unknown>([
  base64Binary, boolean, canonical, code, date, dateTime, decimal, id, instant, integer, oid, positiveInt, string, time,
  unsignedInt, uri, uuid,
]);

/** Does this element (a `_count` companion, or a population) carry a data-absent-reason extension? */
export function hasDataAbsentReason(el: unknown): boolean {
  if (!isObject(el)) return false;
  const exts = el.extension;
  if (!Array.isArray(exts)) return false;
  for (let i = 0; i < exts.length; i++) {
    const e = exts[i];
    if (isObject(e) && e.url === DATA_ABSENT_REASON) return true;
  }
  return false;
}

function isEmpty(o: Obj): boolean {
  for (const _ in o) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// General-purpose datatypes (https://hl7.org/fhir/R4/datatypes.html#complex).

export function codeableConcept(v: unknown, at: Seg): void {
  if (!isElement(v, at)) return;
  enter(at);
  let n = 0;
  for (const k in v) {
    n++;
    switch (k) {
      case 'coding':
        codings(v[k], k);
        break;
      case 'text':
        string(v[k], k);
        break;
      case '_text':
        primitiveElement(v[k], 'text');
        break;
      default:
        if (!element(v, k)) unknownElement(k);
    }
  }
  if (n === 0) emptyElement();
  leave();
}

export function codeableConcepts(v: unknown, at: Seg): void {
  if (!isList(v, at)) return;
  enter(at);
  for (let i = 0; i < v.length; i++) codeableConcept(v[i], i);
  leave();
}

function codings(v: unknown, at: Seg): void {
  if (!isList(v, at)) return;
  enter(at);
  for (let i = 0; i < v.length; i++) coding(v[i], i);
  leave();
}

export function coding(v: unknown, at: Seg): void {
  if (!isElement(v, at)) return;
  enter(at);
  let n = 0;
  for (const k in v) {
    n++;
    const x = v[k];
    switch (k) {
      case 'system':
        uri(x, k);
        break;
      case 'code':
        code(x, k);
        break;
      case 'display':
      case 'version':
        string(x, k);
        break;
      case 'userSelected':
        boolean(x, k);
        break;
      case '_system':
      case '_code':
      case '_display':
      case '_version':
      case '_userSelected':
        primitiveElement(x, bare(k));
        break;
      default:
        if (!element(v, k)) unknownElement(k);
    }
  }
  if (n === 0) emptyElement();
  leave();
}

const QUANTITY_COMPARATORS = ['<', '<=', '>=', '>'] as const;

export function quantity(v: unknown, at: Seg): void {
  if (!isElement(v, at)) return;
  enter(at);
  let n = 0;
  for (const k in v) {
    n++;
    switch (k) {
      case 'value':
        // Named, not keyed, load: see the NOTE in validate.ts population().
        decimal(v.value, k);
        break;
      case 'comparator':
        codeIn(v[k], k, QUANTITY_COMPARATORS);
        break;
      case 'unit':
        string(v[k], k);
        break;
      case 'system':
        uri(v[k], k);
        break;
      case 'code':
        code(v[k], k);
        break;
      case '_value':
      case '_comparator':
      case '_unit':
      case '_system':
      case '_code':
        primitiveElement(v[k], bare(k));
        break;
      default:
        if (!element(v, k)) unknownElement(k);
    }
  }
  if (n === 0) emptyElement();
  // qty-3: https://hl7.org/fhir/R4/datatypes.html#Quantity
  else if (v.code !== undefined && v.system === undefined) {
    report('invariant', 'qty-3: if a code for the unit is present, the system must also be present', 'system');
  }
  leave();
}

/**
 * Period. With `precise`, start and end are both required and must be SANER PreciseDateTimes
 * (MeasureReport.period in PublicHealthMeasureReport).
 */
export function period(v: unknown, at: Seg, precise: boolean): void {
  if (!isElement(v, at)) return;
  enter(at);
  const check = precise ? preciseDateTime : dateTime;
  let n = 0;
  for (const k in v) {
    n++;
    switch (k) {
      case 'start':
      case 'end':
        check(v[k], k);
        break;
      case '_start':
      case '_end':
        primitiveElement(v[k], bare(k));
        break;
      default:
        if (!element(v, k)) unknownElement(k);
    }
  }
  const { start, end } = v;
  if (precise) {
    if (start === undefined) required('start');
    if (end === undefined) required('end');
  } else if (n === 0) emptyElement();
  if (typeof start === 'string' && typeof end === 'string' && startsAfterEnd(start, end)) {
    report('invariant', `per-1: start ${show(start)} is after end ${show(end)}`, undefined);
  }
  leave();
}

/**
 * per-1, for values that passed the dateTime regex (Date.parse reads them all). Values with a
 * time compare as instants, so offsets count; two values without one compare as text, which orders
 * partial dates correctly; mixed precisions overlap and are never "after".
 */
function startsAfterEnd(start: string, end: string): boolean {
  const startHasTime = start.length > 10;
  if (startHasTime !== end.length > 10) return false;
  // Same length and same offset (the common case): the text orders like the instant, no parsing.
  if (!startHasTime || (start.length === end.length && sameSuffix(start, end, 6))) return start > end;
  const s = Date.parse(start);
  const e = Date.parse(end);
  return s > e; // NaN (an unparsable value, reported elsewhere) compares false
}

function sameSuffix(a: string, b: string, n: number): boolean {
  for (let i = 1; i <= n; i++) if (a.charCodeAt(a.length - i) !== b.charCodeAt(b.length - i)) return false;
  return true;
}

export function reference(v: unknown, at: Seg): void {
  if (!isElement(v, at)) return;
  enter(at);
  let n = 0;
  for (const k in v) {
    n++;
    const x = v[k];
    switch (k) {
      case 'reference':
      case 'display':
        string(x, k);
        break;
      case 'type':
        uri(x, k);
        break;
      case 'identifier':
        identifier(x, k);
        break;
      case '_reference':
      case '_display':
      case '_type':
        primitiveElement(x, bare(k));
        break;
      default:
        if (!element(v, k)) unknownElement(k);
    }
  }
  if (n === 0) emptyElement();
  leave();
}

export function references(v: unknown, at: Seg): void {
  if (!isList(v, at)) return;
  enter(at);
  for (let i = 0; i < v.length; i++) reference(v[i], i);
  leave();
}

const IDENTIFIER_USES = ['usual', 'official', 'temp', 'secondary', 'old'] as const;

export function identifier(v: unknown, at: Seg): void {
  if (!isElement(v, at)) return;
  enter(at);
  let n = 0;
  for (const k in v) {
    n++;
    const x = v[k];
    switch (k) {
      case 'use':
        codeIn(x, k, IDENTIFIER_USES);
        break;
      case 'type':
        codeableConcept(x, k);
        break;
      case 'system':
        uri(x, k);
        break;
      case 'value':
        string(x, k);
        break;
      case 'period':
        period(x, k, false);
        break;
      case 'assigner':
        reference(x, k);
        break;
      case '_use':
      case '_system':
      case '_value':
        primitiveElement(x, bare(k));
        break;
      default:
        if (!element(v, k)) unknownElement(k);
    }
  }
  if (n === 0) emptyElement();
  leave();
}

export function identifiers(v: unknown, at: Seg): void {
  if (!isList(v, at)) return;
  enter(at);
  for (let i = 0; i < v.length; i++) identifier(v[i], i);
  leave();
}

export function meta(v: unknown, at: Seg): void {
  if (!isElement(v, at)) return;
  enter(at);
  let n = 0;
  for (const k in v) {
    n++;
    const x = v[k];
    switch (k) {
      case 'versionId':
        id(x, k);
        break;
      case 'lastUpdated':
        instant(x, k);
        break;
      case 'source':
        uri(x, k);
        break;
      case 'profile':
        primitiveList(x, v._profile, k, canonical);
        break;
      case '_profile':
        if (v.profile === undefined) primitiveList(undefined, x, 'profile', canonical);
        break;
      case 'security':
      case 'tag':
        codings(x, k);
        break;
      case '_versionId':
      case '_lastUpdated':
      case '_source':
        primitiveElement(x, bare(k));
        break;
      default:
        if (!element(v, k)) unknownElement(k);
    }
  }
  if (n === 0) emptyElement();
  leave();
}

const NARRATIVE_STATUSES = ['generated', 'extensions', 'additional', 'empty'] as const;

export function narrative(v: unknown, at: Seg): void {
  if (!isElement(v, at)) return;
  enter(at);
  for (const k in v) {
    const x = v[k];
    switch (k) {
      case 'status':
        codeIn(x, k, NARRATIVE_STATUSES);
        break;
      case '_status':
        primitiveElement(x, 'status');
        break;
      case 'div':
        xhtml(x, k);
        break;
      default:
        if (!element(v, k)) unknownElement(k);
    }
  }
  if (v.status === undefined) required('status');
  if (v.div === undefined) required('div');
  leave();
}

const ADDRESS_USES = ['home', 'work', 'temp', 'old', 'billing'] as const;
const ADDRESS_TYPES = ['postal', 'physical', 'both'] as const;

export function address(v: unknown, at: Seg): void {
  if (!isElement(v, at)) return;
  enter(at);
  let n = 0;
  for (const k in v) {
    n++;
    const x = v[k];
    switch (k) {
      case 'use':
        codeIn(x, k, ADDRESS_USES);
        break;
      case 'type':
        codeIn(x, k, ADDRESS_TYPES);
        break;
      case 'text':
      case 'city':
      case 'district':
      case 'state':
      case 'postalCode':
      case 'country':
        string(x, k);
        break;
      case 'line':
        primitiveList(x, v._line, k, string);
        break;
      case '_line':
        if (v.line === undefined) primitiveList(undefined, x, 'line', string);
        break;
      case 'period':
        period(x, k, false);
        break;
      case '_use':
      case '_type':
      case '_text':
      case '_city':
      case '_district':
      case '_state':
      case '_postalCode':
      case '_country':
        primitiveElement(x, bare(k));
        break;
      default:
        if (!element(v, k)) unknownElement(k);
    }
  }
  if (n === 0) emptyElement();
  leave();
}

const CONTACT_POINT_SYSTEMS = ['phone', 'fax', 'email', 'pager', 'url', 'sms', 'other'] as const;
const CONTACT_POINT_USES = ['home', 'work', 'temp', 'old', 'mobile'] as const;

export function contactPoint(v: unknown, at: Seg): void {
  if (!isElement(v, at)) return;
  enter(at);
  let n = 0;
  for (const k in v) {
    n++;
    const x = v[k];
    switch (k) {
      case 'system':
        codeIn(x, k, CONTACT_POINT_SYSTEMS);
        break;
      case 'value':
        string(x, k);
        break;
      case 'use':
        codeIn(x, k, CONTACT_POINT_USES);
        break;
      case 'rank':
        positiveInt(x, k);
        break;
      case 'period':
        period(x, k, false);
        break;
      case '_system':
      case '_value':
      case '_use':
      case '_rank':
        primitiveElement(x, bare(k));
        break;
      default:
        if (!element(v, k)) unknownElement(k);
    }
  }
  if (n === 0) emptyElement();
  // cpt-2: https://hl7.org/fhir/R4/datatypes.html#ContactPoint
  else if (v.value !== undefined && v.system === undefined) {
    report('invariant', 'cpt-2: a system is required if a value is provided', 'system');
  }
  leave();
}

/** A repeating element of any of the checks above: `list(v, 'address', address)`. */
export function list(v: unknown, at: Seg, check: (item: unknown, at: Seg) => void): void {
  if (!isList(v, at)) return;
  enter(at);
  for (let i = 0; i < v.length; i++) check(v[i], i);
  leave();
}

/** An element of a datatype sitrep does not model (ContactDetail, UsageContext, ...): a non-empty object. */
export const opaqueElement = opaque;

/** A repeating element of a datatype sitrep does not model. */
export function opaqueList(v: unknown, at: Seg): void {
  list(v, at, opaque);
}
