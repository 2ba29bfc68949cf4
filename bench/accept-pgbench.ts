/**
 * Writes a pgbench script that runs Parley's accept statement exactly as ConversationService.accept does
 * (ACCEPT_SQL: chat, message and answer in one statement) for a batch of one, with literal parameters: a
 * one-to-one message under the default policy, from one of 100,000 senders. For measuring the SQL alone, straight against
 * Postgres, e.g. to compare schema variants (docs/benchmarks.md, "Fewer indexes do not help"):
 *
 *   tsc -p tsconfig.bench.json && node dist/bench/accept-pgbench.js <bot provider id> > accept.pgbench
 *   psql <db> -c 'VACUUM ANALYZE'
 *   pgbench -n -M prepared -f accept.pgbench -c 16 -j 2 -T 10 <db>
 *
 * The database needs Parley's schema and a bot provider (start Parley on it once
 * and create a bot through the admin API). New rows' ids are random here (gen_random_uuid), where Parley's
 * are time-ordered: bench/accept-cpu.ts measures the difference.
 */
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
  const row = `jsonb_build_array(jsonb_build_object('ord', 0, 'question_id', gen_random_uuid(),
    'answer_id', gen_random_uuid(), 'bot_provider_id', ${literal(botProviderId)},
    'platform', 'cometchat', 'chat_key', ${sender}, 'sender_id', ${sender}, 'conversation_key', ${sender},
    'platform_message_id', 'm' || :mid, 'content', ${literal('How do I reset my password?')},
    'reply_target', ${literal(JSON.stringify({ receiver: 'u', receiverType: 'user' }))}::jsonb,
    'raw', ${literal(JSON.stringify({ data: { id: 1, text: 'How do I reset my password?' } }))}::jsonb,
    'rate_limit', 20, 'earlier_from_sender', 0, 'token_budget', 0))`;
  const chat = `jsonb_build_array(jsonb_build_object('id', gen_random_uuid(), 'bot_provider_id', ${literal(botProviderId)},
    'platform', 'cometchat', 'chat_key', ${sender}, 'is_group', false, 'message_count', 1,
    'senders', jsonb_build_array(jsonb_build_object('id', ${sender}, 'name', NULL))))`;
  const accept = substitute(ACCEPT_SQL, { 1: row, 2: chat });
  return ['\\set uid random(1, 100000)', '\\set mid random(1, 1000000000000)', `${accept};`, ''].join('\n');
}

const botProviderId = process.argv[2];
if (!botProviderId) {
  process.stderr.write('usage: node dist/bench/accept-pgbench.js <bot provider id> > accept.pgbench\n');
  process.exit(1);
}
process.stdout.write(script(botProviderId));
