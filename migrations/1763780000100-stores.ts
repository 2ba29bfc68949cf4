import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Knowledge stores, their documents and the chunks retrieval searches.
 *
 * - `chunks.search_vector` is generated from text already prepared by the application (CJK expanded to
 *   character bigrams, see src/store/retrieval/text-search.ts): title and headings are labelled A, the
 *   body keeps the default label D, so queries choose their relative weight.
 * - A provider a store uses cannot be deleted: NO ACTION rather than RESTRICT, because Postgres 16+
 *   reports RESTRICT as 23001 while both report NO ACTION as 23503, which ProviderService turns into a 409.
 * - `store_terms` keeps, per store, how many chunks contain each lexeme (and, under the empty lexeme, how
 *   many chunks there are): the document frequencies that weight query terms (BM25-style IDF).
 * - `chunks.embedding` has no fixed size because each store's embedding provider has its own; the HNSW
 *   indexes are partial expression indexes, one per size, created on demand (ChunkRepository).
 */
export class Stores1763780000100 implements MigrationInterface {
  name = 'Stores1763780000100';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE stores (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name varchar(64) NOT NULL,
        display_name varchar(200) NOT NULL,
        model_provider_id uuid NOT NULL REFERENCES providers (id) ON DELETE NO ACTION,
        embedding_provider_id uuid REFERENCES providers (id) ON DELETE NO ACTION,
        system_prompt text NOT NULL DEFAULT '',
        welcome_message text,
        fallback_message text,
        top_k integer NOT NULL DEFAULT 5 CHECK (top_k BETWEEN 1 AND 50),
        history_messages integer NOT NULL DEFAULT 10 CHECK (history_messages BETWEEN 0 AND 100),
        max_answer_tokens integer CHECK (max_answer_tokens > 0),
        is_default boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT stores_name_unique UNIQUE (name)
      )`);
    await queryRunner.query(`CREATE UNIQUE INDEX stores_one_default ON stores (is_default) WHERE is_default`);
    await queryRunner.query(`CREATE INDEX stores_model_provider_idx ON stores (model_provider_id)`);
    await queryRunner.query(`CREATE INDEX stores_embedding_provider_idx ON stores (embedding_provider_id)`);

    await queryRunner.query(`
      CREATE TABLE documents (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        store_id uuid NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
        title varchar(500) NOT NULL,
        filename varchar(500),
        mime_type varchar(200) NOT NULL,
        size_bytes integer NOT NULL,
        content_hash varchar(64) NOT NULL,
        content bytea NOT NULL,
        status varchar(16) NOT NULL DEFAULT 'pending'
          CHECK (status IN ('pending', 'processing', 'ready', 'failed')),
        error text,
        failed_stage varchar(16) CHECK (failed_stage IN ('parse', 'split', 'embed', 'index')),
        chunk_count integer NOT NULL DEFAULT 0,
        ingest_version integer NOT NULL DEFAULT 1,
        indexed_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT documents_store_content_unique UNIQUE (store_id, content_hash)
      )`);
    await queryRunner.query(
      `CREATE INDEX documents_store_created_idx ON documents (store_id, created_at, id)`,
    );

    await queryRunner.query(`
      CREATE TABLE chunks (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        document_id uuid NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
        store_id uuid NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
        ordinal integer NOT NULL,
        heading_path text[] NOT NULL DEFAULT '{}',
        content text NOT NULL,
        token_count integer NOT NULL,
        search_title text NOT NULL DEFAULT '',
        search_text text NOT NULL,
        search_vector tsvector GENERATED ALWAYS AS (
          setweight(to_tsvector('english'::regconfig, search_title), 'A') ||
          to_tsvector('english'::regconfig, search_text)
        ) STORED,
        cjk boolean NOT NULL DEFAULT false,
        embedding vector,
        embedding_dims integer,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT chunks_document_ordinal_unique UNIQUE (document_id, ordinal),
        CONSTRAINT chunks_embedding_dims_check CHECK (
          (embedding IS NULL AND embedding_dims IS NULL) OR vector_dims(embedding) = embedding_dims
        )
      )`);
    // Keep the tsvector in the row (compressed) and push the incompressible vector out of line first:
    // full-text ranking reads the tsvector of every candidate, and a TOAST fetch per row triples its cost.
    await queryRunner.query(
      `ALTER TABLE chunks ALTER COLUMN search_vector SET STORAGE MAIN, ALTER COLUMN embedding SET STORAGE EXTERNAL`,
    );
    await queryRunner.query(`CREATE INDEX chunks_store_idx ON chunks (store_id)`);
    await queryRunner.query(`CREATE INDEX chunks_search_idx ON chunks USING gin (search_vector)`);

    await queryRunner.query(`
      CREATE TABLE store_terms (
        store_id uuid NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
        lexeme text NOT NULL,
        df integer NOT NULL,
        PRIMARY KEY (store_id, lexeme)
      )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE store_terms`);
    await queryRunner.query(`DROP TABLE chunks`);
    await queryRunner.query(`DROP TABLE documents`);
    await queryRunner.query(`DROP TABLE stores`);
  }
}
