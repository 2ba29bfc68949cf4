import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Answers are claimed from their rows instead of pg-boss jobs (AnswerWorker), and a finished answer's delivery
 * is claimed too: delivery_status 'sending' while a worker delivers it. The index of undelivered answers held
 * every answer from the moment it was queued; the claim and the sweeper need only finished answers whose
 * delivery is to make or under way, which are few, and accept (which stores answers queued) no longer
 * writes to it. A second index keeps the claim's per-conversation check from reading whole histories.
 */
export class AnswersClaimedFromRows1763780000400 implements MigrationInterface {
  name = 'AnswersClaimedFromRows1763780000400';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX messages_undelivered_idx`);
    // The claim's check for an earlier unfinished answer of the same conversation reads only unfinished
    // answers here; through messages_history_idx it read the conversation's whole history, once per queued
    // answer it passed over (318 ms per claim for a 20,000-message chat with 50 answers waiting; 0.9 ms now).
    await queryRunner.query(
      `CREATE INDEX messages_unfinished_conversation_idx ON messages (bot_provider_id, conversation_key, created_at)
       WHERE role = 'assistant' AND status IN ('queued', 'generating')`,
    );
    await queryRunner.query(
      `CREATE INDEX messages_delivery_idx ON messages (delivery_status, updated_at)
       WHERE status IN ('done', 'failed') AND delivery_status IN ('pending', 'sending')`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX messages_delivery_idx`);
    await queryRunner.query(`DROP INDEX messages_unfinished_conversation_idx`);
    await queryRunner.query(
      `UPDATE messages SET delivery_status = 'pending' WHERE delivery_status = 'sending'`,
    );
    await queryRunner.query(
      `CREATE INDEX messages_undelivered_idx ON messages (updated_at) WHERE delivery_status = 'pending'`,
    );
  }
}
