// US states, DC, Puerto Rico and the territories: the state table (FIPS, USPS, name, ISO 3166-2)
// and normalizeState, so a state named by FIPS code, USPS abbreviation, ISO 3166-2 code or name
// becomes its ISO 3166-2 code (`US-NJ`), the one code sitrep stores for a state.
// Sources: FIPS/ANSI state codes https://www.census.gov/library/reference/code-lists/ansi.html,
// ISO 3166-2:US https://www.iso.org/obp/ui/#iso:code:3166:US (50 states, DC, 6 outlying areas).
import { countryByAlpha2, normalizeCountry } from './countries.js';
import { nameKey } from './names.js';

export interface UsState {
  /** Two-digit FIPS 5-2 / ANSI state code. */
  fips: string;
  /** USPS abbreviation. */
  usps: string;
  name: string;
  /** ISO 3166-2 code, the region code. */
  iso: string;
  /** Other names seen in addresses. */
  aliases: readonly string[];
}

function s(fips: string, usps: string, name: string, ...aliases: string[]): UsState {
  return { fips, usps, name, iso: `US-${usps}`, aliases };
}

export const US_STATES: readonly UsState[] = [
  s('01', 'AL', 'Alabama'),
  s('02', 'AK', 'Alaska'),
  s('04', 'AZ', 'Arizona'),
  s('05', 'AR', 'Arkansas'),
  s('06', 'CA', 'California'),
  s('08', 'CO', 'Colorado'),
  s('09', 'CT', 'Connecticut'),
  s('10', 'DE', 'Delaware'),
  s('11', 'DC', 'District of Columbia', 'Washington DC', 'Washington, D.C.'),
  s('12', 'FL', 'Florida'),
  s('13', 'GA', 'Georgia'),
  s('15', 'HI', 'Hawaii', 'Hawaiʻi'),
  s('16', 'ID', 'Idaho'),
  s('17', 'IL', 'Illinois'),
  s('18', 'IN', 'Indiana'),
  s('19', 'IA', 'Iowa'),
  s('20', 'KS', 'Kansas'),
  s('21', 'KY', 'Kentucky'),
  s('22', 'LA', 'Louisiana'),
  s('23', 'ME', 'Maine'),
  s('24', 'MD', 'Maryland'),
  s('25', 'MA', 'Massachusetts'),
  s('26', 'MI', 'Michigan'),
  s('27', 'MN', 'Minnesota'),
  s('28', 'MS', 'Mississippi'),
  s('29', 'MO', 'Missouri'),
  s('30', 'MT', 'Montana'),
  s('31', 'NE', 'Nebraska'),
  s('32', 'NV', 'Nevada'),
  s('33', 'NH', 'New Hampshire'),
  s('34', 'NJ', 'New Jersey'),
  s('35', 'NM', 'New Mexico'),
  s('36', 'NY', 'New York'),
  s('37', 'NC', 'North Carolina'),
  s('38', 'ND', 'North Dakota'),
  s('39', 'OH', 'Ohio'),
  s('40', 'OK', 'Oklahoma'),
  s('41', 'OR', 'Oregon'),
  s('42', 'PA', 'Pennsylvania'),
  s('44', 'RI', 'Rhode Island'),
  s('45', 'SC', 'South Carolina'),
  s('46', 'SD', 'South Dakota'),
  s('47', 'TN', 'Tennessee'),
  s('48', 'TX', 'Texas'),
  s('49', 'UT', 'Utah'),
  s('50', 'VT', 'Vermont'),
  s('51', 'VA', 'Virginia'),
  s('53', 'WA', 'Washington'),
  s('54', 'WV', 'West Virginia'),
  s('55', 'WI', 'Wisconsin'),
  s('56', 'WY', 'Wyoming'),
  // Outlying areas: in ISO 3166-2:US (US-AS ...) and also in ISO 3166-1 as countries (AS ...).
  s('60', 'AS', 'American Samoa'),
  s('66', 'GU', 'Guam'),
  s('69', 'MP', 'Northern Mariana Islands', 'Commonwealth of the Northern Mariana Islands'),
  s('72', 'PR', 'Puerto Rico', 'Commonwealth of Puerto Rico'),
  s('74', 'UM', 'U.S. Minor Outlying Islands', 'United States Minor Outlying Islands'),
  s('78', 'VI', 'U.S. Virgin Islands', 'United States Virgin Islands', 'Virgin Islands', 'Virgin Islands, U.S.'),
];

const BY_FIPS = new Map(US_STATES.map((st) => [st.fips, st]));
const BY_USPS = new Map(US_STATES.map((st) => [st.usps, st]));
const BY_ISO = new Map(US_STATES.map((st) => [st.iso, st]));
const BY_NAME = new Map<string, UsState>();
for (const st of US_STATES) for (const n of [st.name, ...st.aliases]) BY_NAME.set(nameKey(n), st);

/**
 * Countries whose states are looked up in the US table: the US itself and its outlying areas,
 * which ISO 3166-1 also lists as countries (an address may say country `PR`, state `PR`).
 */
export const US_OUTLYING_AREAS: ReadonlySet<string> = new Set(['AS', 'GU', 'MP', 'PR', 'UM', 'VI']);

export function usStateByFips(fips: string): UsState | undefined {
  return BY_FIPS.get(fips);
}
export function usStateByUsps(usps: string): UsState | undefined {
  return BY_USPS.get(usps);
}
export function usStateByIso(iso: string): UsState | undefined {
  return BY_ISO.get(iso);
}

const ISO_3166_2 = /^([A-Z]{2})-([A-Z0-9]{1,3})$/;

/**
 * ISO 3166-2 code of a state (first-level subdivision) however it was given:
 * 'NJ' | 'New Jersey' | '34' | 'US-NJ' -> 'US-NJ' (any case, surrounding blanks ignored).
 *
 * `country` (any form normalizeCountry takes) says whose states these are:
 * - absent or US (or a US outlying area such as PR): the US table, by USPS abbreviation, FIPS code
 *   (leading zero optional), ISO 3166-2 code or name;
 * - another country: only a full ISO 3166-2 code of that country (`CA-ON`), upper-cased. We ship
 *   no subdivision tables outside the US, and a bare 'WA' next to 'Australia' must not become US-WA;
 * - a value normalizeCountry does not know: treated like another country, for the same reason.
 * Any ISO 3166-2 code of a known country other than the US is accepted as given (upper-cased).
 * Anything else gives undefined.
 */
export function normalizeState(given: string, country?: string): string | undefined {
  const g = given.trim().toUpperCase();
  if (g === '') return undefined;
  const countryText = country?.trim() ?? '';
  const c = countryText === '' ? undefined : (normalizeCountry(countryText) ?? '?');
  const usRules = c === undefined || c === 'US' || US_OUTLYING_AREAS.has(c);

  const iso = ISO_3166_2.exec(g);
  if (iso) {
    const prefix = iso[1]!;
    if (prefix === 'US') return usRules ? BY_ISO.get(g)?.iso : undefined;
    if (!countryByAlpha2(prefix)) return undefined;
    return c === undefined || c === '?' || c === prefix ? g : undefined;
  }
  if (!usRules) return undefined;
  if (/^\d{1,2}$/.test(g)) return BY_FIPS.get(g.padStart(2, '0'))?.iso;
  const usps = BY_USPS.get(g);
  if (usps) return usps.iso;
  const key = nameKey(g); // also turns 'N.J.' into 'NJ'
  return (BY_USPS.get(key) ?? BY_NAME.get(key))?.iso;
}
