import { MigrationInterface, QueryRunner } from 'typeorm';

export class Foundation1763780000000 implements MigrationInterface {
  name = 'Foundation1763780000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE EXTENSION IF NOT EXISTS vector`);
    await queryRunner.query(`
      CREATE TABLE app_settings (
        key varchar(100) PRIMARY KEY,
        value text NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await queryRunner.query(`
      CREATE TABLE providers (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name varchar(64) NOT NULL,
        display_name varchar(200) NOT NULL,
        category varchar(16) NOT NULL CHECK (category IN ('model', 'embedding', 'bot')),
        type varchar(32) NOT NULL,
        config jsonb NOT NULL DEFAULT '{}',
        routing_key varchar(200),
        enabled boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT providers_name_unique UNIQUE (name)
      )`);
    await queryRunner.query(
      `CREATE UNIQUE INDEX providers_type_routing_key_unique ON providers (type, routing_key) WHERE routing_key IS NOT NULL`,
    );
    await queryRunner.query(`CREATE INDEX providers_category_type_idx ON providers (category, type)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE providers`);
    await queryRunner.query(`DROP TABLE app_settings`);
  }
}
