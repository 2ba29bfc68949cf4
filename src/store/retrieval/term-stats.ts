import type { EntityManager } from 'typeorm';

/**
 * Document frequencies per store (`store_terms`), kept in step with `chunks` inside the transactions that
 * write chunks. The empty lexeme holds the number of chunks. Callers hold `lockStoreTerms` first, so two
 * documents of one store never update the same rows in different orders (no deadlocks).
 */
const TERMS_LOCK = 72_657_302;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function lockStoreTerms(manager: EntityManager, storeId: string): Promise<void> {
  await manager.query(`SELECT pg_advisory_xact_lock($1, hashtext($2))`, [TERMS_LOCK, storeId]);
}

/** ts_stat takes a query text; the id is checked to be a UUID, so inlining it is safe. */
function documentChunksQuery(documentId: string): string {
  if (!UUID.test(documentId)) throw new Error(`not a document id: ${documentId}`);
  return `SELECT search_vector FROM chunks WHERE document_id = '${documentId}'`;
}

/** Call after inserting a document's chunks. */
export async function addDocumentTerms(
  manager: EntityManager,
  storeId: string,
  documentId: string,
): Promise<void> {
  await manager.query(
    `INSERT INTO store_terms (store_id, lexeme, df)
     SELECT $1::uuid, word, ndoc FROM ts_stat($3)
     UNION ALL SELECT $1::uuid, '', count(*)::int FROM chunks WHERE document_id = $2
     ORDER BY 2
     ON CONFLICT (store_id, lexeme) DO UPDATE SET df = store_terms.df + excluded.df`,
    [storeId, documentId, documentChunksQuery(documentId)],
  );
}

/** Call before deleting a document's chunks. */
export async function subtractDocumentTerms(
  manager: EntityManager,
  storeId: string,
  documentId: string,
): Promise<void> {
  await manager.query(
    `UPDATE store_terms st SET df = st.df - old.ndoc
       FROM (SELECT word, ndoc FROM ts_stat($3)
             UNION ALL SELECT '', count(*)::int FROM chunks WHERE document_id = $2) AS old
      WHERE st.store_id = $1 AND st.lexeme = old.word`,
    [storeId, documentId, documentChunksQuery(documentId)],
  );
}

/** Replaces (or, with no chunks, removes) a document's chunks' contribution; for deletes and failures. */
export async function deleteDocumentChunks(
  manager: EntityManager,
  storeId: string,
  documentId: string,
): Promise<void> {
  await lockStoreTerms(manager, storeId);
  await subtractDocumentTerms(manager, storeId, documentId);
  await manager.query(`DELETE FROM chunks WHERE document_id = $1`, [documentId]);
}
