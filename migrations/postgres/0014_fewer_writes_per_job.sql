-- Fewer writes per job (docs/performance.md, "Fewer writes per job").

-- Every job's row is updated twice (the claim, the completion), and neither update can
-- be HOT: each changes `status`, which the partial indexes test. At the default
-- fillfactor (100) a page has no room left once its rows are inserted, so each update
-- moved its row to another page: Postgres then logs an extra lock record for the old
-- version, searches the free space map and pins a second page. Half of each page is
-- kept for the updates instead: ~9% less WAL per job, and the heap of kept jobs takes
-- about twice the pages (their space is reused once vacuum reclaims the old versions).
ALTER TABLE jobs SET (fillfactor = 50);

-- An attempt's row is no longer checked for being its job's only success by a unique
-- index. A success is written only by the completion that presents the job's current
-- execution id (its fencing token), which the same statement clears, so a second
-- success cannot be written; the index cost every successful attempt an entry and a
-- uniqueness probe. A job's attempts are found through job_executions_job_idx.
DROP INDEX IF EXISTS job_executions_one_success_idx;
