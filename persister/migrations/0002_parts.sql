-- Tachyon persister schema, version 2: the persister writes in three parts, each with its
-- own checkpoint moved in the same transaction as that part's rows, so the parts can be
-- written by separate connections in parallel and each is still stored exactly once.
--
--   part 0: accounts, orders, trades, balances
--   part 1: ledger_entries of commands with an odd engine_seq
--   part 2: ledger_entries of commands with an even engine_seq
--
-- Which rows belong to a part depends only on the command (never on how the stream is cut
-- into batches): after a crash each part resumes after its own last_seq. Everything up to
-- min(last_seq) is in every table: the view persister_checkpoint keeps that figure under
-- its version-1 name.

CREATE TABLE persister_parts (
    part        INTEGER     PRIMARY KEY CHECK (part BETWEEN 0 AND 2),
    holds       TEXT        NOT NULL,
    last_seq    BIGINT      NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO persister_parts (part, holds, last_seq)
SELECT v.part, v.holds, c.last_seq
FROM persister_checkpoint c,
     (VALUES (0, 'accounts, orders, trades, balances'),
             (1, 'ledger_entries of odd engine_seq'),
             (2, 'ledger_entries of even engine_seq')) AS v (part, holds);

DROP TABLE persister_checkpoint;
CREATE VIEW persister_checkpoint AS
    SELECT min(last_seq) AS last_seq, max(updated_at) AS updated_at FROM persister_parts;
