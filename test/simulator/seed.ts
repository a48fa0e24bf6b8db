// CLI (`npm run seed -- [--url URL]`): registers the SANER example Measures, Organizations and
// Locations (test/fixtures/saner) with a running ingest, so reports can be validated against their
// Measure and facilities resolve to their county and state.
import { parseArgs } from 'node:util';
import { fixture, fixtureNames } from '../helpers/fixtures.js';
import { putResource } from './post.js';

const { values: a } = parseArgs({ options: { url: { type: 'string', default: 'http://127.0.0.1:8080' } } });
const url = a.url!.replace(/\/$/, '');
let failed = 0;
for (const dir of ['measures', 'organizations', 'locations']) {
  const names = fixtureNames(`saner/${dir}`);
  const statuses = await Promise.all(names.map((n) => putResource(url, fixture(`saner/${dir}/${n}`) as { resourceType: string; id?: string })));
  const bad = statuses.filter((s) => s >= 300).length;
  failed += bad;
  console.log(`${dir}: ${names.length - bad} accepted${bad ? `, ${bad} refused` : ''}`);
}
process.exitCode = failed ? 1 : 0;
