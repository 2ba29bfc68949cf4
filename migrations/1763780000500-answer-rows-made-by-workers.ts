import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A question's answer row is made by the worker that claims the question, not by accept: the question waits
 * in the queue itself (status 'waiting'), with the id its answer will get (answer_id, handed out at accept as
 * the WeCom stream id) and the notice it gets instead of a generated answer, if any (rate limit, budget,
 * gate). Accept then writes one message row per message, not two (docs/benchmarks.md, "answer rows made by
 * the workers"). A status of its own, not 'queued': workers of the previous version, still running during a
 * rolling upgrade, claim 'queued' rows as answer rows, and leave waiting questions alone.
 */
export class AnswerRowsMadeByWorkers1763780000500 implements MigrationInterface {
  name = 'AnswerRowsMadeByWorkers1763780000500';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE messages ADD COLUMN answer_id uuid, ADD COLUMN notice varchar(32)`);
    await queryRunner.query(
      `ALTER TABLE messages DROP CONSTRAINT messages_status_check, ADD CONSTRAINT messages_status_check
       CHECK (status IN ('received', 'waiting', 'queued', 'generating', 'done', 'failed'))`,
    );
    // Finds a waiting question by the answer id handed out for it (a WeCom refresh, a redelivered message).
    await queryRunner.query(
      `CREATE UNIQUE INDEX messages_awaiting_answer_idx ON messages (answer_id) WHERE role = 'user' AND status = 'waiting'`,
    );
    // The claim's queue: waiting questions and answers queued again, longest-waiting first.
    await queryRunner.query(
      `CREATE INDEX messages_claimable_idx ON messages (updated_at) WHERE status IN ('waiting', 'queued')`,
    );
    // Unfinished now also means a question waiting for its answer row.
    await queryRunner.query(`DROP INDEX messages_unfinished_conversation_idx`);
    await queryRunner.query(
      `CREATE INDEX messages_unfinished_conversation_idx ON messages (bot_provider_id, conversation_key, created_at)
       WHERE status IN ('waiting', 'queued', 'generating')`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    // Waiting questions get their answer rows as accept used to make them: queued, or done with the notice's
    // text (in English, as of this migration: the code that picked the language is what is being rolled back).
    await queryRunner.query(
      `INSERT INTO messages (id, chat_id, bot_provider_id, platform, role, conversation_key, reply_to_id, sender_id,
         content, status, delivery_status, reply_target, finished_at, created_at, updated_at)
       SELECT u.answer_id, u.chat_id, u.bot_provider_id, u.platform, 'assistant', u.conversation_key, u.id, 'bot',
         CASE u.notice
           WHEN 'unsupported' THEN 'Sorry, I can only read text messages for now. Please type your question.'
           WHEN 'empty' THEN 'Please type your question.'
           WHEN 'too-long' THEN 'Your message is too long for me. Please shorten it and ask again.'
           WHEN 'rate-limited' THEN
             'You are sending messages faster than I can answer. Please wait a minute and try again.'
           WHEN 'budget-exhausted' THEN 'I have reached my usage limit for today. Please try again tomorrow.'
           ELSE ''
         END,
         CASE WHEN u.notice IS NULL THEN 'queued' ELSE 'done' END, 'pending', u.reply_target,
         CASE WHEN u.notice IS NULL THEN NULL ELSE now() END, u.created_at, now()
       FROM messages u WHERE u.role = 'user' AND u.status = 'waiting'`,
    );
    await queryRunner.query(
      `UPDATE messages SET status = 'received' WHERE role = 'user' AND status = 'waiting'`,
    );
    await queryRunner.query(`DROP INDEX messages_unfinished_conversation_idx`);
    await queryRunner.query(
      `CREATE INDEX messages_unfinished_conversation_idx ON messages (bot_provider_id, conversation_key, created_at)
       WHERE role = 'assistant' AND status IN ('queued', 'generating')`,
    );
    await queryRunner.query(
      `ALTER TABLE messages DROP CONSTRAINT messages_status_check, ADD CONSTRAINT messages_status_check
       CHECK (status IN ('received', 'queued', 'generating', 'done', 'failed'))`,
    );
    await queryRunner.query(`DROP INDEX messages_claimable_idx`);
    await queryRunner.query(`DROP INDEX messages_awaiting_answer_idx`);
    await queryRunner.query(`ALTER TABLE messages DROP COLUMN answer_id, DROP COLUMN notice`);
  }
}
