// Validation of incoming SANER resources: a MeasureReport against FHIR R4 and the
// PublicHealthMeasureReport profile (and, when given, its Measure), plus lighter checks of Measure,
// Location and Organization. Every problem is returned as an Issue with its FHIRPath expression.
//
// NOTE: this is on the ingest hot path, so it is hand-written rather than driven by
// StructureDefinitions: one `for..in` per object whose `switch` both dispatches the known elements
// and catches unknown ones, then direct checks of required elements and profile rules. Paths live
// on a stack in datatypes.ts and become strings only when an issue is reported.
// Profile: https://hl7.org/fhir/uv/saner/StructureDefinition-PublicHealthMeasureReport.html (our
// digest and readings of it: the project spec saner.md, sections 3 and 9).
import type { CodeableConcept } from 'fhir/r4.js';
import { primaryCode, type GroupDefinition, type MeasureDefinition, type PopulationDefinition } from './measure.js';
import { issue, type Issue } from './outcome.js';
import {
  address,
  backboneElement,
  bare,
  begin,
  boolean,
  canonical,
  codeableConcept,
  codeableConcepts,
  codeIn,
  coding,
  contactPoint,
  date,
  dateTime,
  decimal,
  domainResource,
  emptyElement,
  end,
  enter,
  hasDataAbsentReason,
  identifiers,
  integer,
  isElement,
  isList,
  isObject,
  jsonType,
  leave,
  list,
  type Obj,
  opaqueElement,
  opaqueList,
  period,
  preciseDateTime,
  primitiveElement,
  primitiveList,
  quantity,
  reference,
  references,
  report,
  required,
  type Seg,
  show,
  string,
  unknownElement,
  uri,
} from './datatypes.js';

export interface ValidateOptions {
  /** Report unknown elements as warnings instead of errors. */
  lenient?: boolean;
  /** The Measure the report is for: group and population codes must be the Measure's. */
  measure?: MeasureDefinition;
}

/** Every problem found (not only the first), each with FHIRPath expression e.g. "MeasureReport.group[0].population[2].count". */
export function validateMeasureReport(input: unknown, opts?: ValidateOptions): Issue[] {
  const wrong = checkResourceType(input, 'MeasureReport');
  if (wrong !== undefined) return [wrong];
  const issues = begin('MeasureReport', opts?.lenient === true);
  try {
    measureReport(input as Obj, opts?.measure);
  } finally {
    end();
  }
  return issues;
}

export function validateMeasure(input: unknown, opts?: { lenient?: boolean }): Issue[] {
  return validateResource(input, 'Measure', measure, opts);
}

export function validateLocation(input: unknown, opts?: { lenient?: boolean }): Issue[] {
  return validateResource(input, 'Location', location, opts);
}

export function validateOrganization(input: unknown, opts?: { lenient?: boolean }): Issue[] {
  return validateResource(input, 'Organization', organization, opts);
}

function validateResource(input: unknown, type: string, check: (r: Obj) => void, opts?: { lenient?: boolean }): Issue[] {
  const wrong = checkResourceType(input, type);
  if (wrong !== undefined) return [wrong];
  const issues = begin(type, opts?.lenient === true);
  try {
    check(input as Obj);
  } finally {
    end();
  }
  return issues;
}

/**
 * Anything but a `type` resource is one error, not a list of everything that does not fit: an
 * Observation posted to MeasureReport is one mistake (SANER test plan: "a valid Observation must fail").
 */
function checkResourceType(input: unknown, type: string): Issue | undefined {
  if (!isObject(input)) return issue('structure', `expected a ${type} resource (a JSON object), got ${jsonType(input)}`);
  const rt = input.resourceType;
  if (rt === type) return undefined;
  if (rt === undefined) return issue('invalid', `not a FHIR resource: resourceType is missing (expected '${type}')`, 'resourceType');
  return issue('invalid', `expected resourceType '${type}', got ${show(rt)}`, 'resourceType');
}

// ---------------------------------------------------------------------------------------------
// MeasureReport (https://hl7.org/fhir/R4/measurereport.html) + PublicHealthMeasureReport.

const REPORT_STATUSES = ['complete', 'pending', 'error'] as const;
const REPORT_TYPES = ['individual', 'subject-list', 'summary', 'data-collection'] as const;
const PROFILE = '(PublicHealthMeasureReport)';

function measureReport(r: Obj, def: MeasureDefinition | undefined): void {
  for (const k in r) {
    const v = r[k];
    switch (k) {
      case 'resourceType':
        break;
      case 'identifier':
        identifiers(v, k);
        break;
      case 'status':
        codeIn(v, k, REPORT_STATUSES);
        break;
      case 'type':
        reportType(v);
        break;
      case 'measure':
        canonical(v, k);
        if (typeof v === 'string' && v.length > MAX_KEY_TEXT) report('value', `is longer than ${MAX_KEY_TEXT} characters: the Measure is a key of every rollup row`, k);
        break;
      case 'subject':
      case 'reporter':
        reference(v, k);
        break;
      case 'date':
        preciseDateTime(v, k);
        break;
      case 'period':
        period(v, k, true);
        break;
      case 'improvementNotation':
        codeableConcept(v, k);
        break;
      case 'group':
        groups(v, def);
        break;
      case 'evaluatedResource':
        references(v, k);
        break;
      case '_status':
      case '_type':
      case '_measure':
      case '_date':
        primitiveElement(v, bare(k));
        break;
      default:
        if (!domainResource(r, k)) unknownElement(k);
    }
  }

  // Cardinalities: status, type, measure and period are 1..1 in R4; the profile adds the rest.
  if (r.status === undefined) required('status');
  if (r.type === undefined) required('type');
  if (r.measure === undefined) required('measure');
  if (r.subject === undefined) required('subject', `is required ${PROFILE}`);
  else {
    subjectIdentifier(r.subject);
    targetType(r.subject, 'subject', SUBJECT_TARGETS, 'invariant');
  }
  if (r.reporter !== undefined) {
    targetType(r.reporter, 'reporter', REPORTER_TARGETS, 'value');
    if (isObject(r.reporter)) keyedIdentifier(r.reporter.identifier, 'reporter', 'identifier');
  }
  if (r.date === undefined) required('date', `is required ${PROFILE}`);
  if (r.period === undefined) required('period');
  // The IG's invariant tests status 'completed', which never occurs (spec section 9): we apply the intent.
  if (r.status === 'complete' && r.reporter === undefined) {
    report('invariant', `a complete report must have a reporter ${PROFILE}`, 'reporter');
  }
}

/** type is fixed to `summary` by the profile; other R4 codes are profile errors, the rest bad values. */
function reportType(v: unknown): void {
  if (v === 'summary') return;
  codeIn(v, 'type', REPORT_TYPES);
  if (typeof v === 'string' && (REPORT_TYPES as readonly string[]).includes(v)) {
    report('invariant', `type must be 'summary', not ${show(v)} ${PROFILE}`, 'type');
  }
}

/** subject.identifier 1..1 with a value: it is how the report's region is known (spec section 3). */
function subjectIdentifier(subject: unknown): void {
  if (!isObject(subject)) return; // already reported by reference()
  enter('subject');
  const id = subject.identifier;
  if (id === undefined) required('identifier', `is required ${PROFILE}`);
  else if (isObject(id) && id.value === undefined) {
    enter('identifier');
    required('value', `is required: the subject identifier must identify the subject ${PROFILE}`);
    leave();
  }
  leave();
  keyedIdentifier(id, 'subject', 'identifier');
}

/**
 * Subjects, reporters and facilities are keyed `system|value` (identity.ts), so a `|` in a system
 * would let two identifiers share a key (`a|b` + `c`, `a` + `b|c`). A URI has no unescaped `|`
 * (RFC 3986), so such a system is refused rather than escaped, which would move existing keys.
 */
function keyedIdentifier(id: unknown, ...at: Seg[]): void {
  if (!isObject(id)) return;
  const { system, value } = id;
  const barred = typeof system === 'string' && system.includes('|');
  const long = (x: unknown) => typeof x === 'string' && x.length > MAX_KEY_TEXT;
  if (!barred && !long(system) && !long(value)) return;
  for (const seg of at) enter(seg);
  if (barred) report('value', `system ${show(system)} must not contain '|' (RFC 3986: write it %7C): identifiers are keyed as system|value`, 'system');
  if (long(system)) report('value', `is longer than ${MAX_KEY_TEXT} characters: identifiers are keys of every rollup row`, 'system');
  if (long(value)) report('value', `is longer than ${MAX_KEY_TEXT} characters: identifiers are keys of every rollup row`, 'value');
  for (let i = 0; i < at.length; i++) leave();
}

/**
 * Longest identifier system or value, and Measure canonical, that sitrep keys by. They go into
 * every row and into the aggregator's queries (lists of subjects), which ClickHouse caps in size.
 */
const MAX_KEY_TEXT = 1024;

/** The resource types a Reference may point to, and a test for literal references to one of them. */
interface Targets {
  names: readonly string[];
  literal: RegExp;
}

const ID_PART = '[A-Za-z0-9\\-.]{1,64}';
/** `Type/id`, optionally absolute and versioned (https://hl7.org/fhir/R4/references.html#literal). */
const targets = (names: readonly string[]): Targets => ({
  names,
  literal: new RegExp(`(?:^|/)(?:${names.join('|')})/${ID_PART}(?:/_history/${ID_PART})?$`),
});
/** A literal reference to any resource type: only these say what they point to. */
const ANY_TYPED_REFERENCE = new RegExp(`(?:^|/)[A-Z][A-Za-z]+/${ID_PART}(?:/_history/${ID_PART})?$`);
/** The profile: "subject only Reference(us-core-location)". */
const SUBJECT_TARGETS = targets(['Location']);
/** R4: reporter is Reference(Practitioner | PractitionerRole | Location | Organization). */
const REPORTER_TARGETS = targets(['Practitioner', 'PractitionerRole', 'Location', 'Organization']);

/**
 * A Reference's target type, where it says one: `type`, or the type in a literal `Type/id`
 * reference. Other references (`#contained`, `urn:uuid:...`, identifier only) are not checked.
 */
function targetType(ref: unknown, at: string, allowed: Targets, code: 'invariant' | 'value'): void {
  if (!isObject(ref)) return; // already reported by reference()
  const { type, reference: literal } = ref;
  enter(at);
  if (typeof type === 'string' && !allowed.names.includes(type) && !allowed.names.some((n) => type === `http://hl7.org/fhir/StructureDefinition/${n}`)) {
    report(code, `${at} must refer to ${allowed.names.join(' | ')}, not ${show(type)}`, 'type');
  }
  if (typeof literal === 'string' && !allowed.literal.test(literal) && ANY_TYPED_REFERENCE.test(literal)) {
    report(code, `${at} must refer to ${allowed.names.join(' | ')}, not ${show(literal)}`, 'reference');
  }
  leave();
}

function groups(v: unknown, def: MeasureDefinition | undefined): void {
  if (!isList(v, 'group')) return;
  enter('group');
  for (let i = 0; i < v.length; i++) group(v[i], i, def);
  noDuplicateCodes(v, 'group');
  leave();
}

/**
 * Two groups (or two populations of one group) with the same code would be counted twice by the
 * rollups, so a report must name each once (codes compare case-insensitively, as MeasuredValues do).
 */
const FEW_CODES = 64;

function noDuplicateCodes(items: unknown[], what: string): void {
  if (items.length < 2) return;
  // A list searched per item for the usual few codes (a Map per group cost ~15 % of validation);
  // a Map beyond that, since a report can hold tens of thousands and the search is quadratic.
  const few = items.length <= FEW_CODES;
  const list: string[] = [];
  const map = few ? undefined : new Map<string, number>();
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    const c = typeof item === 'object' && item !== null ? codeOf((item as { code?: unknown }).code) : undefined;
    if (c === undefined) continue;
    const lower = c.toLowerCase();
    const found = map ? map.get(lower) : list.indexOf(lower);
    if (found !== undefined && found >= 0) {
      enter(i);
      report('invariant', `${what} code '${c}' appears more than once (also at ${what}[${found}])`, 'code');
      leave();
    } else if (map) map.set(lower, i);
    else list[i] = lower;
  }
}

function group(g: unknown, i: number, def: MeasureDefinition | undefined): void {
  if (!isElement(g, i)) return;
  enter(i);
  // Looked up before the walk so that the populations below can be checked against it.
  let gdef: GroupDefinition | undefined;
  if (def !== undefined) {
    const c = codeOf(g.code);
    if (c !== undefined) {
      gdef = findGroup(def, c);
      if (gdef === undefined) report('code-invalid', `group code '${c}' is not a group of Measure ${def.url}`, 'code');
    }
  }
  for (const k in g) {
    const v = g[k];
    switch (k) {
      case 'code':
        codeableConcept(v, k);
        break;
      case 'population':
        populations(v, k, gdef);
        break;
      case 'measureScore':
        quantity(v, k);
        break;
      case 'stratifier':
        stratifiers(v, gdef);
        break;
      default:
        if (!backboneElement(g, k)) unknownElement(k);
    }
  }
  if (g.code === undefined) required('code', `is required ${PROFILE}`);
  if (g.population === undefined) required('population', `must have at least one entry ${PROFILE}`);
  leave();
}

function populations(v: unknown, at: string, gdef: GroupDefinition | undefined): void {
  if (!isList(v, at)) return;
  enter(at);
  for (let i = 0; i < v.length; i++) population(v[i], i, gdef);
  noDuplicateCodes(v, 'population');
  leave();
}

/** group.population and stratum.population: the same shape and the same rules. */
function population(p: unknown, i: number, gdef: GroupDefinition | undefined): void {
  if (!isElement(p, i)) return;
  enter(i);
  // NOTE: values are read per case, not once before the switch: a keyed load of a field V8 stores
  // as a double (a count once seen as 3.5 or > 2^30 makes all of them so) boxes a new number.
  for (const k in p) {
    switch (k) {
      case 'code':
        codeableConcept(p[k], k);
        break;
      case 'count':
        integer(p.count, k);
        if (typeof p.count === 'number' && p.count < 0) report('value', 'a population count cannot be negative', k);
        break;
      case '_count':
        primitiveElement(p[k], 'count');
        break;
      case 'subjectResults':
        reference(p[k], k);
        break;
      default:
        if (!backboneElement(p, k)) unknownElement(k);
    }
  }
  if (p.code === undefined) required('code', `is required ${PROFILE}`);
  else if (gdef !== undefined) {
    const c = codeOf(p.code);
    if (c !== undefined && findPopulation(gdef, c) === undefined) {
      report('code-invalid', `population code '${c}' is not a population of group '${gdef.code}' in the Measure`, 'code');
    }
  }
  // HasValueOrDataAbsentReason: the IG's invariant looks for the extension on the population, the
  // examples put it on the count (`_count`); both are accepted.
  if (p.count === undefined && !hasDataAbsentReason(p._count) && !hasDataAbsentReason(p)) {
    required('count', `is required unless _count carries a data-absent-reason extension ${PROFILE}`);
  }
  leave();
}

function stratifiers(v: unknown, gdef: GroupDefinition | undefined): void {
  if (!isList(v, 'stratifier')) return;
  enter('stratifier');
  for (let i = 0; i < v.length; i++) {
    const s = v[i];
    if (!isElement(s, i)) continue;
    enter(i);
    for (const k in s) {
      const x = s[k];
      switch (k) {
        case 'code':
          codeableConcepts(x, k);
          break;
        case 'stratum':
          strata(x, gdef);
          break;
        default:
          if (!backboneElement(s, k)) unknownElement(k);
      }
    }
    if (s.code === undefined) required('code', `must have at least one entry ${PROFILE}`);
    if (s.stratum === undefined) required('stratum', `must have at least one entry ${PROFILE}`);
    leave();
  }
  leave();
}

function strata(v: unknown, gdef: GroupDefinition | undefined): void {
  if (!isList(v, 'stratum')) return;
  enter('stratum');
  for (let i = 0; i < v.length; i++) {
    const st = v[i];
    if (!isElement(st, i)) continue;
    enter(i);
    for (const k in st) {
      const x = st[k];
      switch (k) {
        case 'value':
          report('invariant', `stratum.value is not allowed: identify a stratum by its components ${PROFILE}`, k);
          break;
        case 'component':
          list(x, k, stratumComponent);
          break;
        case 'population':
          populations(x, k, gdef);
          break;
        case 'measureScore':
          quantity(x, k);
          break;
        default:
          if (!backboneElement(st, k)) unknownElement(k);
      }
    }
    // Our reading (spec section 9): with value forbidden, a stratum is identified only by its
    // components, so it needs at least one.
    if (st.component === undefined) required('component', `must have at least one entry: it is what identifies the stratum ${PROFILE}`);
    if (st.population === undefined) required('population', `must have at least one entry ${PROFILE}`);
    leave();
  }
  leave();
}

function stratumComponent(c: unknown, at: Seg): void {
  if (!isElement(c, at)) return;
  enter(at);
  for (const k in c) {
    switch (k) {
      case 'code':
      case 'value':
        codeableConcept(c[k], k);
        break;
      default:
        if (!backboneElement(c, k)) unknownElement(k);
    }
  }
  if (c.code === undefined) required('code');
  if (c.value === undefined) required('value');
  leave();
}

// Matching codes against the Measure. MeasureDefinition maps are keyed by lower-cased code (SANER
// codes are case-insensitive); a per-definition cache by exact spelling saves the lower-casing
// (a new string) on every lookup. NOTE: definitions are treated as immutable.
const groupsBySpelling = new WeakMap<MeasureDefinition, Map<string, GroupDefinition>>();
const populationsBySpelling = new WeakMap<GroupDefinition, Map<string, PopulationDefinition>>();
const SPELLINGS_MAX = 1024;

const findGroup = (def: MeasureDefinition, code: string) => findCode(groupsBySpelling, def, def.groups, code);
const findPopulation = (g: GroupDefinition, code: string) => findCode(populationsBySpelling, g, g.populations, code);

function findCode<K extends object, T>(cache: WeakMap<K, Map<string, T>>, owner: K, byLowerCase: Map<string, T>, code: string): T | undefined {
  let bySpelling = cache.get(owner);
  if (bySpelling === undefined) cache.set(owner, (bySpelling = new Map()));
  let found = bySpelling.get(code);
  if (found === undefined) {
    found = byLowerCase.get(code.toLowerCase());
    // Only hits are cached, and not without bound: unknown codes are the error path anyway.
    if (found !== undefined && bySpelling.size < SPELLINGS_MAX) bySpelling.set(code, found);
  }
  return found;
}

/** primaryCode() of a CodeableConcept, once it is known to be safe to read (it may be malformed). */
function codeOf(cc: unknown): string | undefined {
  if (!isObject(cc)) return undefined;
  const coding = cc.coding;
  if (coding !== undefined) {
    if (!Array.isArray(coding)) return undefined;
    for (let i = 0; i < coding.length; i++) if (!isObject(coding[i])) return undefined;
  }
  const c: unknown = primaryCode(cc as CodeableConcept);
  return typeof c === 'string' && c.length > 0 ? c : undefined;
}

// ---------------------------------------------------------------------------------------------
// Measure (https://hl7.org/fhir/R4/measure.html): every R4 element is known and JSON-typed; the
// parts sitrep reads (url, status, group and population codes) are required. Content of
// datatypes sitrep does not use (ContactDetail, UsageContext, Expression, ...) is not inspected.

const MEASURE_STATUSES = ['draft', 'active', 'retired', 'unknown'] as const;

function measure(m: Obj): void {
  for (const k in m) {
    const v = m[k];
    switch (k) {
      case 'resourceType':
        break;
      case 'url':
        uri(v, k);
        // Reports name it in MeasureReport.measure, which is capped so.
        if (typeof v === 'string' && v.length > MAX_KEY_TEXT) report('value', `is longer than ${MAX_KEY_TEXT} characters: the Measure is a key of every rollup row`, k);
        break;
      case 'status':
        codeIn(v, k, MEASURE_STATUSES);
        break;
      case 'identifier':
        identifiers(v, k);
        break;
      case 'version':
      case 'name':
      case 'title':
      case 'subtitle':
      case 'publisher':
      case 'description':
      case 'purpose':
      case 'usage':
      case 'copyright':
      case 'disclaimer':
      case 'riskAdjustment':
      case 'rateAggregation':
      case 'rationale':
      case 'clinicalRecommendationStatement':
      case 'guidance':
        string(v, k);
        break;
      case 'experimental':
        boolean(v, k);
        break;
      case 'subjectCodeableConcept':
      case 'scoring':
      case 'compositeScoring':
      case 'improvementNotation':
        codeableConcept(v, k);
        break;
      case 'subjectReference':
        reference(v, k);
        break;
      case 'date':
        dateTime(v, k);
        break;
      case 'approvalDate':
      case 'lastReviewDate':
        date(v, k);
        break;
      case 'contact':
      case 'author':
      case 'editor':
      case 'reviewer':
      case 'endorser':
      case 'useContext':
      case 'relatedArtifact':
        opaqueList(v, k);
        break;
      case 'jurisdiction':
      case 'topic':
      case 'type':
        codeableConcepts(v, k);
        break;
      case 'effectivePeriod':
        period(v, k, false);
        break;
      case 'library':
        primitiveList(v, m._library, k, canonical);
        break;
      case 'definition':
        primitiveList(v, m._definition, k, string);
        break;
      case '_library':
        if (m.library === undefined) primitiveList(undefined, v, 'library', canonical);
        break;
      case '_definition':
        if (m.definition === undefined) primitiveList(undefined, v, 'definition', string);
        break;
      case 'group':
        list(v, k, measureGroup);
        break;
      case 'supplementalData':
        list(v, k, supplementalData);
        break;
      case '_url':
      case '_version':
      case '_name':
      case '_title':
      case '_subtitle':
      case '_status':
      case '_experimental':
      case '_date':
      case '_publisher':
      case '_description':
      case '_purpose':
      case '_usage':
      case '_copyright':
      case '_approvalDate':
      case '_lastReviewDate':
      case '_disclaimer':
      case '_riskAdjustment':
      case '_rateAggregation':
      case '_rationale':
      case '_clinicalRecommendationStatement':
      case '_guidance':
        primitiveElement(v, bare(k));
        break;
      default:
        if (!domainResource(m, k)) unknownElement(k);
    }
  }
  if (m.url === undefined) required('url', 'is required: reports name their Measure by it');
  if (m.status === undefined) required('status');
  if (m.subjectCodeableConcept !== undefined && m.subjectReference !== undefined) {
    report('structure', 'subject[x] has one value: subjectCodeableConcept or subjectReference', 'subjectReference');
  }
}

function measureGroup(g: unknown, at: Seg): void {
  if (!isElement(g, at)) return;
  enter(at);
  for (const k in g) {
    const v = g[k];
    switch (k) {
      case 'code':
        codeableConcept(v, k);
        break;
      case 'description':
        string(v, k);
        break;
      case '_description':
        primitiveElement(v, 'description');
        break;
      case 'population':
        list(v, k, measurePopulation);
        break;
      case 'stratifier':
        list(v, k, measureStratifier);
        break;
      default:
        if (!backboneElement(g, k)) unknownElement(k);
    }
  }
  if (g.code === undefined) required('code', 'is required: report groups are matched to the Measure by it');
  leave();
}

function measurePopulation(p: unknown, at: Seg): void {
  if (!isElement(p, at)) return;
  enter(at);
  for (const k in p) {
    const v = p[k];
    switch (k) {
      case 'code':
        codeableConcept(v, k);
        break;
      case 'description':
        string(v, k);
        break;
      case '_description':
        primitiveElement(v, 'description');
        break;
      case 'criteria':
        opaqueElement(v, k);
        break;
      default:
        if (!backboneElement(p, k)) unknownElement(k);
    }
  }
  if (p.code === undefined) required('code', 'is required: report populations are matched to the Measure by it');
  leave();
}

function measureStratifier(s: unknown, at: Seg): void {
  if (!isElement(s, at)) return;
  enter(at);
  for (const k in s) {
    const v = s[k];
    switch (k) {
      case 'code':
        codeableConcept(v, k);
        break;
      case 'description':
        string(v, k);
        break;
      case '_description':
        primitiveElement(v, 'description');
        break;
      case 'criteria':
        opaqueElement(v, k);
        break;
      case 'component':
        opaqueList(v, k);
        break;
      default:
        if (!backboneElement(s, k)) unknownElement(k);
    }
  }
  leave();
}

function supplementalData(d: unknown, at: Seg): void {
  if (!isElement(d, at)) return;
  enter(at);
  for (const k in d) {
    const v = d[k];
    switch (k) {
      case 'code':
        codeableConcept(v, k);
        break;
      case 'usage':
        codeableConcepts(v, k);
        break;
      case 'description':
        string(v, k);
        break;
      case '_description':
        primitiveElement(v, 'description');
        break;
      case 'criteria':
        opaqueElement(v, k);
        break;
      default:
        if (!backboneElement(d, k)) unknownElement(k);
    }
  }
  leave();
}

// ---------------------------------------------------------------------------------------------
// Location (https://hl7.org/fhir/R4/location.html): facilities and regions, found by identifier or
// by address (city, district = county, state, postalCode, country).

const LOCATION_STATUSES = ['active', 'suspended', 'inactive'] as const;
const LOCATION_MODES = ['instance', 'kind'] as const;

function location(l: Obj): void {
  for (const k in l) {
    const v = l[k];
    switch (k) {
      case 'resourceType':
        break;
      case 'identifier':
        identifiers(v, k);
        if (Array.isArray(v)) v.forEach((x, i) => keyedIdentifier(x, k, i));
        break;
      case 'status':
        codeIn(v, k, LOCATION_STATUSES);
        break;
      case 'operationalStatus':
        coding(v, k);
        break;
      case 'name':
      case 'description':
      case 'availabilityExceptions':
        string(v, k);
        break;
      case 'alias':
        primitiveList(v, l._alias, k, string);
        break;
      case '_alias':
        if (l.alias === undefined) primitiveList(undefined, v, 'alias', string);
        break;
      case 'mode':
        codeIn(v, k, LOCATION_MODES);
        break;
      case 'type':
        codeableConcepts(v, k);
        break;
      case 'telecom':
        list(v, k, contactPoint);
        break;
      case 'address':
        address(v, k);
        break;
      case 'physicalType':
        codeableConcept(v, k);
        break;
      case 'position':
        position(v, k);
        break;
      case 'managingOrganization':
      case 'partOf':
        reference(v, k);
        break;
      case 'hoursOfOperation':
        opaqueList(v, k);
        break;
      case 'endpoint':
        references(v, k);
        break;
      case '_status':
      case '_name':
      case '_description':
      case '_mode':
      case '_availabilityExceptions':
        primitiveElement(v, bare(k));
        break;
      default:
        if (!domainResource(l, k)) unknownElement(k);
    }
  }
}

/** Location.position: WGS84 decimal degrees, longitude and latitude 1..1. */
function position(p: unknown, at: string): void {
  if (!isElement(p, at)) return;
  enter(at);
  for (const k in p) {
    const v = p[k];
    switch (k) {
      case 'longitude':
        degrees(v, k, 180);
        break;
      case 'latitude':
        degrees(v, k, 90);
        break;
      case 'altitude':
        decimal(v, k);
        break;
      case '_longitude':
      case '_latitude':
      case '_altitude':
        primitiveElement(v, bare(k));
        break;
      default:
        if (!backboneElement(p, k)) unknownElement(k);
    }
  }
  if (p.longitude === undefined) required('longitude');
  if (p.latitude === undefined) required('latitude');
  leave();
}

function degrees(v: unknown, at: string, limit: number): void {
  decimal(v, at);
  if (typeof v === 'number' && (v < -limit || v > limit)) {
    report('value', `${show(v)} is outside -${limit}..${limit} degrees`, at);
  }
}

// ---------------------------------------------------------------------------------------------
// Organization (https://hl7.org/fhir/R4/organization.html): reporters, known by identifier.

function organization(o: Obj): void {
  for (const k in o) {
    const v = o[k];
    switch (k) {
      case 'resourceType':
        break;
      case 'identifier':
        identifiers(v, k);
        if (Array.isArray(v)) v.forEach((x, i) => keyedIdentifier(x, k, i));
        break;
      case 'active':
        boolean(v, k);
        break;
      case 'type':
        codeableConcepts(v, k);
        break;
      case 'name':
        string(v, k);
        break;
      case 'alias':
        primitiveList(v, o._alias, k, string);
        break;
      case '_alias':
        if (o.alias === undefined) primitiveList(undefined, v, 'alias', string);
        break;
      case 'telecom':
        list(v, k, contactPoint);
        break;
      case 'address':
        list(v, k, address);
        break;
      case 'partOf':
        reference(v, k);
        break;
      case 'contact':
        list(v, k, organizationContact);
        break;
      case 'endpoint':
        references(v, k);
        break;
      case '_active':
      case '_name':
        primitiveElement(v, bare(k));
        break;
      default:
        if (!domainResource(o, k)) unknownElement(k);
    }
  }
  // org-1: https://hl7.org/fhir/R4/organization.html#invs
  if (o.identifier === undefined && o.name === undefined) {
    report('invariant', 'org-1: an organization must have at least a name or an identifier', undefined);
  }
}

function organizationContact(c: unknown, at: Seg): void {
  if (!isElement(c, at)) return;
  enter(at);
  let n = 0;
  for (const k in c) {
    n++;
    const v = c[k];
    switch (k) {
      case 'purpose':
        codeableConcept(v, k);
        break;
      case 'name':
        opaqueElement(v, k);
        break;
      case 'telecom':
        list(v, k, contactPoint);
        break;
      case 'address':
        address(v, k);
        break;
      default:
        if (!backboneElement(c, k)) unknownElement(k);
    }
  }
  if (n === 0) emptyElement();
  leave();
}
