import { MigrationInterface, QueryRunner } from 'typeorm';

export class Conversations1763780000200 implements MigrationInterface {
  name = 'Conversations1763780000200';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE chats (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        bot_provider_id uuid NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
        platform varchar(32) NOT NULL,
        chat_key varchar(200) NOT NULL,
        is_group boolean NOT NULL,
        participants jsonb NOT NULL DEFAULT '[]',
        message_count integer NOT NULL DEFAULT 0,
        last_message_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT chats_bot_chat_unique UNIQUE (bot_provider_id, chat_key)
      )`);
    await queryRunner.query(`CREATE INDEX chats_last_message_idx ON chats (last_message_at DESC)`);
    await queryRunner.query(`
      CREATE TABLE messages (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        chat_id uuid NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
        bot_provider_id uuid NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
        platform varchar(32) NOT NULL,
        role varchar(16) NOT NULL CHECK (role IN ('user', 'assistant')),
        conversation_key varchar(420) NOT NULL,
        platform_message_id varchar(200),
        reply_to_id uuid REFERENCES messages (id) ON DELETE CASCADE,
        sender_id varchar(200) NOT NULL,
        sender_name varchar(200),
        content text NOT NULL DEFAULT '',
        quoted_text text,
        status varchar(16) NOT NULL CHECK (status IN ('received', 'queued', 'generating', 'done', 'failed')),
        error text,
        sources jsonb,
        prompt_tokens integer NOT NULL DEFAULT 0,
        completion_tokens integer NOT NULL DEFAULT 0,
        first_token_ms integer,
        latency_ms integer,
        attempts integer NOT NULL DEFAULT 0,
        delivery_status varchar(16) NOT NULL DEFAULT 'none',
        delivery_error text,
        delivery_ids jsonb,
        delivered_at timestamptz,
        reply_target jsonb NOT NULL DEFAULT '{}',
        feedback jsonb,
        raw jsonb,
        started_at timestamptz,
        finished_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    // The dedupe guarantee: a platform message is accepted once per bot, whatever the retries.
    await queryRunner.query(
      `CREATE UNIQUE INDEX messages_platform_message_unique ON messages (bot_provider_id, platform_message_id) WHERE role = 'user'`,
    );
    await queryRunner.query(`CREATE UNIQUE INDEX messages_reply_to_unique ON messages (reply_to_id)`);
    await queryRunner.query(
      `CREATE INDEX messages_history_idx ON messages (bot_provider_id, conversation_key, created_at)`,
    );
    await queryRunner.query(`CREATE INDEX messages_chat_idx ON messages (chat_id, created_at)`);
    await queryRunner.query(
      `CREATE INDEX messages_sender_idx ON messages (bot_provider_id, sender_id, created_at) WHERE role = 'user'`,
    );
    await queryRunner.query(`CREATE INDEX messages_bot_time_idx ON messages (bot_provider_id, created_at)`);
    await queryRunner.query(`CREATE INDEX messages_created_idx ON messages (created_at)`);
    await queryRunner.query(
      `CREATE INDEX messages_unfinished_idx ON messages (status, updated_at) WHERE status IN ('queued', 'generating')`,
    );
    await queryRunner.query(
      `CREATE INDEX messages_undelivered_idx ON messages (updated_at) WHERE delivery_status = 'pending'`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE messages`);
    await queryRunner.query(`DROP TABLE chats`);
  }
}
