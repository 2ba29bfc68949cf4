/**
 * Everything ConversationService.accept stores, in one statement (one round trip instead of four):
 * - the notice, if any: the gate's ($13), else the per-user rate limit ($14 per minute, counted from the
 *   messages already stored), else the bot's daily token budget ($15) — each checked only when needed;
 * - the chat (created, or its counters and participants updated);
 * - the user's message, unless this platform message id is already stored for the bot (a duplicate: no
 *   answer row comes back, and the caller rolls back);
 * - the answer placeholder: queued, or done at once with the notice text ($16, by notice kind).
 * The counts see the messages committed before this statement, as a separate query before it would.
 * On its own (no imports) so the webhook benchmark's bare server (bench/bare-ceiling.ts) can run exactly
 * this statement without loading the application.
 *
 * Parameters: $1 bot provider id, $2 platform, $3 chat key, $4 is group, $5 sender id, $6 sender name,
 * $7 conversation key, $8 platform message id, $9 text, $10 quoted text, $11 reply target (JSON),
 * $12 raw payload (JSON), $13 the gate's notice, $14 rate limit per minute, $15 daily token budget,
 * $16 notice texts by kind (JSON), $17 now (the finish time of a notice answer).
 * Returns one row: `answer_id` (null for a duplicate) and `notice`.
 */
export const ACCEPT_SQL = `
  WITH quota AS (
    SELECT CASE
      WHEN $13::text IS NOT NULL THEN $13::text
      WHEN $14::int > 0 AND (
        SELECT count(*)::int FROM messages
        WHERE bot_provider_id = $1 AND sender_id = $5::text AND role = 'user'
          AND created_at > now() - interval '1 minute'
      ) >= $14::int THEN 'rate-limited'
      WHEN $15::bigint > 0 AND (
        SELECT coalesce(sum(prompt_tokens + completion_tokens), 0)::bigint FROM messages
        WHERE bot_provider_id = $1 AND created_at >= date_trunc('day', now())
      ) >= $15::bigint THEN 'budget-exhausted'
    END AS notice
  ),
  chat AS (
    INSERT INTO chats (bot_provider_id, platform, chat_key, is_group, participants, message_count, last_message_at)
    VALUES ($1, $2, $3, $4, jsonb_build_array(jsonb_build_object('id', $5::text, 'name', $6::text)), 1, now())
    ON CONFLICT (bot_provider_id, chat_key) DO UPDATE SET
      message_count = chats.message_count + 1,
      last_message_at = now(),
      updated_at = now(),
      participants = CASE
        WHEN chats.participants @> jsonb_build_array(jsonb_build_object('id', $5::text))
          OR jsonb_array_length(chats.participants) >= 50 THEN chats.participants
        ELSE chats.participants || jsonb_build_array(jsonb_build_object('id', $5::text, 'name', $6::text))
      END
    RETURNING id
  ),
  question AS (
    INSERT INTO messages (chat_id, bot_provider_id, platform, role, conversation_key, platform_message_id,
      sender_id, sender_name, content, quoted_text, status, reply_target, raw)
    SELECT chat.id, $1, $2, 'user', $7, $8, $5::text, $6::text, $9, $10, 'received', $11::jsonb, $12::jsonb
    FROM chat
    ON CONFLICT (bot_provider_id, platform_message_id) WHERE role = 'user' DO NOTHING
    RETURNING id, chat_id
  ),
  answer AS (
    INSERT INTO messages (chat_id, bot_provider_id, platform, role, conversation_key, reply_to_id, sender_id,
      content, status, delivery_status, reply_target, finished_at)
    SELECT question.chat_id, $1, $2, 'assistant', $7, question.id, 'bot',
      coalesce($16::jsonb ->> quota.notice, ''),
      CASE WHEN quota.notice IS NULL THEN 'queued' ELSE 'done' END,
      'pending', $11::jsonb,
      CASE WHEN quota.notice IS NULL THEN NULL ELSE $17::timestamptz END
    FROM question CROSS JOIN quota
    RETURNING id
  )
  SELECT (SELECT id FROM answer) AS answer_id, (SELECT notice FROM quota) AS notice`;
