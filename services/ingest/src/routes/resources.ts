// FHIR REST routes of the resources ingest accepts: MeasureReport create/update (PUSH-TX) and
// Measure, Location and Organization update/read (the reference data every service needs).
import { Router, raw } from 'express';
import { isUtf8 } from 'node:buffer';
import { OperationOutcomeError } from '@sitrep/shared/errors';
import type { ResourceKind } from '@sitrep/shared/contracts/records';
import type { Acceptor } from '../accept.js';
import type { Catalog } from '../catalog.js';
import { acceptContext, baseUrl, IMPORT_PATH, parseJsonBody, requireJsonBody, requireJsonResponse, sendAccepted } from '../http.js';

export interface ResourceRouteDeps {
  acceptor: Acceptor;
  catalog: Catalog;
  maxBodyBytes: number;
  publicBaseUrl: string | undefined;
}

const REFERENCE_KINDS = ['Measure', 'Location', 'Organization'] as const;

export function resourceRoutes(d: ResourceRouteDeps): Router {
  const router = Router();
  const body = raw({ type: () => true, limit: d.maxBodyBytes });

  const accept = (kind: ResourceKind, urlId: string | undefined) =>
    async (req: import('express').Request, res: import('express').Response) => {
      refuseConditions(req);
      requireJsonResponse(req);
      requireJsonBody(req);
      const input = parseJsonBody(req);
      // The body becomes the record as it is, unless it is not UTF-8 (parsing replaced bad bytes).
      const json = isUtf8(req.body as Buffer) ? (req.body as Buffer) : undefined;
      const accepted = await d.acceptor.accept(kind, input, acceptContext(req, res, urlId), json);
      sendAccepted(req, res, input, accepted, baseUrl(req, d.publicBaseUrl));
    };

  router.post('/MeasureReport', body, (req, res) => accept('MeasureReport', undefined)(req, res));
  // The $import operation's path (its router comes after this one) is not an id.
  router.put('/MeasureReport/:id', (req, _res, next) => next(IMPORT_PATH.test(req.path) ? 'route' : undefined), body, (req, res) => accept('MeasureReport', String(req.params.id))(req, res));

  for (const kind of REFERENCE_KINDS) {
    router.put(`/${kind}/:id`, body, (req, res) => accept(kind, String(req.params.id))(req, res));
    router.get(`/${kind}/:id`, (req, res) => {
      requireJsonResponse(req);
      const id = String(req.params.id);
      const stored = d.catalog.getReference(kind, id);
      if (!stored) throw OperationOutcomeError.single(404, 'not-found', `${kind}/${id} is not known`);
      res.setHeader('ETag', `W/"${stored.versionId}"`);
      res.setHeader('Last-Modified', new Date(stored.lastUpdated).toUTCString());
      res.type('application/fhir+json').send({
        ...stored.resource,
        id,
        meta: { ...((stored.resource.meta as object | undefined) ?? {}), versionId: stored.versionId, lastUpdated: stored.lastUpdated },
      });
    });
  }
  return router;
}

/**
 * Conditional create and update are not implemented (the CapabilityStatement says so), and a
 * server that ignored the header would do what the client asked it not to: overwrite a newer
 * version past an If-Match, create past an If-None-Exist. Refused, as in a batch.
 */
const CONDITIONS = ['if-match', 'if-none-exist', 'if-none-match', 'if-modified-since'] as const;

function refuseConditions(req: import('express').Request): void {
  for (const h of CONDITIONS) {
    if (req.headers[h] !== undefined) throw OperationOutcomeError.single(400, 'not-supported', `conditional requests (${h}) are not supported`);
  }
}
