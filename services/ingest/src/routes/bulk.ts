// NDJSON bulk push: POST [base]/MeasureReport/$import with one MeasureReport per line
// (application/fhir+ndjson, the Bulk Data format: https://hl7.org/fhir/uv/bulkdata/).
// Contract and examples: docs/bulk.md. The IG lists NDJSON but defines no operation for it
// (shared/spec/saner.md section 2), so this one is ours.
//
// The pipeline, one request:
//   socket -> (gunzip) -> lines (bounded, numbered) -> JSON.parse -> Acceptor.accept() -> tally
// - Streaming with backpressure: at most maxInFlight lines (and MAX_IN_FLIGHT_BYTES of them)
//   are being accepted at once; when that is full the loop stops pulling from the request, so the
//   socket is not read and TCP pushes back on the sender. What one import holds does not grow with
//   the body: the lines in flight, the counts, and at most MAX_DETAILED_REJECTIONS outcomes.
// - The answer is a Parameters resource (counts, then line/status/OperationOutcome per rejected
//   line), not a batch-response Bundle (one entry per line: megabytes for 200,000 lines, and no
//   place for counts) nor one flat OperationOutcome (no place for per-line status and counts).
//   Accepted lines are not listed: every line up to `lines` that is neither blank nor rejected was.
// - Every line goes through Acceptor.accept() like a single create: same validation, same
//   identity (the id is a hash of the business key), so re-sending a file never double counts.
//   accept() is called in line order, and Acceptor chains publishes of one id in call order, so
//   two versions of one report in a file reach Kafka in file order.
// - accept() resolves after Kafka acknowledged, and the answer waits for every line in flight:
//   whatever the answer says was accepted is durable.
// - Failure scope: a bad line is rejected alone (its number, status and OperationOutcome are in
//   the answer). Kafka unavailable stops the import (the next lines would fail the same way after
//   a publish timeout each): 503 + Retry-After, listing what was accepted before. A body over the
//   limit stops it too (413), a corrupt gzip stream (400) likewise, always with the tally so far.
// - A client that disconnects: reading stops, lines already handed to accept() still complete
//   (and are durable), nothing is answered; the tally is logged (`bulk_import_aborted`).
//
// NOTE: the `ndjson` package (split2) cannot serve here: it drops blank and unparsable lines
// without telling which (non-strict) or aborts the stream at the first one (strict), so line
// numbers are lost; its maxLength counts UTF-16 characters of the decoded buffer after a whole
// chunk was appended, and an overflowing line is skipped silently. node:readline has no line limit
// at all. LineSplitter below works on bytes with Buffer.indexOf and never holds more than the limit.
import { Router, type Request, type Response } from 'express';
import { isUtf8 } from 'node:buffer';
import { createGunzip, Gunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import type { OperationOutcome, OperationOutcomeIssue, Parameters, ParametersParameter } from 'fhir/r4.js';
import { DependencyUnavailableError, OperationOutcomeError } from '@sitrep/shared/errors';
import { firstIssues, issue, outcome } from '@sitrep/shared/fhir/outcome';
import type { Logger } from '@sitrep/shared/log';
import { hasUtf8Bom } from '@sitrep/shared/utf8';
import type { AcceptContext, Acceptor } from '../accept.js';
import { acceptContext, mediaType, requireJsonResponse } from '../http.js';

export interface NdjsonLimits {
  /** One line longer than this (bytes, without the newline) is rejected alone, without buffering it. */
  maxLineBytes: number;
  /** Decoded body bytes (after gunzip); past this the import stops with 413. */
  maxBodyBytes: number;
}

export interface BulkRouteDeps extends Partial<NdjsonLimits> {
  acceptor: Acceptor;
  log: Logger;
  /** Lines being accepted at once (default 1000): the backpressure bound. */
  maxInFlight?: number;
  retryAfterSeconds?: number;
}

export const NDJSON_DEFAULTS: NdjsonLimits = { maxLineBytes: 1024 * 1024, maxBodyBytes: 4 * 1024 ** 3 };
export const NDJSON_TYPES = new Set(['application/fhir+ndjson', 'application/x-ndjson', 'application/ndjson']);

/**
 * Bytes of the lines in flight at most (a few very long lines must not pile up either). Two of
 * Publisher's produce requests (1 MiB each for a queue this short, see publish.ts): one being
 * sent while the next fills.
 */
const MAX_IN_FLIGHT_BYTES = 2 * 1024 * 1024;
/** Rejected lines whose outcome is listed; later ones are counted only (keeps the answer and memory bounded). */
export const MAX_DETAILED_REJECTIONS = 1000;
/** Issues listed per rejected line at most (the validator reports every problem of a line). */
const MAX_ISSUES_PER_LINE = 20;
/** Before an early answer (413, 503, 400) read and discard the rest of the body this long at most, so the sender sees the answer, not a reset. */
const LINGER_MS = 10_000;
/** Standard extension (FHIR extensions pack) for the source line of an issue. */
export const ISSUE_LINE_URL = 'http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-line';

/**
 * A gzip body may expand at most this many times (once past GZIP_RATIO_FROM decoded bytes). FHIR
 * NDJSON compresses 10-150x (the simulator's ~33x, near-identical reports ~130x); a bomb of blank
 * lines ~1000x, and 4 GiB of them (the default limit) from a 4 MB upload cost ~30 min of the event
 * loop in the line splitter alone.
 */
export const MAX_GZIP_RATIO = 500;
const GZIP_RATIO_FROM = 1024 * 1024;

type Stop = 'kafka' | 'too-large' | 'bomb' | 'gzip' | 'aborted';

interface Rejection {
  line: number;
  status: number;
  outcome: OperationOutcome;
}

interface Tally {
  /** Physical lines read (blank ones included); lines after it were not read. */
  lines: number;
  accepted: number;
  created: number;
  updated: number;
  rejected: number;
  blank: number;
  rejections: Rejection[];
}

export function bulkRoutes(d: BulkRouteDeps): Router {
  const router = Router();
  const limits: NdjsonLimits = {
    maxLineBytes: d.maxLineBytes ?? NDJSON_DEFAULTS.maxLineBytes,
    maxBodyBytes: d.maxBodyBytes ?? NDJSON_DEFAULTS.maxBodyBytes,
  };
  const maxInFlight = d.maxInFlight ?? 1000;
  const retryAfter = String(d.retryAfterSeconds ?? 5);

  router.post('/MeasureReport/$import', async (req: Request, res: Response) => {
    requireJsonResponse(req);
    const length = Number(req.headers['content-length'] ?? NaN);
    if (length > limits.maxBodyBytes) {
      const refused = outcome([issue('too-costly', `the body (${length} bytes) is larger than the limit of ${limits.maxBodyBytes} bytes; nothing was read`)]);
      send(req, res, 413, refused, false);
      return;
    }
    const source = openBody(req, limits);
    const started = performance.now();
    const base = acceptContext(req, res);
    const tally: Tally = { lines: 0, accepted: 0, created: 0, updated: 0, rejected: 0, blank: 0, rejections: [] };
    let stop: Stop | undefined;
    let failure: Error | undefined;
    // A function, not `stop === 'kafka'` inline: `stop` also changes in the accept() callbacks.
    const kafkaDown = () => stop === 'kafka';

    // The first rejections by line, though they settle out of order (a malformed line at once, a
    // report after its validation or its publish): past the bound, a lower line replaces the highest.
    let highest = -1; // index of the highest listed line, once the list is full
    const reject = (line: number, status: number, issues: OperationOutcomeIssue[]) => {
      tally.rejected++;
      const listed = tally.rejections;
      if (listed.length < MAX_DETAILED_REJECTIONS) {
        listed.push({ line, status, outcome: lineOutcome(line, issues) });
        return;
      }
      if (highest < 0) highest = highestLine(listed);
      if (line >= listed[highest]!.line) return;
      listed[highest] = { line, status, outcome: lineOutcome(line, issues) };
      highest = highestLine(listed);
    };

    let unexpected = 0;

    // The bounded set of lines in flight; `wake` resumes the reading loop when one settles.
    let inFlight = 0;
    let inFlightBytes = 0;
    let wake: (() => void) | undefined;
    const settled = (bytes: number) => {
      inFlight--;
      inFlightBytes -= bytes;
      const w = wake;
      wake = undefined;
      w?.();
    };
    const until = async (condition: () => boolean) => {
      while (!condition()) await new Promise<void>((r) => (wake = r));
    };

    const dispatch = (line: number, input: unknown, json: Buffer, ctx: AcceptContext) => {
      const bytes = json.length;
      inFlight++;
      inFlightBytes += bytes;
      d.acceptor.accept('MeasureReport', input, ctx, json).then(
        (a) => {
          tally.accepted++;
          if (a.created) tally.created++;
          else tally.updated++;
          settled(bytes);
        },
        (err: unknown) => {
          if (err instanceof OperationOutcomeError) reject(line, err.status, err.outcome.issue);
          else if (err instanceof DependencyUnavailableError) {
            stop ??= 'kafka';
            reject(line, 503, [issue('transient', `may not have been stored: ${err.message}`)]);
          } else {
            // A bug, not bad input; logged for the first lines only, not 200,000 times.
            if (++unexpected <= 10) d.log.error({ err, requestId: base.requestId, line }, 'bulk_line_failed');
            reject(line, 500, [issue('exception', `internal error on this line (request id ${base.requestId})`)]);
          }
          settled(bytes);
        },
      );
    };

    const onLine = (line: number, bytes: Buffer | undefined, ctx: AcceptContext) => {
      tally.lines = line;
      if (bytes === undefined) {
        reject(line, 413, [issue('too-costly', `line ${line} is longer than the limit of ${limits.maxLineBytes} bytes; it was skipped`, `line ${line}`)]);
        return;
      }
      if (isBlank(bytes)) {
        tally.blank++;
        return;
      }
      if (!isUtf8(bytes)) {
        reject(line, 400, [issue('structure', `line ${line} is not valid UTF-8`, `line ${line}`)]);
        return;
      }
      let input: unknown;
      try {
        input = JSON.parse(bytes.toString('utf8'));
      } catch (err) {
        reject(line, 400, [issue('structure', `line ${line} is not valid JSON: ${(err as Error).message}`, `line ${line}`)]);
        return;
      }
      dispatch(line, input, bytes, ctx);
    };

    const splitter = new LineSplitter(limits.maxLineBytes);
    let bodyBytes = 0;
    try {
      for await (const chunk of source.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
        // One receive time per chunk: the lines of a long import are stamped when they arrived.
        const ctx: AcceptContext = { ...base, receivedAt: new Date().toISOString() };
        let data = chunk;
        if (bodyBytes + data.length > limits.maxBodyBytes) {
          data = data.subarray(0, limits.maxBodyBytes - bodyBytes);
          stop = 'too-large';
        }
        bodyBytes += data.length;
        if (!stop && source instanceof Gunzip && bodyBytes > GZIP_RATIO_FROM && bodyBytes > MAX_GZIP_RATIO * source.bytesWritten) stop = 'bomb';
        for (const { line, bytes } of splitter.push(data)) {
          if (kafkaDown()) break;
          if (inFlight >= maxInFlight || inFlightBytes >= MAX_IN_FLIGHT_BYTES) {
            await until(() => inFlight < maxInFlight && inFlightBytes < MAX_IN_FLIGHT_BYTES);
          }
          // NOTE: re-checked after waiting: a line that failed on Kafka meanwhile stops the import.
          if (kafkaDown()) break;
          onLine(line, bytes, ctx);
        }
        if (stop) break;
      }
      if (!stop) for (const { line, bytes } of splitter.end()) onLine(line, bytes, { ...base, receivedAt: new Date().toISOString() });
    } catch (err) {
      if (clientGone(req, res)) stop = 'aborted';
      else if (isZlibError(err)) {
        stop = 'gzip';
        failure = err as Error;
      } else throw err;
    }
    // The gunzip stream is not read to its end after an early stop: free its zlib handle now.
    if (source !== req && !source.readableEnded) source.destroy();
    // Every line handed to accept() settles before the answer: what it reports as accepted is durable.
    await until(() => inFlight === 0);

    const ms = Math.round(performance.now() - started);
    const counts = { requestId: base.requestId, lines: tally.lines, accepted: tally.accepted, rejected: tally.rejected, blank: tally.blank, bodyBytes, ms };
    if (stop === 'aborted' || clientGone(req, res)) {
      d.log.warn(counts, 'bulk_import_aborted');
      return;
    }
    d.log.info({ ...counts, stop }, 'bulk_import');

    const complete = req.complete && source.readableEnded;
    let status = 200;
    const summary: OperationOutcomeIssue[] = [];
    if (stop === 'kafka') {
      status = 503;
      res.setHeader('Retry-After', retryAfter);
      summary.push(issue('transient', `Kafka is unavailable: the import stopped after line ${tally.lines}; lines listed with status 503 may not have been stored, and lines after ${tally.lines} were not. Re-send the file: lines already accepted are not counted twice`));
    } else if (stop === 'too-large') {
      status = 413;
      summary.push(issue('too-costly', `the body is larger than the limit of ${limits.maxBodyBytes} bytes: lines up to ${tally.lines} were processed, the rest was not read`));
    } else if (stop === 'bomb') {
      status = 413;
      const gunzip = source as Gunzip;
      summary.push(issue('too-costly', `the gzip body expands more than ${MAX_GZIP_RATIO} times (${bodyBytes} bytes from ${gunzip.bytesWritten}): lines up to ${tally.lines} were processed, the rest was not read`));
    } else if (stop === 'gzip') {
      status = 400;
      summary.push(issue('structure', `the gzip stream is corrupt (${failure?.message ?? 'unknown error'}): lines up to ${tally.lines} were processed, the rest was not read`));
    }
    summary.unshift(issue('informational', summaryText(tally), undefined, 'information'));
    if (tally.rejected > tally.rejections.length) {
      summary.push(issue('too-costly', `${tally.rejected - tally.rejections.length} further rejected lines are counted but not listed (only the first ${MAX_DETAILED_REJECTIONS} are)`, undefined, 'warning'));
    }
    send(req, res, status, importResult(tally, outcome(summary)), complete);
  });

  router.all('/MeasureReport/$import', (req, res) => {
    res.setHeader('Allow', 'POST');
    throw OperationOutcomeError.single(405, 'not-supported', `${req.method} is not supported on ${req.path}; supported: POST`);
  });
  return router;
}

/** The decoded body stream, after the checks that refuse a request before reading it (415). */
function openBody(req: Request, limits: NdjsonLimits): Readable {
  const type = mediaType(req);
  if (!NDJSON_TYPES.has(type)) {
    throw OperationOutcomeError.single(415, 'not-supported', `unsupported media type "${type || '(none)'}": send application/fhir+ndjson (or application/x-ndjson, application/ndjson), one MeasureReport per line`);
  }
  const charset = /;\s*charset="?([^";]+)"?/i.exec(req.headers['content-type'] ?? '')?.[1]?.toLowerCase();
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw OperationOutcomeError.single(415, 'not-supported', `charset ${charset} is not supported: NDJSON is UTF-8`);
  }
  const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (encoding !== 'identity' && encoding !== 'gzip' && encoding !== 'x-gzip') {
    throw OperationOutcomeError.single(415, 'not-supported', `Content-Encoding ${encoding} is not supported: send gzip or no encoding`);
  }
  if (encoding === 'identity') return req;
  const gunzip = createGunzip();
  // NOTE: pipe() does not forward errors or an aborted request; without this the loop would wait forever.
  req.once('error', (err) => gunzip.destroy(err));
  req.once('close', () => {
    if (!req.complete) gunzip.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
  });
  return req.pipe(gunzip);
}

/** Splits a byte stream into numbered lines (1-based, `\n` or `\r\n`), never holding more than `max` bytes of one. */
export class LineSplitter {
  private parts: Buffer[] = [];
  private partBytes = 0;
  /** The current line is over the limit: its bytes are dropped until its newline. */
  private discarding = false;
  private line = 0;

  constructor(private readonly max: number) {}

  /** Complete lines in `chunk`; `bytes` is undefined for a line over the limit. */
  push(chunk: Buffer): { line: number; bytes: Buffer | undefined }[] {
    const out: { line: number; bytes: Buffer | undefined }[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      const end = nl === -1 ? chunk.length : nl;
      if (!this.discarding) {
        // max + 1: the last byte may be the \r of \r\n, which is not part of the line (checked in take()).
        if (this.partBytes + (end - start) > this.max + 1) {
          this.discarding = true;
          this.parts = [];
          this.partBytes = 0;
        } else if (end > start) {
          this.parts.push(chunk.subarray(start, end));
          this.partBytes += end - start;
        }
      }
      if (nl === -1) return out;
      out.push(this.take());
      start = nl + 1;
    }
  }

  /** The last line when the body does not end with a newline. */
  end(): { line: number; bytes: Buffer | undefined }[] {
    return this.discarding || this.partBytes > 0 ? [this.take()] : [];
  }

  private take(): { line: number; bytes: Buffer | undefined } {
    this.line++;
    let bytes: Buffer | undefined;
    if (!this.discarding) {
      bytes = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.partBytes);
      if (bytes.length > 0 && bytes[bytes.length - 1] === 13) bytes = bytes.subarray(0, bytes.length - 1);
      if (this.line === 1 && hasUtf8Bom(bytes)) bytes = bytes.subarray(3);
      if (bytes.length > this.max) bytes = undefined;
    }
    this.parts = [];
    this.partBytes = 0;
    this.discarding = false;
    return { line: this.line, bytes };
  }
}

/** Empty or only spaces and tabs: skipped, not an error (most writers end files with a newline, some with several). */
function isBlank(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d) return false;
  }
  return true;
}

function clientGone(req: Request, res: Response): boolean {
  return (!req.complete && req.destroyed) || res.destroyed || req.socket.destroyed;
}

function isZlibError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('Z_');
}

/** The line's own OperationOutcome (as a single create would answer it), each issue marked with its line. */
function lineOutcome(line: number, issues: OperationOutcomeIssue[]): OperationOutcome {
  return outcome(firstIssues(issues, MAX_ISSUES_PER_LINE, 'on this line').map((i) => ({ ...i, extension: [...(i.extension ?? []), { url: ISSUE_LINE_URL, valueInteger: line }] })));
}

function summaryText(t: Tally): string {
  return `${t.lines} lines read: ${t.accepted} accepted (${t.created} created, ${t.updated} updated), ${t.rejected} rejected, ${t.blank} blank`;
}

const highestLine = (rs: { line: number }[]) => rs.reduce((hi, r, i) => (r.line > rs[hi]!.line ? i : hi), 0);

/** The answer: counts, then one `rejection` per rejected line (line, status, OperationOutcome). See docs/bulk.md. */
function importResult(t: Tally, summary: OperationOutcome): Parameters {
  const parameter: ParametersParameter[] = [
    { name: 'outcome', resource: summary },
    { name: 'lines', valueInteger: t.lines },
    { name: 'accepted', valueInteger: t.accepted },
    { name: 'created', valueInteger: t.created },
    { name: 'updated', valueInteger: t.updated },
    { name: 'rejected', valueInteger: t.rejected },
    { name: 'blank', valueInteger: t.blank },
  ];
  const ordered = [...t.rejections].sort((a, b) => a.line - b.line);
  for (const r of ordered) {
    parameter.push({
      name: 'rejection',
      part: [
        { name: 'line', valueInteger: r.line },
        { name: 'status', valueInteger: r.status },
        { name: 'outcome', resource: r.outcome },
      ],
    });
  }
  return { resourceType: 'Parameters', parameter };
}

/**
 * Sends the answer. When the body was not read to its end (413, 503, corrupt gzip), the rest of it
 * is read and discarded first (for LINGER_MS at most), and only then is the answer sent with
 * `Connection: close`: closing a socket that still has unread data sends a reset, which can destroy
 * the answer before the client read it (RFC 9112 section 9.6, "Tear-down").
 */
function send(req: Request, res: Response, status: number, body: Parameters | OperationOutcome, complete: boolean): void {
  const answer = () => {
    if (res.headersSent || res.destroyed) return;
    if (!complete) res.setHeader('Connection', 'close');
    res.status(status).type('application/fhir+json').send(body);
  };
  if (complete || req.readableEnded) return answer();
  req.unpipe();
  req.resume();
  const timer = setTimeout(answer, LINGER_MS);
  timer.unref();
  const done = () => {
    clearTimeout(timer);
    answer();
  };
  req.once('end', done);
  req.once('close', done);
}
