// US ZIP codes: parse a ZIP or ZIP+4, and find the state a ZIP belongs to from its three-digit
// prefix (the USPS ZIP-3 ranges), with the few five-digit exceptions where the prefix misleads.
// Source: USPS Domestic Mail Manual, Labeling List L002 "3-Digit ZIP Code Prefix Matrix".
import { usStateByUsps, type UsState } from './states.js';

// [first prefix, last prefix, USPS state]. Prefixes not listed are unassigned, or military
// (090-098 AE, 340 AA, 962-966 AP): no state, the ZIP rolls up to the US directly.
const ZIP3_RANGES: ReadonlyArray<readonly [number, number, string]> = [
  [5, 5, 'NY'], // Holtsville IRS
  [6, 7, 'PR'],
  [8, 8, 'VI'],
  [9, 9, 'PR'],
  [10, 27, 'MA'],
  [28, 29, 'RI'],
  [30, 38, 'NH'],
  [39, 49, 'ME'],
  [50, 54, 'VT'],
  [55, 55, 'MA'], // Andover IRS
  [56, 59, 'VT'],
  [60, 69, 'CT'],
  [70, 89, 'NJ'],
  [100, 149, 'NY'],
  [150, 196, 'PA'],
  [197, 199, 'DE'],
  [200, 200, 'DC'],
  [201, 201, 'VA'], // Dulles
  [202, 205, 'DC'],
  [206, 219, 'MD'],
  [220, 246, 'VA'],
  [247, 268, 'WV'],
  [270, 289, 'NC'],
  [290, 299, 'SC'],
  [300, 319, 'GA'],
  [320, 339, 'FL'],
  [341, 349, 'FL'],
  [350, 369, 'AL'],
  [370, 385, 'TN'],
  [386, 397, 'MS'],
  [398, 399, 'GA'],
  [400, 427, 'KY'],
  [430, 459, 'OH'],
  [460, 479, 'IN'],
  [480, 499, 'MI'],
  [500, 528, 'IA'],
  [530, 549, 'WI'],
  [550, 567, 'MN'],
  [569, 569, 'DC'], // parcel return
  [570, 577, 'SD'],
  [580, 588, 'ND'],
  [590, 599, 'MT'],
  [600, 629, 'IL'],
  [630, 658, 'MO'],
  [660, 679, 'KS'],
  [680, 693, 'NE'],
  [700, 714, 'LA'],
  [716, 729, 'AR'],
  [730, 731, 'OK'],
  [733, 733, 'TX'], // Austin IRS
  [734, 749, 'OK'],
  [750, 799, 'TX'],
  [800, 816, 'CO'],
  [820, 831, 'WY'],
  [832, 838, 'ID'],
  [840, 847, 'UT'],
  [850, 865, 'AZ'],
  [870, 884, 'NM'],
  [885, 885, 'TX'], // El Paso
  [889, 898, 'NV'],
  [900, 961, 'CA'],
  [967, 968, 'HI'],
  [969, 969, 'GU'], // shared with MP and the freely associated states: see ZIP5_EXCEPTIONS
  [970, 979, 'OR'],
  [980, 994, 'WA'],
  [995, 999, 'AK'],
];

// [first ZIP, last ZIP, USPS state or null for no US state]: where the prefix gives the wrong state.
const ZIP5_EXCEPTIONS: ReadonlyArray<readonly [number, number, string | null]> = [
  [6390, 6390, 'NY'], // Fishers Island NY, in CT's 063
  [96799, 96799, 'AS'], // Pago Pago, in HI's 967
  [96939, 96944, null], // Palau, Micronesia: sovereign states served by USPS
  [96950, 96952, 'MP'],
  [96960, 96970, null], // Marshall Islands
];

const BY_ZIP3: Array<UsState | undefined> = new Array<UsState | undefined>(1000).fill(undefined);
for (const [from, to, usps] of ZIP3_RANGES) {
  const st = usStateByUsps(usps);
  if (!st) throw new Error(`zip.ts: unknown state ${usps}`);
  for (let p = from; p <= to; p++) BY_ZIP3[p] = st;
}
const BY_ZIP5 = new Map<string, UsState | undefined>();
for (const [from, to, usps] of ZIP5_EXCEPTIONS) {
  for (let z = from; z <= to; z++) BY_ZIP5.set(String(z).padStart(5, '0'), usps === null ? undefined : usStateByUsps(usps));
}

const ZIP = /^(\d{5})(?:-?\d{4})?$/;

/** The five-digit ZIP of a ZIP (`07001`) or ZIP+4 (`07001-1234`, `070011234`); undefined otherwise. */
export function parseZip(value: string): string | undefined {
  return ZIP.exec(value.trim())?.[1];
}

/** The state a five-digit ZIP is in; undefined for military, unassigned and non-US-state ZIPs. */
export function usStateForZip(zip5: string): UsState | undefined {
  if (BY_ZIP5.has(zip5)) return BY_ZIP5.get(zip5);
  return BY_ZIP3[Number(zip5.slice(0, 3))];
}
