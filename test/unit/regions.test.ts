// Unit tests for region resolution: region-code subjects (FIPS, ISO 3166-1/-2, ZIP), facilities
// placed by their Location's address (every SANER example Location), and the unresolved chain.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import type { Location, Organization } from 'fhir/r4.js';
import {
  isRegionIdentifierSystem,
  normalizeCountry,
  normalizeState,
  regionChainForAddress,
  regionChainForIdentifier,
  unresolvedChain,
  type Region,
} from '@sitrep/shared/regions/resolve';
import { US_STATES } from '@sitrep/shared/regions/states';
import { usStateForZip } from '@sitrep/shared/regions/zip';

const CENSUS = 'https://www.census.gov/geographies';
const ISO1 = 'urn:iso:std:iso:3166';
const ISO2 = 'urn:iso:std:iso:3166:-2';
const ZIP = 'http://terminology.hl7.org/CodeSystem/USZIPCODES';
const ALL: Region = { type: 'all', code: 'all' };
const US: Region = { type: 'country', code: 'US' };
const state = (code: string): Region => ({ type: 'state', code });

// .build/test/unit/ -> repository root
const FIXTURES = new URL('../../../test/fixtures/saner/', import.meta.url);
const readJson = <T>(rel: string): T => JSON.parse(readFileSync(new URL(rel, FIXTURES), 'utf8')) as T;

test('FIPS state codes give state -> US -> all, in every census system spelling', () => {
  const expected = [state('US-NJ'), US, ALL];
  for (const system of [
    CENSUS,
    `${CENSUS}/`,
    'http://www.census.gov/geographies',
    'urn:oid:2.16.840.1.113883.6.92',
    'https://www.census.gov/library/reference/code-lists/ansi.html',
  ]) {
    assert.deepEqual(regionChainForIdentifier(system, '34'), expected, system);
  }
  assert.deepEqual(regionChainForIdentifier(CENSUS, '72'), [state('US-PR'), US, ALL]);
  assert.deepEqual(regionChainForIdentifier(CENSUS, '6'), [state('US-CA'), US, ALL], 'lost leading zero');
});

test('FIPS county codes give county -> state (from the first two digits) -> US -> all', () => {
  assert.deepEqual(regionChainForIdentifier(CENSUS, '34021'), [{ type: 'county', code: '34021' }, state('US-NJ'), US, ALL]);
  assert.deepEqual(regionChainForIdentifier('urn:oid:2.16.840.1.113883.6.93', '17031'), [
    { type: 'county', code: '17031' },
    state('US-IL'),
    US,
    ALL,
  ]);
  assert.deepEqual(regionChainForIdentifier(CENSUS, '1001'), [{ type: 'county', code: '01001' }, state('US-AL'), US, ALL]);
});

test('census values that are no state or county we know are not placed', () => {
  for (const v of ['99', '00', '99001', '3402', '340', '34021001100', 'NJ', '']) {
    assert.equal(regionChainForIdentifier(CENSUS, v), undefined, v);
  }
});

test('ISO 3166-1 alpha-2, alpha-3 and numeric give one alpha-2 country', () => {
  for (const v of ['US', 'USA', '840', 'us', ' USA ']) assert.deepEqual(regionChainForIdentifier(ISO1, v), [US, ALL], v);
  const country = (code: string) => [{ type: 'country', code }, ALL];
  assert.deepEqual(regionChainForIdentifier(ISO1, 'CAN'), country('CA'));
  assert.deepEqual(regionChainForIdentifier(ISO1, '484'), country('MX'));
  assert.deepEqual(regionChainForIdentifier(ISO1, 'GBR'), country('GB'));
  assert.deepEqual(regionChainForIdentifier(ISO1, 'FR'), country('FR'));
  assert.deepEqual(regionChainForIdentifier(ISO1, '276'), country('DE'));
  assert.deepEqual(regionChainForIdentifier(ISO1, 'JPN'), country('JP'));
  assert.equal(regionChainForIdentifier(ISO1, 'XX'), undefined);
  assert.equal(regionChainForIdentifier(ISO1, '999'), undefined);
});

test('a US outlying area named as an ISO 3166-1 country is the same region as the state US-PR', () => {
  for (const v of ['PR', 'PRI', '630']) assert.deepEqual(regionChainForIdentifier(ISO1, v), [state('US-PR'), US, ALL], v);
});

test('ISO 3166-2 subdivisions give state -> country -> all', () => {
  assert.deepEqual(regionChainForIdentifier(ISO2, 'US-NJ'), [state('US-NJ'), US, ALL]);
  assert.deepEqual(regionChainForIdentifier(ISO2, 'us-nj'), [state('US-NJ'), US, ALL]);
  assert.deepEqual(regionChainForIdentifier(ISO2, 'CA-ON'), [state('CA-ON'), { type: 'country', code: 'CA' }, ALL]);
  assert.deepEqual(regionChainForIdentifier(ISO2, 'de-by'), [state('DE-BY'), { type: 'country', code: 'DE' }, ALL]);
  // Either ISO system takes either shape.
  assert.deepEqual(regionChainForIdentifier(ISO1, 'US-NJ'), [state('US-NJ'), US, ALL]);
  assert.deepEqual(regionChainForIdentifier(ISO2, 'US'), [US, ALL]);
  assert.equal(regionChainForIdentifier(ISO2, 'US-ZZ'), undefined);
  assert.equal(regionChainForIdentifier(ISO2, 'XX-AB'), undefined);
});

test('US ZIP and ZIP+4 give zip -> state (ZIP-3 prefix) -> US -> all', () => {
  const nj = [{ type: 'zip', code: '07001' }, state('US-NJ'), US, ALL];
  for (const v of ['07001', '07001-1234', '070011234', ' 07001 ']) assert.deepEqual(regionChainForIdentifier(ZIP, v), nj, v);
  assert.deepEqual(regionChainForIdentifier(ZIP, '60612')?.[1], state('US-IL'));
  assert.deepEqual(regionChainForIdentifier(ZIP, '02908')?.[1], state('US-RI'));
  assert.deepEqual(regionChainForIdentifier(ZIP, '00901')?.[1], state('US-PR'));
  assert.deepEqual(regionChainForIdentifier(ZIP, '20500')?.[1], state('US-DC'));
  assert.deepEqual(regionChainForIdentifier(ZIP, '20166')?.[1], state('US-VA'), '201 is Dulles, VA');
  assert.deepEqual(regionChainForIdentifier(ZIP, '73301')?.[1], state('US-TX'), '733 is Austin, TX');
  assert.deepEqual(regionChainForIdentifier(ZIP, '06390')?.[1], state('US-NY'), 'Fishers Island, NY in 063');
  assert.deepEqual(regionChainForIdentifier(ZIP, '96799')?.[1], state('US-AS'), 'Pago Pago in 967');
  assert.deepEqual(regionChainForIdentifier(ZIP, '96950')?.[1], state('US-MP'));
  assert.deepEqual(regionChainForIdentifier(ZIP, '96910')?.[1], state('US-GU'));
  // Military ZIPs have no state but are still USPS's.
  assert.deepEqual(regionChainForIdentifier(ZIP, '09012'), [{ type: 'zip', code: '09012' }, US, ALL]);
  for (const v of ['7001', '070012', '07001-12', 'ABCDE', '']) assert.equal(regionChainForIdentifier(ZIP, v), undefined, v);
});

test('the ZIP-3 table covers every state, DC, PR and the territories that have ZIPs', () => {
  const seen = new Set<string>();
  for (let p = 0; p < 1000; p++) {
    const st = usStateForZip(`${String(p).padStart(3, '0')}01`);
    if (st) seen.add(st.usps);
  }
  seen.add(usStateForZip('96799')!.usps);
  seen.add(usStateForZip('96950')!.usps);
  const missing = US_STATES.filter((st) => !seen.has(st.usps)).map((st) => st.usps);
  assert.deepEqual(missing, ['UM'], 'only the uninhabited minor outlying islands have no ZIP');
});

test('identifiers in other systems are not region codes (the subject is a facility)', () => {
  assert.equal(regionChainForIdentifier('http://sanerproject.org/connectathon/hospitals', 'X140008'), undefined);
  assert.equal(regionChainForIdentifier('http://hl7.org/fhir/sid/us-npi', '1234567893'), undefined);
  assert.equal(regionChainForIdentifier(undefined, '34'), undefined);
  assert.equal(regionChainForIdentifier('', '34'), undefined);
  assert.equal(isRegionIdentifierSystem(CENSUS), true);
  assert.equal(isRegionIdentifierSystem(ISO1), true);
  assert.equal(isRegionIdentifierSystem(ISO2), true);
  assert.equal(isRegionIdentifierSystem(ZIP), true);
  assert.equal(isRegionIdentifierSystem('http://sanerproject.org/connectathon/hospitals'), false);
  assert.equal(isRegionIdentifierSystem(undefined), false);
});

test('the NJ example report subject resolves to US-NJ', () => {
  const report = readJson<{ subject: { identifier: { system: string; value: string } } }>(
    'measure-reports/ExampleNJ-20200404-CDCPatientImpactAndHospitalCapacity.json',
  );
  const { system, value } = report.subject.identifier;
  assert.deepEqual(regionChainForIdentifier(system, value), [state('US-NJ'), US, ALL]);
  const location = readJson<Location>('locations/states-NJ.json');
  const id = location.identifier![0]!;
  assert.deepEqual(regionChainForIdentifier(id.system, id.value!), [state('US-NJ'), US, ALL]);
});

test('every example facility Location resolves to its county and state (IL and RI)', () => {
  const riCounties: Record<string, string> = {
    X410004: 'PROVIDENCE',
    X410005: 'PROVIDENCE',
    X410006: 'NEWPORT',
    X410007: 'PROVIDENCE',
    X410008: 'WASHINGTON',
    X410009: 'KENT',
    X410010: 'PROVIDENCE',
    X410011: 'PROVIDENCE',
    X410013: 'WASHINGTON',
  };
  const files = readdirSync(new URL('locations/', FIXTURES)).filter((f) => f.startsWith('Loc-X'));
  assert.equal(files.length, 54);
  for (const file of files) {
    const location = readJson<Location>(`locations/${file}`);
    const orgId = location.managingOrganization!.reference!.replace('Organization/', '');
    const org = readJson<Organization>(`organizations/${orgId}.json`);
    const key = `${org.identifier![0]!.system}|${org.identifier![0]!.value}`;
    const [county, st] = orgId.startsWith('X14') ? ['US-IL/COOK', 'US-IL'] : [`US-RI/${riCounties[orgId]}`, 'US-RI'];
    assert.deepEqual(
      regionChainForAddress(key, location.address),
      [{ type: 'facility', code: key }, { type: 'county', code: county }, state(st), US, ALL],
      file,
    );
    // The ZIP table agrees with the address on the state.
    assert.equal(usStateForZip(location.address!.postalCode!)?.iso, st, `${file} postalCode`);
  }
});

test('a state named by FIPS code, USPS abbreviation, ISO 3166-2 code or name gives one code', () => {
  assert.equal(US_STATES.length, 57); // 50 states, DC, AS, GU, MP, PR, UM, VI
  for (const st of US_STATES) {
    for (const given of [st.fips, st.usps, st.iso, st.name, st.name.toUpperCase(), st.usps.toLowerCase(), ...st.aliases]) {
      assert.equal(normalizeState(given), st.iso, given);
      assert.equal(normalizeState(given, 'USA'), st.iso, `${given}, USA`);
    }
  }
  for (const given of ['NJ', 'New Jersey', '34', 'US-NJ', ' new  jersey ', 'N.J.', 'us-nj']) {
    assert.equal(normalizeState(given, 'United States'), 'US-NJ', given);
  }
  assert.equal(normalizeState('Washington, D.C.'), 'US-DC');
  assert.equal(normalizeState('PR', 'PR'), 'US-PR');
});

test('states outside the US: only full ISO 3166-2 codes of the address country', () => {
  assert.equal(normalizeState('CA-ON', 'Canada'), 'CA-ON');
  assert.equal(normalizeState('ca-on'), 'CA-ON');
  assert.equal(normalizeState('ON', 'CA'), undefined);
  assert.equal(normalizeState('WA', 'Australia'), undefined, 'not US-WA');
  assert.equal(normalizeState('IL', 'IL'), undefined, 'IL next to Israel is not Illinois');
  assert.equal(normalizeState('CA-ON', 'USA'), undefined);
  assert.equal(normalizeState('US-NJ', 'Canada'), undefined);
  assert.equal(normalizeState('NJ', 'Freedonia'), undefined, 'unknown country: no US guess');
  assert.equal(normalizeState('ZZ'), undefined);
  assert.equal(normalizeState('US-ZZ'), undefined);
  assert.equal(normalizeState('  '), undefined);
});

test('normalizeCountry takes alpha-2, alpha-3, numeric and names', () => {
  for (const v of ['USA', 'US', 'us', 'United States', 'United States of America', 'U.S.A.', '840']) {
    assert.equal(normalizeCountry(v), 'US', v);
  }
  assert.equal(normalizeCountry('Canada'), 'CA');
  assert.equal(normalizeCountry('MEX'), 'MX');
  assert.equal(normalizeCountry('United Kingdom'), 'GB');
  assert.equal(normalizeCountry('UK'), 'GB');
  assert.equal(normalizeCountry('France'), 'FR');
  assert.equal(normalizeCountry('DEU'), 'DE');
  assert.equal(normalizeCountry('36'), 'AU', 'numeric without its leading zero');
  assert.equal(normalizeCountry('Curacao'), 'CW');
  assert.equal(normalizeCountry('Freedonia'), undefined);
  assert.equal(normalizeCountry(''), undefined);
});

test('addresses: missing or unknown parts are skipped, never a county without a state', () => {
  const f = { type: 'facility', code: 'sys|F1' } as const;
  assert.deepEqual(regionChainForAddress('sys|F1', { district: 'COOK', country: 'USA' }), [f, US, ALL], 'no state');
  assert.deepEqual(regionChainForAddress('sys|F1', { state: 'ZZ', district: 'COOK', country: 'USA' }), [f, US, ALL], 'unknown state');
  assert.deepEqual(regionChainForAddress('sys|F1', { city: 'Chicago' }), [f, ALL]);
  assert.deepEqual(regionChainForAddress('sys|F1', undefined), [f, ALL]);
  assert.deepEqual(regionChainForAddress('sys|F1', { state: 'IL' }), [f, state('US-IL'), US, ALL], 'country from the state');
  assert.deepEqual(regionChainForAddress('sys|F1', { state: 'ON', district: 'York', country: 'Canada' }), [
    f,
    { type: 'country', code: 'CA' },
    ALL,
  ]);
  assert.deepEqual(regionChainForAddress('sys|F1', { country: 'Freedonia', state: 'NJ' }), [f, ALL]);
  assert.deepEqual(regionChainForAddress('sys|F1', { country: 'PRI', district: 'San Juan' }), [
    f,
    { type: 'county', code: 'US-PR/SAN JUAN' },
    state('US-PR'),
    US,
    ALL,
  ]);
});

test('address county codes: district trimmed and upper-cased, state in ISO form however named', () => {
  const county = (a: Parameters<typeof regionChainForAddress>[1]) => regionChainForAddress('k', a)[1];
  const cook = { type: 'county', code: 'US-IL/COOK' };
  assert.deepEqual(county({ district: 'COOK', state: 'IL', country: 'USA' }), cook);
  assert.deepEqual(county({ district: ' Cook ', state: 'Illinois', country: 'US' }), cook);
  assert.deepEqual(county({ district: 'cook', state: '17' }), cook);
  assert.deepEqual(county({ district: 'St.  Louis', state: 'MO' }), { type: 'county', code: 'US-MO/ST. LOUIS' });
  assert.deepEqual(county({ district: '   ', state: 'IL' }), state('US-IL'), 'blank district: no county');
});

test('an unknown Location counts under unresolved and all', () => {
  assert.deepEqual(unresolvedChain('http://sanerproject.org/connectathon/hospitals|X999'), [
    { type: 'facility', code: 'http://sanerproject.org/connectathon/hospitals|X999' },
    { type: 'unresolved', code: 'unresolved' },
    ALL,
  ]);
});
