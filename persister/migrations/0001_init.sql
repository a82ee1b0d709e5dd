-- Tachyon persister schema, version 1.
--
-- Conventions
-- * Every amount is NUMERIC (exact). Prices = ticks x tick size, quantities = lots x lot
--   size, balances/fees = engine units x 10^-decimals of the asset. Never float.
-- * Engine ids (orders, trades, accounts) are BIGINT; asset, instrument and session ids INTEGER
--   (the engine's u16 indexes into the configuration).
-- * Enumerations are TEXT with CHECK constraints: readable in ad-hoc SQL, and adding a
--   value is one ALTER of the constraint in a later migration.
-- * Timestamps come from the engine's command timestamps (ns since the epoch), stored as
--   TIMESTAMPTZ (microsecond precision); no column depends on the persister's clock except
--   persister_checkpoint.updated_at.
-- * No foreign keys on the hot append tables: the engine is the source of truth and the
--   checks would cost throughput at 200k trades/s.

CREATE TABLE assets (
    asset_id   INTEGER  PRIMARY KEY,
    code       TEXT     NOT NULL UNIQUE,
    decimals   SMALLINT NOT NULL CHECK (decimals BETWEEN 0 AND 28)
);

CREATE TABLE instruments (
    symbol_id       INTEGER  PRIMARY KEY,
    symbol          TEXT     NOT NULL UNIQUE,
    base_asset_id   INTEGER  NOT NULL REFERENCES assets,
    quote_asset_id  INTEGER  NOT NULL REFERENCES assets,
    tick_size       NUMERIC  NOT NULL CHECK (tick_size > 0),
    lot_size        NUMERIC  NOT NULL CHECK (lot_size > 0)
);

CREATE TABLE accounts (
    account_id   BIGINT      PRIMARY KEY,
    created_seq  BIGINT      NOT NULL,          -- engine sequence of CreateAccount (0 = genesis)
    created_at   TIMESTAMPTZ                    -- NULL for accounts that exist from the start
);

-- API keys: identification and binding only. The secret is never stored here.
CREATE TABLE api_keys (
    key_id      TEXT        PRIMARY KEY,
    account_id  BIGINT      NOT NULL REFERENCES accounts,
    comp_id     TEXT        NOT NULL,           -- FIX SenderCompID the key is bound to
    created_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ,
    CHECK (revoked_at IS NULL OR revoked_at >= created_at)
);
CREATE INDEX api_keys_account_idx ON api_keys (account_id);
CREATE UNIQUE INDEX api_keys_active_comp_id_idx ON api_keys (comp_id) WHERE revoked_at IS NULL;

-- Current balances (one row per account and asset that ever moved).
CREATE TABLE balances (
    account_id   BIGINT   NOT NULL,
    asset_id     INTEGER  NOT NULL,
    available    NUMERIC  NOT NULL CHECK (available >= 0),
    locked       NUMERIC  NOT NULL CHECK (locked >= 0),
    updated_seq  BIGINT   NOT NULL,
    PRIMARY KEY (account_id, asset_id)
);

-- Orders, one row per NewOrder command that reached the engine: accepted orders carry the
-- engine's order_id and are updated through their life; rejected ones have order_id NULL
-- and status 'rejected'. A command creates at most one order, so created_seq is the key.
CREATE TABLE orders (
    created_seq    BIGINT      PRIMARY KEY,
    order_id       BIGINT      UNIQUE,
    account_id     BIGINT      NOT NULL,
    session_id     INTEGER     NOT NULL,
    cl_ord_id      TEXT        NOT NULL,        -- current client id ('' = none)
    symbol_id      INTEGER     NOT NULL,
    side           TEXT        NOT NULL CHECK (side IN ('buy', 'sell')),
    ord_type       TEXT        NOT NULL CHECK (ord_type IN ('limit', 'market')),
    tif            TEXT        NOT NULL CHECK (tif IN ('gtc', 'ioc', 'fok', 'gtd')),
    post_only      BOOLEAN     NOT NULL,
    stp            TEXT        NOT NULL CHECK (stp IN ('cancel_newest', 'cancel_oldest', 'cancel_both', 'decrement')),
    price          NUMERIC,                     -- limit or protection price; NULL = none
    qty            NUMERIC,                     -- total quantity (0 for a quote-budget buy; NULL only for a reject on an unknown symbol)
    quote_budget   NUMERIC,                     -- market buy by budget only
    expire_at      TIMESTAMPTZ,                 -- GTD only
    status         TEXT        NOT NULL CHECK (status IN ('new', 'partially_filled', 'filled', 'canceled', 'expired', 'rejected')),
    leaves_qty     NUMERIC     NOT NULL,
    filled_qty     NUMERIC     NOT NULL,
    filled_quote   NUMERIC     NOT NULL,        -- sum of price x qty over fills (exact)
    avg_price      NUMERIC,                     -- filled_quote / filled_qty; NULL before any fill
    reject_reason  TEXT,
    cancel_reason  TEXT,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_seq    BIGINT      NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    CHECK ((status = 'rejected') = (order_id IS NULL)),
    CHECK ((status = 'rejected') = (reject_reason IS NOT NULL))
);
CREATE INDEX orders_account_time_idx ON orders (account_id, created_at);
CREATE INDEX orders_open_idx ON orders (account_id, symbol_id) WHERE status IN ('new', 'partially_filled');

CREATE TABLE trades (
    trade_id          BIGINT      PRIMARY KEY,
    symbol_id         INTEGER     NOT NULL,
    price             NUMERIC     NOT NULL,
    qty               NUMERIC     NOT NULL,
    aggressor_side    TEXT        NOT NULL CHECK (aggressor_side IN ('buy', 'sell')),
    maker_order_id    BIGINT      NOT NULL,
    maker_account_id  BIGINT      NOT NULL,
    taker_order_id    BIGINT      NOT NULL,
    taker_account_id  BIGINT      NOT NULL,
    maker_fee         NUMERIC     NOT NULL,     -- quote asset; negative = rebate
    taker_fee         NUMERIC     NOT NULL,     -- quote asset
    engine_seq        BIGINT      NOT NULL,
    executed_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX trades_symbol_time_idx ON trades (symbol_id, executed_at);
CREATE INDEX trades_maker_account_idx ON trades (maker_account_id, executed_at);
CREATE INDEX trades_taker_account_idx ON trades (taker_account_id, executed_at);

-- Append-only ledger: one row per balance change, in engine order.
CREATE TABLE ledger_entries (
    engine_seq        BIGINT      NOT NULL,     -- sequence of the command that caused it
    entry_no          INTEGER     NOT NULL,     -- position among that command's ledger entries
    account_id        BIGINT      NOT NULL,
    asset_id          INTEGER     NOT NULL,
    delta_available   NUMERIC     NOT NULL,
    delta_locked      NUMERIC     NOT NULL,
    available_after   NUMERIC     NOT NULL,
    locked_after      NUMERIC     NOT NULL,
    reason            TEXT        NOT NULL CHECK (reason IN ('deposit', 'withdrawal', 'order_lock', 'order_unlock', 'trade', 'fee')),
    reference         NUMERIC(20, 0) NOT NULL,  -- order id, trade id or transfer reference (u64)
    created_at        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (engine_seq, entry_no)
);
CREATE INDEX ledger_account_idx ON ledger_entries (account_id, asset_id, engine_seq);

CREATE FUNCTION ledger_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger_entries is append-only (% refused)', TG_OP;
END
$$;
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_append_only();

-- Last engine sequence stored; written in the same transaction as each batch.
CREATE TABLE persister_checkpoint (
    id          BOOLEAN     PRIMARY KEY DEFAULT TRUE CHECK (id),
    last_seq    BIGINT      NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO persister_checkpoint (id, last_seq) VALUES (TRUE, 0);
