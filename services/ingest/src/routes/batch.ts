// Batch and transaction Bundles (POST /): being written — see issue "Ingest".
import { Router } from 'express';
import type { Acceptor } from '../accept.js';

export interface BatchRouteDeps {
  acceptor: Acceptor;
  maxBodyBytes: number;
  publicBaseUrl: string | undefined;
}

export function batchRoutes(_d: BatchRouteDeps): Router {
  return Router();
}
