/**
 * Writes a pgbench script that runs Parley's accept transaction exactly as ConversationService.accept does
 * (ACCEPT_SQL, then pg-boss's job insert, one transaction), with literal parameters: a one-to-one message
 * under the default policy, from one of 100,000 senders. For measuring the SQL alone, straight against
 * Postgres, e.g. to compare schema variants (docs/benchmarks.md, "Fewer indexes do not help"):
 *
 *   tsc -p tsconfig.bench.json && node dist/bench/accept-pgbench.js <bot provider id> > accept.pgbench
 *   psql <db> -c 'VACUUM ANALYZE'
 *   pgbench -n -M prepared -f accept.pgbench -c 16 -j 2 -T 10 <db>
 *
 * The database needs Parley's schema, pg-boss's `answer` queue and a bot provider (start Parley on it once
 * and create a bot through the admin API).
 */
import plans from 'pg-boss/src/plans.js';
import { ACCEPT_SQL } from '../src/conversation/accept.sql.js';

const literal = (value: string) => `'${value.replaceAll("'", "''")}'`;

function substitute(sql: string, values: Record<number, string>): string {
  return sql
    .replace(/\$(\d+)/g, (_match, index: string) => values[Number(index)] ?? 'NULL')
    .replace(/\s+/g, ' ')
    .trim();
}

function script(botProviderId: string): string {
  const sender = `'u' || :uid`;
  const accept = substitute(ACCEPT_SQL, {
    1: literal(botProviderId),
    2: literal('cometchat'),
    3: sender,
    4: 'false',
    5: sender,
    7: sender,
    8: `'m' || :mid`,
    9: literal('How do I reset my password?'),
    11: literal(JSON.stringify({ receiver: 'u', receiverType: 'user' })),
    12: literal(JSON.stringify({ data: { id: 1, text: 'How do I reset my password?' } })),
    14: '20',
    15: '0',
    16: literal(JSON.stringify({ 'rate-limited': 'Please wait.', 'budget-exhausted': 'Try tomorrow.' })),
    17: 'now()',
  });
  // pg-boss's createJob parameters: id, name, data, then options Parley leaves unset (8 = singleton offset).
  const job = substitute(plans.insertJob('pgboss'), {
    1: ':answer_id',
    2: literal('answer'),
    3: `jsonb_build_object('answerId', :answer_id::text)::text`,
    8: '0',
  });
  return [
    '\\set uid random(1, 100000)',
    '\\set mid random(1, 1000000000000)',
    'BEGIN;',
    `${accept} \\gset`,
    `${job};`,
    'COMMIT;',
    '',
  ].join('\n');
}

const botProviderId = process.argv[2];
if (!botProviderId) {
  process.stderr.write('usage: node dist/bench/accept-pgbench.js <bot provider id> > accept.pgbench\n');
  process.exit(1);
}
process.stdout.write(script(botProviderId));
