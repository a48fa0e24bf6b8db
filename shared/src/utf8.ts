// UTF-8 byte helpers shared by the readers of uploaded text (CSV in shared/src/csv, NDJSON in ingest).

/** Whether the bytes begin with a UTF-8 byte order mark (EF BB BF), which the readers skip. */
export function hasUtf8Bom(bytes: Buffer): boolean {
  return bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
}
