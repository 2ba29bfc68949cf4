// Plain JS: Jest loads globalSetup outside its ESM module system, so it cannot import the TypeScript app.
// It only names this run's template; the first test file to need it builds it (see test-database.ts).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default async function globalSetup() {
  process.env.PARLEY_TEST_RUN_DIR = mkdtempSync(join(tmpdir(), 'parley-run-'));
}
