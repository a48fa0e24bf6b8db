// Region resolution: the chain of regions a MeasureReport's counts roll up to, from its subject.
// A subject identified by a region code (FIPS state or county, ISO 3166-1/-2, US ZIP) gives that
// region and its parents; any other subject is a facility, placed by its Location's address.
// Every chain ends in `all`. One code per region however the source named it (see saner.md §3).
import type { Address } from 'fhir/r4.js';
import { countryByAlpha2, normalizeCountry } from './countries.js';
import { normalizeState, usStateByFips, usStateByIso, US_OUTLYING_AREAS } from './states.js';
import { parseZip, usStateForZip } from './zip.js';

export { normalizeCountry } from './countries.js';
export { normalizeState } from './states.js';

export type RegionType = 'facility' | 'zip' | 'county' | 'state' | 'country' | 'all' | 'unresolved';

/**
 * Codes: facility `<identifier system>|<value>`; zip five digits (`07001`); county five-digit
 * FIPS (`34021`) or `<state code>/<DISTRICT>` (`US-IL/COOK`); state ISO 3166-2 (`US-NJ`);
 * country ISO 3166-1 alpha-2 (`US`); `all`; `unresolved`.
 */
export interface Region {
  type: RegionType;
  code: string;
}

/** US census geographies (FIPS/ANSI codes), as in the SANER examples. */
export const CENSUS_GEOGRAPHIES_SYSTEM = 'https://www.census.gov/geographies';
export const ISO_3166_1_SYSTEM = 'urn:iso:std:iso:3166';
export const ISO_3166_2_SYSTEM = 'urn:iso:std:iso:3166:-2';
export const US_ZIP_SYSTEM = 'http://terminology.hl7.org/CodeSystem/USZIPCODES';

type SystemKind = 'fips' | 'iso-3166' | 'zip';

const SYSTEMS = new Map<string, SystemKind>([
  [CENSUS_GEOGRAPHIES_SYSTEM, 'fips'],
  ['http://www.census.gov/geographies', 'fips'],
  ['urn:oid:2.16.840.1.113883.6.92', 'fips'], // FIPS 5-2 (states)
  ['urn:oid:2.16.840.1.113883.6.93', 'fips'], // FIPS 6-4 (counties)
  ['https://www.census.gov/library/reference/code-lists/ansi.html', 'fips'],
  ['http://www.census.gov/library/reference/code-lists/ansi.html', 'fips'],
  // NOTE: both ISO systems take both shapes: a value with a hyphen is a subdivision, else a
  // country. Senders mix them up, and the shapes cannot be confused.
  [ISO_3166_1_SYSTEM, 'iso-3166'],
  [ISO_3166_2_SYSTEM, 'iso-3166'],
  [US_ZIP_SYSTEM, 'zip'],
  ['urn:oid:2.16.840.1.113883.6.231', 'zip'], // HL7's OID for USZIPCODES
]);

function systemKind(system: string | undefined): SystemKind | undefined {
  if (system === undefined) return undefined;
  const s = system.trim();
  return SYSTEMS.get(s.endsWith('/') ? s.slice(0, -1) : s);
}

/** Whether identifiers in this system are region codes (census/FIPS, ISO 3166-1/-2, US ZIP). */
export function isRegionIdentifierSystem(system: string | undefined): boolean {
  return systemKind(system) !== undefined;
}

const all = (): Region => ({ type: 'all', code: 'all' });

/** state -> country -> all, for an ISO 3166-2 code whose first two letters are its country. */
function fromState(iso: string): Region[] {
  return [{ type: 'state', code: iso }, { type: 'country', code: iso.slice(0, 2) }, all()];
}

/** country -> all; a US outlying area given as a country (PR, GU ...) is the state US-PR ... under US. */
function fromCountry(alpha2: string): Region[] {
  if (US_OUTLYING_AREAS.has(alpha2)) return fromState(`US-${alpha2}`);
  return [{ type: 'country', code: alpha2 }, all()];
}

function fipsChain(v: string): Region[] | undefined {
  if (!/^\d+$/.test(v)) return undefined;
  // NOTE: a leading zero lost on the way (spreadsheets: '6' for 06, '1001' for 01001) is restored.
  if (v.length <= 2) {
    const st = usStateByFips(v.padStart(2, '0'));
    return st && fromState(st.iso);
  }
  if (v.length === 4 || v.length === 5) {
    const county = v.padStart(5, '0');
    const st = usStateByFips(county.slice(0, 2));
    return st && [{ type: 'county', code: county }, ...fromState(st.iso)];
  }
  return undefined; // tracts, places, blocks: not regions sitrep rolls up to
}

function isoChain(v: string): Region[] | undefined {
  const upper = v.toUpperCase();
  const sub = /^([A-Z]{2})-[A-Z0-9]{1,3}$/.exec(upper);
  if (sub) {
    const country = sub[1]!;
    if (country === 'US') return usStateByIso(upper) && fromState(upper);
    return countryByAlpha2(country) && fromState(upper);
  }
  const alpha2 = normalizeCountry(v);
  return alpha2 === undefined ? undefined : fromCountry(alpha2);
}

function zipChain(v: string): Region[] | undefined {
  const zip = parseZip(v);
  if (zip === undefined) return undefined;
  const st = usStateForZip(zip);
  // Every ZIP is USPS's, so a ZIP without a state (military, unassigned) still rolls up to the US.
  return [{ type: 'zip', code: zip }, ...(st ? fromState(st.iso) : fromCountry('US'))];
}

/**
 * Chain for a subject identifier that is itself a region code; undefined when it is not (then it
 * is a facility). Also undefined when the system is a region system but the value is no code we
 * can place ('99', '3402', 'XX'): the caller then treats it as a facility, whose Location is
 * unknown, so it counts under `unresolved` instead of inventing a region.
 */
export function regionChainForIdentifier(system: string | undefined, value: string): Region[] | undefined {
  const kind = systemKind(system);
  if (kind === undefined) return undefined;
  const v = value.trim();
  switch (kind) {
    case 'fips':
      return fipsChain(v);
    case 'iso-3166':
      return isoChain(v);
    case 'zip':
      return zipChain(v);
  }
}

/**
 * The county part of a county code: `district` trimmed, inner blanks collapsed, Unicode NFC and
 * upper-cased, so 'Cook' and 'COOK' are one county. Otherwise as given: 'Cook County' stays a
 * different code from 'COOK' (no county table to tell them apart safely).
 */
function districtCode(district: string | undefined): string | undefined {
  const d = district?.normalize('NFC').replace(/\s+/g, ' ').trim().toUpperCase();
  return d ? d : undefined;
}

/**
 * Chain for a facility (key `<system>|<value>`) located at this address:
 * facility -> county -> state -> country -> all. Missing parts are skipped (no county without
 * a state). The state comes from `address.state` read in the address's country (normalizeState);
 * an unknown state skips state and county. The country is the state's when there is one, else
 * `address.country` normalized (unknown: skipped). A US outlying area given only as the country
 * (country `PR`, no state) is the state US-PR. `postalCode` is not used: ZIPs cross counties.
 */
export function regionChainForAddress(facilityKey: string, address: Address | undefined): Region[] {
  const chain: Region[] = [{ type: 'facility', code: facilityKey }];
  const country = address?.country === undefined ? undefined : normalizeCountry(address.country);
  let state = address?.state === undefined ? undefined : normalizeState(address.state, address.country);
  if (state === undefined && country !== undefined && US_OUTLYING_AREAS.has(country)) state = `US-${country}`;
  if (state !== undefined) {
    const district = districtCode(address?.district);
    if (district !== undefined) chain.push({ type: 'county', code: `${state}/${district}` });
    chain.push(...fromState(state));
  } else if (country !== undefined) {
    chain.push(...fromCountry(country));
  } else {
    chain.push(all());
  }
  return chain;
}

/** Chain when the facility's Location is not known (yet): facility -> unresolved -> all. */
export function unresolvedChain(facilityKey: string): Region[] {
  return [{ type: 'facility', code: facilityKey }, { type: 'unresolved', code: 'unresolved' }, all()];
}
