// CLI: apply the ClickHouse migrations and exit (`npm run migrate`). The aggregator also runs them at start.
import { z } from 'zod';
import { commonSchema, parseConfig } from '@sitrep/shared/config';
import { createLogger } from '@sitrep/shared/log';
import { createClickHouse } from './writer.js';
import { migrate, MIGRATION_TIMEOUT_MS } from './migrations.js';

const config = parseConfig(z.object(commonSchema));
const log = createLogger('migrate', config.LOG_LEVEL);
const client = createClickHouse({ url: config.CLICKHOUSE_URL, username: config.CLICKHOUSE_USER, password: config.CLICKHOUSE_PASSWORD, requestTimeoutMs: MIGRATION_TIMEOUT_MS, log });
const applied = await migrate(client, config.CLICKHOUSE_DATABASE, log);
log.info({ applied }, applied.length ? 'migrations_applied' : 'schema_up_to_date');
await client.close();
