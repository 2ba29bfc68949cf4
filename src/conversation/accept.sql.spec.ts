import plans from 'pg-boss/src/plans.js';
import { ACCEPT_JOB_DEFAULTS_FROM, acceptStatement } from './accept.sql.js';

const parametersOf = (sql: string) => [...sql.matchAll(/\$(\d+)/g)].map((match) => Number(match[1]));

describe('acceptStatement', () => {
  const pgBossInsert = plans.insertJobs('pgboss');
  const sql = acceptStatement(pgBossInsert);

  it("inserts pg-boss's jobs for the answers the statement inserted, not for a parameter", () => {
    expect(pgBossInsert).toContain('json_to_recordset($1)');
    expect(sql).not.toContain('json_to_recordset($1)');
    expect(sql).toMatch(
      /json_to_recordset\(\(SELECT json_agg\(json_build_object\('id', a\.id, 'name', \$4::text,/,
    );
    expect(sql).toMatch(/FROM answer a\)\)/);
  });

  it("moves pg-boss's own parameters after the accept statement's", () => {
    const theirs = parametersOf(pgBossInsert).filter((index) => index > 1);
    expect(Math.min(...theirs)).toBe(2);
    expect(sql).toContain(`$${ACCEPT_JOB_DEFAULTS_FROM} as expire_in`);
    expect(Math.max(...parametersOf(sql))).toBe(Math.max(...theirs) - 2 + ACCEPT_JOB_DEFAULTS_FROM);
  });

  it('refuses a job insert of another shape rather than inserting no jobs', () => {
    expect(() =>
      acceptStatement('INSERT INTO pgboss.job (id) SELECT id FROM json_populate_recordset($1)'),
    ).toThrow(/unexpected shape/);
    expect(() => acceptStatement('SELECT 1 FROM json_to_recordset($1)')).toThrow(/unexpected shape/);
  });
});
