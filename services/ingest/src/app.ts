// createApp(deps): the ingest HTTP app. Routes first, then the one error handler that turns every
// error into a FHIR OperationOutcome response. createServer(app): the HTTP server that serves it.
import express, { type ErrorRequestHandler, type RequestHandler } from 'express';
import http from 'node:http';
import type { Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { DependencyUnavailableError, OperationOutcomeError } from '@sitrep/shared/errors';
import { issue, outcome } from '@sitrep/shared/fhir/outcome';
import type { Logger } from '@sitrep/shared/log';
import type { Acceptor } from './accept.js';
import type { Catalog } from './catalog.js';
import { IMPORT_PATH } from './http.js';
import { metadataRoutes } from './routes/metadata.js';
import { resourceRoutes } from './routes/resources.js';
import { bulkRoutes } from './routes/bulk.js';
import { reportCsvRoutes } from './routes/report-csv.js';
import { batchRoutes } from './routes/batch.js';

export interface AppDeps {
  acceptor: Acceptor;
  catalog: Catalog;
  log: Logger;
  /** Ready when Kafka is reachable and the catalog has caught up. */
  isReady: () => { ready: boolean; checks: Record<string, boolean> };
  maxBodyBytes: number;
  /** Limits of NDJSON bulk push (POST /MeasureReport/$import); defaults in routes/bulk.ts. */
  ndjson?: { maxLineBytes: number; maxBodyBytes: number };
  publicBaseUrl?: string;
  retryAfterSeconds?: number;
  version?: string;
  /** Bound on receiving a body that is read whole (every route but the NDJSON import); default 60 s. */
  bodyTimeoutMs?: number;
}

/** Resource types this server knows, and the methods each accepts (for 404 versus 405). */
const KNOWN: Record<string, string[]> = {
  MeasureReport: ['POST', 'PUT'],
  Measure: ['GET', 'PUT'],
  Location: ['GET', 'PUT'],
  Organization: ['GET', 'PUT'],
  metadata: ['GET'],
  '': ['POST'], // [base]: batch Bundles
};

export function createApp(d: AppDeps): express.Express {
  const bodyTimeoutMs = d.bodyTimeoutMs ?? 60_000;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  const requestContext: RequestHandler = (req, res, next) => {
    const given = req.headers['x-request-id'];
    const requestId = typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
    res.locals.requestId = requestId;
    res.setHeader('X-Request-Id', requestId);
    const started = performance.now();
    // A body read whole must arrive within bodyTimeoutMs: a client trickling a byte now and then
    // holds its connection and its buffer (up to MAX_BODY_BYTES) for as long as it likes, since the
    // socket's idle timeout never fires. The NDJSON import streams (its lines are answered as they come).
    // Cleared when the body has all come (read, or discarded after an early answer such as a 405).
    if (!req.complete && !IMPORT_PATH.test(req.path)) {
      const timer = setTimeout(() => {
        if (!req.complete) req.socket.destroy();
      }, bodyTimeoutMs);
      const done = () => clearTimeout(timer);
      req.once('end', done);
      req.once('close', done);
    }
    res.on('finish', () => {
      if (req.path === '/healthz' || req.path === '/readyz') return;
      d.log.info({ requestId, method: req.method, path: req.path, status: res.statusCode, ms: Math.round(performance.now() - started) }, 'request');
    });
    next();
  };
  app.use(requestContext);

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'alive' });
  });
  app.get('/readyz', (_req, res) => {
    const r = d.isReady();
    res.status(r.ready ? 200 : 503).json(r);
  });
  // The resource routes first: single creates are most of the traffic, and every router mounted
  // before a route costs each of its requests a pass through that router's layers (~8% of
  // ingest's CPU per report in bench:ingest's profile). They leave /MeasureReport/$import alone.
  app.use(resourceRoutes({ acceptor: d.acceptor, catalog: d.catalog, maxBodyBytes: d.maxBodyBytes, publicBaseUrl: d.publicBaseUrl }));
  app.use(bulkRoutes({ acceptor: d.acceptor, log: d.log, ...d.ndjson, retryAfterSeconds: d.retryAfterSeconds ?? 5 }));
  app.use(reportCsvRoutes({ acceptor: d.acceptor, catalog: d.catalog, log: d.log, maxBodyBytes: d.maxBodyBytes, publicBaseUrl: d.publicBaseUrl, retryAfterSeconds: d.retryAfterSeconds ?? 5 }));
  app.use(batchRoutes({ acceptor: d.acceptor, maxBodyBytes: d.maxBodyBytes, publicBaseUrl: d.publicBaseUrl, retryAfterSeconds: d.retryAfterSeconds ?? 5 }));
  app.use(metadataRoutes(d.version ?? '0.1.0'));

  // Nothing matched: 405 for a known resource type with a method it does not support, else 404.
  app.use((req, res, next) => {
    const type = req.path.split('/')[1] ?? '';
    const methods = KNOWN[type];
    if (methods) {
      // RFC 9110 section 15.5.6: a 405 MUST carry Allow.
      res.setHeader('Allow', methods.join(', '));
      next(OperationOutcomeError.single(405, 'not-supported', `${req.method} is not supported on ${req.path}; supported: ${methods.join(', ')}`));
    } else {
      next(OperationOutcomeError.single(404, 'not-found', `no route for ${req.method} ${req.path}: unknown resource type or operation`));
    }
  });

  const onError: ErrorRequestHandler = (err, req, res, _next) => {
    const requestId = String(res.locals.requestId ?? '');
    const send = (status: number, body: unknown) => {
      if (res.headersSent) return;
      res.status(status).type('application/fhir+json').send(body);
    };
    if (err instanceof OperationOutcomeError) return send(err.status, err.outcome);
    if (err instanceof DependencyUnavailableError) {
      res.setHeader('Retry-After', String(d.retryAfterSeconds ?? 5));
      return send(503, outcome([issue('transient', `${err.dependency} is unavailable; this may not have been stored. Retry later: a re-send updates the same resource, never duplicates it`)]));
    }
    const e = err as { type?: string; status?: number; message?: string };
    if (e.type === 'entity.too.large') {
      return send(413, outcome([issue('too-costly', `the body is larger than the limit of ${d.maxBodyBytes} bytes`)]));
    }
    if (e.type === 'encoding.unsupported' || e.type === 'charset.unsupported') {
      return send(415, outcome([issue('not-supported', e.message ?? 'unsupported encoding')]));
    }
    if (e.type === 'request.aborted') return;
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
      return send(e.status, outcome([issue('invalid', e.message ?? 'bad request')]));
    }
    d.log.error({ err, requestId, path: req.path }, 'request_failed');
    send(500, outcome([issue('exception', `internal error (request id ${requestId})`)]));
  };
  app.use(onError);
  return app;
}

/**
 * The HTTP server for an app: its requests and responses are born with the app's own prototypes.
 * NOTE: Express gives every request and response the app's prototypes (Object.setPrototypeOf in
 * app.handle), which makes V8 drop the optimized property access of every object it touches after
 * that, in Node's http code as in ours. Made with those prototypes already, Express's call changes
 * nothing. Measured here: ingest with a publisher stand-in 349-379 -> 216-228 us of CPU per report,
 * a bare Express app 205-209 -> 104-108 us (node:http alone 81-97 us).
 * https://github.com/expressjs/express/issues/5998
 */
export function createServer(app: express.Express): http.Server {
  // Function constructors, not classes: a class's prototype cannot be assigned, and the prototype
  // must be the app's object itself for Express's Object.setPrototypeOf to be a no-op.
  function AppRequest(this: http.IncomingMessage, socket: Socket): void {
    Reflect.apply(http.IncomingMessage, this, [socket]);
  }
  AppRequest.prototype = app.request;
  function AppResponse(this: http.ServerResponse, req: http.IncomingMessage, options?: object): void {
    Reflect.apply(http.ServerResponse, this, [req, options]);
  }
  AppResponse.prototype = app.response;
  return http.createServer(
    { IncomingMessage: AppRequest as unknown as typeof http.IncomingMessage, ServerResponse: AppResponse as unknown as typeof http.ServerResponse },
    app,
  );
}
