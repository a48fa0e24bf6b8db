// RFC 4180 records from csv-parse, each with the line it starts on, and the first syntax error
// (unclosed quote, text after a closing quote ...) with the line of the record it broke.
import { parse, CsvError } from 'csv-parse/sync';
import { hasUtf8Bom } from '../utf8.js';

export interface CsvRecord {
  /** 1-based line where the record starts (a quoted field may carry it over further lines). */
  line: number;
  fields: string[];
}

export interface CsvSyntaxError {
  line: number;
  code: string;
  message: string;
}

const CR = 0x0d;
const LF = 0x0a;

/**
 * Calls `onRecord` for every record in order, then returns the syntax error that stopped parsing,
 * if any. Line numbers are computed here from byte offsets rather than taken from csv-parse's
 * `info.lines`, which counts a CRLF inside a quoted field as two lines (csv-parse 7.0.3), so every
 * later line number of a Windows file would drift.
 *
 * Parsing stops at the first syntax error: csv-parse's `skip_records_with_error` does not
 * resynchronise reliably (after an invalid closing quote it also swallowed the next good row when
 * tried), and after an unclosed quote no later row boundary can be trusted anyway.
 */
export function readRecords(input: Buffer, onRecord: (r: CsvRecord) => void): CsvSyntaxError | undefined {
  // Line bookkeeping: `pos` is a byte offset whose line number is `line`. Both only move forward,
  // so the whole file is scanned once.
  // Past a BOM: startOfNext() would stop at it and miss the empty lines after it.
  let pos = hasUtf8Bom(input) ? 3 : 0;
  let line = 1;
  const advanceTo = (end: number) => {
    for (let i = pos; i < end; i++) {
      const b = input[i];
      if (b === LF) line++;
      else if (b === CR && input[i + 1] !== LF) line++; // a lone CR (old Mac) ends a line too
    }
    pos = Math.max(pos, end);
  };
  // Where the next record starts: past the empty lines that csv-parse skips.
  const startOfNext = () => {
    let i = pos;
    while (i < input.length && (input[i] === CR || input[i] === LF)) i++;
    advanceTo(i);
    return line;
  };
  try {
    parse(input, {
      bom: true,
      // Accept all three line ends, mixed: files assembled from several sources mix them, and
      // with auto-detection a lone LF in a CRLF file would silently become part of a field.
      record_delimiter: ['\r\n', '\n', '\r'],
      // Ragged rows are reported by the caller, with every other problem, instead of aborting here.
      relax_column_count: true,
      skip_empty_lines: true,
      on_record: (fields: string[], ctx) => {
        const start = startOfNext();
        advanceTo(ctx.bytes_records);
        onRecord({ line: start, fields });
        return null; // the caller keeps what it needs; csv-parse need not accumulate records
      },
    });
    return undefined;
  } catch (err) {
    if (!(err instanceof CsvError)) throw err;
    return { line: startOfNext(), code: err.code, message: err.message.replace(/ at line \d+/, '') };
  }
}
