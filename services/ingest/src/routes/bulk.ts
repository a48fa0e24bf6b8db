// NDJSON bulk push (POST /MeasureReport/$import): being written — see issue "Bulk intake".
import { Router } from 'express';
import type { Acceptor } from '../accept.js';
import type { Logger } from '@sitrep/shared/log';

export interface BulkRouteDeps {
  acceptor: Acceptor;
  log: Logger;
  maxLineBytes?: number;
  maxBodyBytes?: number;
  retryAfterSeconds?: number;
}

export function bulkRoutes(_d: BulkRouteDeps): Router {
  return Router();
}
