// Name matching for the region tables: one comparison key per place name, so "New Jersey",
// "NEW  JERSEY" and "new jersey" (or "Curaçao" and "CURACAO") find the same table row.

/**
 * The comparison key of a place name: diacritics removed, `.` `,` and apostrophes dropped,
 * hyphens and runs of whitespace made one space, upper case. Never used as a region code.
 */
export function nameKey(name: string): string {
  return name
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[.,'\u2019\u02bb]/g, '')
    .replace(/[\s\-_]+/g, ' ')
    .trim()
    .toUpperCase();
}
