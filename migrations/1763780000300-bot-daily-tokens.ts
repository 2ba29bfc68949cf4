import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Tokens used per bot and day, so that the daily-budget check of every accept reads a few rows instead of
 * summing the day's messages. Each finished answer adds its tokens to one of a few rows (a random slot;
 * BOT_DAILY_TOKEN_SLOTS in src/conversation/answer.worker.ts), so a busy bot's answers do not all queue on
 * one row lock.
 */
export class BotDailyTokens1763780000300 implements MigrationInterface {
  name = 'BotDailyTokens1763780000300';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE bot_daily_tokens (
        bot_provider_id uuid NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
        day date NOT NULL,
        slot smallint NOT NULL,
        tokens bigint NOT NULL,
        PRIMARY KEY (bot_provider_id, day, slot)
      )`);
    // Today's usage so far, as the check counted it before (answers created today), in slot 0.
    await queryRunner.query(`
      INSERT INTO bot_daily_tokens (bot_provider_id, day, slot, tokens)
      SELECT bot_provider_id, current_date, 0, sum(prompt_tokens + completion_tokens)
      FROM messages
      WHERE role = 'assistant' AND created_at >= date_trunc('day', now())
      GROUP BY bot_provider_id
      HAVING sum(prompt_tokens + completion_tokens) > 0`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE bot_daily_tokens`);
  }
}
