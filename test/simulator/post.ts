// Sends simulated reports to ingest over HTTP with bounded concurrency (and an optional rate).
// Versions of one report are sent one after another, so the last in the list is the last accepted.
import http from 'node:http';
import type { MeasureReport } from 'fhir/r4.js';
import { businessKey, businessKeyString } from '@sitrep/shared/fhir/identity';

export interface PostResult {
  status: number;
  ms: number;
  /** performance.now() when the answer arrived. */
  at: number;
  id?: string;
}

export interface PostOptions {
  concurrency?: number;
  /** Reports per second at most (undefined: as fast as the server answers). */
  rate?: number;
  /** Called after each answer, e.g. to kill an aggregator half way. */
  onProgress?: (done: number) => void | Promise<void>;
}

/** One keep-alive connection per concurrent sender. node:http costs a fraction of fetch()'s CPU,
 *  which matters when the load generator shares two cores with the system it measures. */
function post(agent: http.Agent, url: URL, body: string): Promise<{ status: number; location: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'application/fhir+json', prefer: 'return=minimal', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, location: String(res.headers.location ?? '') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** What a sender needs of a report: its body and business key, built once before any timing starts. */
export interface PreparedPost {
  body: string;
  key: string;
}

export function preparePosts(reports: MeasureReport[]): PreparedPost[] {
  return reports.map((report) => ({ body: JSON.stringify(report), key: businessKeyString(businessKey(report)) }));
}

export function postReports(baseUrl: string, reports: MeasureReport[], o: PostOptions = {}): Promise<PostResult[]> {
  return postPrepared(baseUrl, preparePosts(reports), o);
}

/** Posts prepared reports: a benchmark's load generator spends its time on HTTP, not on serializing. */
export async function postPrepared(baseUrl: string, posts: PreparedPost[], o: PostOptions = {}): Promise<PostResult[]> {
  const results: PostResult[] = new Array(posts.length);
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency ?? 16 });
  const url = new URL(`${baseUrl}/MeasureReport`);
  const lastOfKey = new Map<string, Promise<unknown>>();
  const started = performance.now();
  let next = 0;
  let done = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= posts.length) return;
      if (o.rate) {
        const due = started + (i / o.rate) * 1000;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      const { body, key } = posts[i]!;
      const previous = lastOfKey.get(key);
      const mine = (async () => {
        await previous;
        const t0 = performance.now();
        const res = await post(agent, url, body);
        const at = performance.now();
        const id = res.location.match(/MeasureReport\/([^/]+)/)?.[1];
        results[i] = { status: res.status, ms: at - t0, at, ...(id ? { id } : {}) };
      })();
      lastOfKey.set(key, mine);
      await mine;
      if (lastOfKey.get(key) === mine) lastOfKey.delete(key);
      await o.onProgress?.(++done);
    }
  };
  await Promise.all(Array.from({ length: o.concurrency ?? 16 }, worker));
  agent.destroy();
  return results;
}

export async function putResource(baseUrl: string, resource: { resourceType: string; id?: string }): Promise<number> {
  const res = await fetch(`${baseUrl}/${resource.resourceType}/${resource.id}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/fhir+json', prefer: 'return=minimal' },
    body: JSON.stringify(resource),
  });
  await res.arrayBuffer();
  return res.status;
}
