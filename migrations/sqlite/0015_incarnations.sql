-- Each process that runs a node is an incarnation of it, as on Postgres. A SQLite file
-- serves one process at a time (its lock), so here the incarnation only tells a
-- restart: the new process voids what the previous one left at once.
ALTER TABLE nodes ADD COLUMN incarnation TEXT NOT NULL DEFAULT '' CHECK (length(incarnation) <= 64);
