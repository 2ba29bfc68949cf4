/**
 * Postgres's own cost of Parley's accept statement (ACCEPT_SQL), repeatably:
 * runs it `--statements` times per round on one connection, one message per statement as under light load
 * (the open loop's batches are 1.0–1.1), and reads the serving backend's CPU time from /proc — so the
 * database must be on this machine. CPU rather than wall time: other work on a shared machine hardly moves
 * it, where the webhook benchmark's tail moves a lot (docs/benchmarks.md, "2026-12-04, late night").
 *
 *   tsc -p tsconfig.bench.json && node dist/bench/accept-cpu.js <database url> <bot provider id> \
 *     [--statements 3000] [--rounds 3] [--ids v7|random|both]
 *
 * Each round starts with a CHECKPOINT (so the user must be allowed to run one) and also reports the WAL
 * written meanwhile (the whole server's: keep other work off it) and how many whole pages it held. `--ids both` alternates time-ordered ids, as Parley makes them, with
 * random ones in every round.
 *
 * The database needs Parley's schema and a bot provider, e.g. the webhook
 * benchmark's (`npm run bench:webhooks -- --channels cometchat --duration 3 --keep-database`; any provider
 * id of its `providers` table). To compare two builds, run each build's copy of this script in turn.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { timeOrderedId } from '../src/common/ids.js';
import { ACCEPT_SQL, type AcceptChatRow, type AcceptRow } from '../src/conversation/accept.sql.js';
import { CLOCK_TICKS_PER_SECOND, processTicks } from './lib/processes.js';

const WARM_UP_STATEMENTS = 50;
/** Senders (and chats) the messages cycle through: most statements update a chat, some create one. */
const SENDERS = 5000;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    statements: { type: 'string', default: '3000' },
    rounds: { type: 'string', default: '3' },
    ids: { type: 'string', default: 'v7' },
  },
});
const [databaseUrl, botProviderId] = positionals;
if (!databaseUrl || !botProviderId) {
  process.stderr.write(
    'usage: node dist/bench/accept-cpu.js <database url> <bot provider id> [--statements n] [--rounds n] ' +
      '[--ids v7|random|both]\n',
  );
  process.exit(1);
}

const run = randomBytes(4).toString('hex');

/** New rows' ids: time-ordered as Parley makes them (v7), or random (v4), or each in turn per round (both). */
const ID_KINDS = { v7: timeOrderedId, random: randomUUID } as const;
type IdKind = keyof typeof ID_KINDS;
const idKinds: IdKind[] = values.ids === 'both' ? ['v7', 'random'] : [values.ids as IdKind];
if (!idKinds.every((kind) => kind in ID_KINDS)) throw new Error('--ids is v7, random or both');

/** One one-to-one message under the default policy, as ConversationService.accept plans it. */
function parameters(index: number, newId: () => string): unknown[] {
  const sender = `accept-cpu-${index % SENDERS}`;
  const text = 'How do I reset my password?';
  const row: AcceptRow = {
    ord: 0,
    question_id: newId(),
    answer_id: newId(),
    bot_provider_id: botProviderId,
    platform: 'cometchat',
    chat_key: sender,
    sender_id: sender,
    sender_name: null,
    conversation_key: sender,
    platform_message_id: `accept-cpu-${run}-${index}`,
    content: text,
    quoted_text: null,
    reply_target: { receiver: sender, receiverType: 'user' },
    raw: { data: { id: index, text } },
    gate_notice: null,
    rate_limit: 20,
    earlier_from_sender: 0,
    token_budget: 0,
  };
  const chat: AcceptChatRow = {
    id: newId(),
    bot_provider_id: botProviderId,
    platform: 'cometchat',
    chat_key: sender,
    is_group: false,
    senders: [{ id: sender, name: null }],
    message_count: 1,
  };
  return [JSON.stringify([row]), JSON.stringify([chat])];
}

const client = new pg.Client({ connectionString: databaseUrl });
await client.connect();
try {
  const backend = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
  if (!Number.isFinite(processTicks(backend)))
    throw new Error('the database server must run on this machine');
  let index = 0;
  const accept = (kind: IdKind) =>
    client.query({ name: 'accept', text: ACCEPT_SQL, values: parameters(index++, ID_KINDS[kind]) });
  // WAL written so far: bytes from the insert position (exact, immediate); whole pages from pg_stat_wal,
  // which a backend updates only about once a second unless told to flush its counts (Postgres 15+).
  const wal = async () => {
    await client.query('SELECT pg_stat_force_next_flush()');
    return (
      await client.query<{ bytes: string; fpi: string }>(
        `SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint AS bytes, wal_fpi AS fpi
         FROM pg_stat_wal`,
      )
    ).rows[0];
  };
  for (let warm = 0; warm < WARM_UP_STATEMENTS; warm++) await accept(idKinds[0]);
  const statements = Number(values.statements);
  for (let round = 1; round <= Number(values.rounds); round++) {
    for (const kind of idKinds) {
      // Every round starts just after a checkpoint: the first change of each page after one is logged whole.
      await client.query('CHECKPOINT');
      const walBefore = await wal();
      const ticks = processTicks(backend);
      const started = performance.now();
      for (let count = 0; count < statements; count++) await accept(kind);
      const wallMs = (performance.now() - started) / statements;
      const cpuMs = ((processTicks(backend) - ticks) * 1000) / CLOCK_TICKS_PER_SECOND / statements;
      const walAfter = await wal();
      const walKb = (Number(walAfter.bytes) - Number(walBefore.bytes)) / 1024 / statements;
      const fullPages = (Number(walAfter.fpi) - Number(walBefore.fpi)) / statements;
      process.stdout.write(
        `round ${round}, ${kind} ids: ${statements} statements, ${wallMs.toFixed(3)} ms each, backend CPU ` +
          `${cpuMs.toFixed(3)} ms each, WAL ${walKb.toFixed(1)} KB each (${fullPages.toFixed(2)} whole pages)\n`,
      );
    }
  }
  const plansUsed = await client.query<{ generic_plans: string; custom_plans: string }>(
    "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = 'accept'",
  );
  const { generic_plans: generic, custom_plans: custom } = plansUsed.rows[0];
  process.stdout.write(`plans: ${generic} generic, ${custom} custom\n`);
} finally {
  await client.end();
}
