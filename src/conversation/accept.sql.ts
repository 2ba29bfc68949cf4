/**
 * Everything ConversationService.accept stores for a batch of messages, in ONE statement — atomic on its
 * own, so no transaction: one round trip and one commit whether the batch holds one message or fifty, and
 * concurrent webhooks share it:
 * - per message, the notice, if any: the gate's, else the per-user rate limit (per minute, counted from
 *   the messages already stored plus the sender's earlier messages in this batch), else the bot's daily
 *   token budget (bot_daily_tokens: the tokens of the answers finished today) — each checked only when needed;
 * - per chat, one upsert: created, or its counters and participants updated — in (bot, chat key) order, so
 *   that concurrent batches lock shared chats in the same order and cannot deadlock on them;
 * - per message, the user's message, unless this platform message id is already stored for the bot
 *   (a duplicate: no answer id comes back for it). It is stored `waiting`, with the id its answer will have and
 *   its notice, if any, and is itself the answer's place in the queue: the worker that claims it makes the
 *   answer row (AnswerWorker). Nothing else is written: a pg-boss job insert was a fifth of this statement's
 *   time, and the answer row with it a third (docs/benchmarks.md, "2026-12-05: answers claimed from their
 *   rows" and "answer rows made by the workers").
 * The counts see the messages committed before this statement, as a separate query before it would.
 * Messages of one batch get created_at = now() + their position in microseconds, so the order of a
 * conversation's messages stays the order they were accepted in (the inserts themselves need no sort).
 * Ids come in as parameters, time-ordered (UUIDv7): new rows then land at the right edge of the primary
 * keys and of the answer_id index instead of on a random page each, so the first change of a
 * page after a checkpoint, which Postgres logs as the whole page, happens once per page rather than per row
 * (docs/benchmarks.md, "2026-12-05: time-ordered ids").
 * Postgres sets up every node of the plan again on each execution, about a fifth of the statement's time, so
 * the statement has no node that most batches do not need: the token budget is a subquery per message, run
 * only for a bot that has a budget (docs/benchmarks.md, "2026-12-04, late night").
 * On its own (no imports) so the webhook benchmark's bare server (bench/bare-ceiling.ts) can run exactly
 * this statement without loading the application.
 *
 * Parameters: $1 the messages (JSON array of AcceptRow), $2 the chats (JSON array of AcceptChatRow).
 * Returns one row per message, in `ord` order: `ord`, `chat_id`, `answer_id` (null for a duplicate) and
 * `notice`. A duplicate was counted in its chat all the same: the caller takes that count back
 * (UNCOUNT_DUPLICATES_SQL). Redeliveries are rare, so that second statement is too; checking for them
 * up front would cost every batch a lookup (and, planned while the table was small, a sequential scan).
 */
export const ACCEPT_SQL = `
  WITH input AS (
    SELECT * FROM jsonb_to_recordset($1::jsonb) AS m (
      ord int, question_id uuid, answer_id uuid, bot_provider_id uuid, platform text, chat_key text,
      sender_id text, sender_name text,
      conversation_key text, platform_message_id text, content text, quoted_text text, reply_target jsonb,
      raw jsonb, gate_notice text, rate_limit int, earlier_from_sender int, token_budget bigint)
  ),
  quota AS (
    SELECT m.ord, CASE
      WHEN m.gate_notice IS NOT NULL THEN m.gate_notice
      WHEN m.rate_limit > 0 AND m.earlier_from_sender + (
        SELECT count(*)::int FROM messages r
        WHERE r.bot_provider_id = m.bot_provider_id AND r.sender_id = m.sender_id AND r.role = 'user'
          AND r.created_at > now() - interval '1 minute'
      ) >= m.rate_limit THEN 'rate-limited'
      WHEN m.token_budget > 0 AND (
        SELECT coalesce(sum(s.tokens), 0) FROM bot_daily_tokens s
        WHERE s.bot_provider_id = m.bot_provider_id AND s.day = current_date
      ) >= m.token_budget THEN 'budget-exhausted'
    END AS notice
    FROM input m
  ),
  chat AS (
    INSERT INTO chats (id, bot_provider_id, platform, chat_key, is_group, participants, message_count, last_message_at)
    SELECT c.id, c.bot_provider_id, c.platform, c.chat_key, c.is_group,
      jsonb_path_query_array(c.senders, '$[0 to 49]'), c.message_count, now()
    FROM jsonb_to_recordset($2::jsonb) AS c (
      id uuid, bot_provider_id uuid, platform text, chat_key text, is_group boolean, senders jsonb, message_count int)
    ORDER BY c.bot_provider_id, c.chat_key
    ON CONFLICT (bot_provider_id, chat_key) DO UPDATE SET
      message_count = chats.message_count + excluded.message_count,
      last_message_at = now(),
      updated_at = now(),
      participants = CASE
        WHEN jsonb_array_length(chats.participants) >= 50 THEN chats.participants
        ELSE jsonb_path_query_array(chats.participants || coalesce((
          SELECT jsonb_agg(sender) FROM jsonb_array_elements(excluded.participants) AS sender
          WHERE NOT chats.participants @> jsonb_build_array(jsonb_build_object('id', sender -> 'id'))
        ), '[]'::jsonb), '$[0 to 49]')
      END
    RETURNING id, bot_provider_id, chat_key
  ),
  question AS (
    INSERT INTO messages (id, chat_id, bot_provider_id, platform, role, conversation_key, platform_message_id,
      sender_id, sender_name, content, quoted_text, status, answer_id, notice, reply_target, raw, created_at,
      updated_at)
    SELECT m.question_id, chat.id, m.bot_provider_id, m.platform, 'user', m.conversation_key, m.platform_message_id,
      m.sender_id, m.sender_name, m.content, m.quoted_text, 'waiting', m.answer_id, quota.notice, m.reply_target, m.raw,
      now() + m.ord * interval '1 microsecond', now()
    FROM input m
    JOIN chat ON chat.bot_provider_id = m.bot_provider_id AND chat.chat_key = m.chat_key
    JOIN quota ON quota.ord = m.ord
    ON CONFLICT (bot_provider_id, platform_message_id) WHERE role = 'user' DO NOTHING
    RETURNING bot_provider_id, platform_message_id
  )
  SELECT m.ord, chat.id AS chat_id, CASE WHEN q.platform_message_id IS NOT NULL THEN m.answer_id END AS answer_id,
    quota.notice
  FROM input m
  JOIN quota ON quota.ord = m.ord
  JOIN chat ON chat.bot_provider_id = m.bot_provider_id AND chat.chat_key = m.chat_key
  LEFT JOIN question q ON q.bot_provider_id = m.bot_provider_id AND q.platform_message_id = m.platform_message_id
  ORDER BY m.ord`;

/** One message of ACCEPT_SQL's $1. Platform message ids are distinct per bot within a batch. */
export interface AcceptRow {
  ord: number;
  /** The ids of the user's message and of its answer (UUIDv7, see ConversationService's planBatch). */
  question_id: string;
  answer_id: string;
  bot_provider_id: string;
  platform: string;
  chat_key: string;
  sender_id: string;
  sender_name: string | null;
  conversation_key: string;
  platform_message_id: string;
  content: string;
  quoted_text: string | null;
  reply_target: Record<string, unknown>;
  raw: unknown;
  gate_notice: string | null;
  /** The per-user limit per minute (0: none). */
  rate_limit: number;
  /** Messages of the same bot and sender earlier in this batch (they count towards the rate limit). */
  earlier_from_sender: number;
  /** The bot's daily token budget (0: none). */
  token_budget: number;
}

/** One chat of ACCEPT_SQL's $2: each (bot, chat key) of the batch once. */
export interface AcceptChatRow {
  /** The chat's id if the statement creates it (an existing chat keeps its own). */
  id: string;
  bot_provider_id: string;
  platform: string;
  chat_key: string;
  is_group: boolean;
  /** The batch's senders in the chat, each id once: `{ id, name }`. */
  senders: { id: string; name: string | null }[];
  /** The batch's messages in the chat. */
  message_count: number;
}

/** Takes back the chat counts of messages that turned out to be duplicates. $1: JSON array of {id, n}. */
export const UNCOUNT_DUPLICATES_SQL = `
  UPDATE chats SET message_count = chats.message_count - d.n
  FROM jsonb_to_recordset($1::jsonb) AS d (id uuid, n int)
  WHERE chats.id = d.id`;

export interface AcceptResultRow {
  ord: number;
  chat_id: string;
  answer_id: string | null;
  notice: string | null;
}
