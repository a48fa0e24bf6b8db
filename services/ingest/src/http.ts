// FHIR REST plumbing for ingest: media types, body parsing, Prefer handling and resource responses.
import type { Request, Response } from 'express';
import { OperationOutcomeError } from '@sitrep/shared/errors';
import { outcome, issue } from '@sitrep/shared/fhir/outcome';
import { randomUUID } from 'node:crypto';
import type { Sender } from '@sitrep/shared/contracts/records';
import { storedResource, type AcceptContext, type Accepted } from './accept.js';

const JSON_TYPES = new Set(['application/fhir+json', 'application/json', 'application/json+fhir']);
const FORMAT_JSON = new Set(['json', 'application/json', 'application/fhir+json']);

/** The media type of the request body, without parameters, lower-cased ('' when absent). */
export function mediaType(req: Request): string {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

/** 415 unless the body is FHIR JSON (Content-Type, or `_format` when the header is absent). */
export function requireJsonBody(req: Request): void {
  const type = mediaType(req);
  const format = typeof req.query._format === 'string' ? req.query._format.toLowerCase() : undefined;
  if (JSON_TYPES.has(type) || (!type && format && FORMAT_JSON.has(format))) return;
  throw OperationOutcomeError.single(415, 'not-supported', `unsupported media type "${type || '(none)'}": send application/fhir+json or application/json`);
}

/** 406-free negotiation: only JSON is produced; `_format` asking for XML is refused. */
export function requireJsonResponse(req: Request): void {
  const format = typeof req.query._format === 'string' ? req.query._format.toLowerCase() : undefined;
  if (format && !FORMAT_JSON.has(format)) {
    throw OperationOutcomeError.single(415, 'not-supported', `_format=${format} is not supported: only JSON is`);
  }
}

/** Parses the raw body (a Buffer from express.raw) as JSON, or 400 with where it broke. */
export function parseJsonBody(req: Request): unknown {
  const raw: unknown = req.body;
  if (!Buffer.isBuffer(raw) || raw.length === 0) throw OperationOutcomeError.single(400, 'structure', 'the request has no body');
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw OperationOutcomeError.single(400, 'structure', `the body is not valid JSON: ${(err as Error).message}`);
  }
}

export interface Prefer {
  return: 'minimal' | 'representation' | 'OperationOutcome';
  lenient: boolean;
}

export function prefer(req: Request): Prefer {
  const header = String(req.headers.prefer ?? '');
  const p: Prefer = { return: 'representation', lenient: false };
  for (const part of header.split(/[,;]/)) {
    const [name, value] = part.trim().split('=').map((s) => s?.trim().replace(/^"|"$/g, ''));
    if (name === 'return' && (value === 'minimal' || value === 'representation' || value === 'OperationOutcome')) p.return = value;
    if (name === 'handling' && value === 'lenient') p.lenient = true;
  }
  return p;
}

export function baseUrl(req: Request, configured: string | undefined): string {
  return configured ?? `${req.protocol}://${req.get('host') ?? 'localhost'}`;
}

/** The FHIR answer to a successful create or update of `input`: status, Location, ETag, Last-Modified, body per Prefer. */
export function sendAccepted(req: Request, res: Response, input: unknown, a: Accepted, base: string): void {
  const p = prefer(req);
  const lastModified = new Date(a.lastUpdated);
  res.status(a.created ? 201 : 200);
  res.setHeader('Location', `${base}/${a.resourceType}/${a.id}/_history/${a.versionId}`);
  res.setHeader('ETag', `W/"${a.versionId}"`);
  res.setHeader('Last-Modified', lastModified.toUTCString());
  if (p.return === 'minimal') {
    res.end();
    return;
  }
  res.type('application/fhir+json');
  if (p.return === 'OperationOutcome') {
    res.send(
      outcome([
        issue('informational', `${a.resourceType}/${a.id} ${a.created ? 'created' : 'updated'} as version ${a.versionId}`, undefined, 'information'),
        ...a.warnings,
      ]),
    );
    return;
  }
  res.send(withMeta(storedResource(input, a.id), a));
}

/** The stored resource as a read answers it: with its version and time in meta. */
export function withMeta(resource: Record<string, unknown>, a: Pick<Accepted, 'versionId' | 'lastUpdated'>): Record<string, unknown> {
  const meta = { ...((resource.meta as object | undefined) ?? {}), versionId: a.versionId, lastUpdated: a.lastUpdated };
  return { ...resource, meta };
}

/** Until authentication exists every sender is anonymous; the record format already carries who it is. */
const ANONYMOUS: Sender = { type: 'anonymous', id: 'anonymous' };

/** The context of one request for Acceptor.accept(): request id, sender, receive time, leniency. */
export function acceptContext(req: Request, res: Response, urlId?: string): AcceptContext {
  return {
    requestId: String(res.locals.requestId ?? randomUUID()),
    sender: ANONYMOUS,
    receivedAt: new Date().toISOString(),
    lenient: prefer(req).lenient,
    ...(urlId !== undefined ? { urlId } : {}),
  };
}

/** The NDJSON import's path as Express matches it: case-insensitive, with or without a trailing slash. */
export const IMPORT_PATH = /^\/measurereport\/\$import\/?$/i;
