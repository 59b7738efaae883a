-- The usage projection (projections/usage.py): analytics per user x provider x model x hour,
-- rebuilt from the stream like every read model. Histograms are JSON objects of bucket -> count
-- with buckets le_50 ... le_60000 (ms) and le_inf.

CREATE TABLE usage_answers (
    id       TEXT PRIMARY KEY,       -- the answer's message id
    imported BOOLEAN NOT NULL DEFAULT FALSE,
    ended    BOOLEAN NOT NULL DEFAULT FALSE,
    last_seq BIGINT  NOT NULL
);

CREATE TABLE usage_hourly (
    id                TEXT PRIMARY KEY,      -- JSON [user, provider, model, hour]
    user_id           VARCHAR(255) NOT NULL,
    llm_provider      VARCHAR(255) NOT NULL,
    llm_model         VARCHAR(255) NOT NULL,
    hour              TIMESTAMPTZ  NOT NULL,
    answers           INTEGER      NOT NULL DEFAULT 0,
    completed         INTEGER      NOT NULL DEFAULT 0,
    failed            INTEGER      NOT NULL DEFAULT 0,
    cancelled         INTEGER      NOT NULL DEFAULT 0,
    errors            JSONB        NOT NULL DEFAULT '{}'::jsonb,  -- error kind -> count
    prompt_tokens     BIGINT       NOT NULL DEFAULT 0,
    completion_tokens BIGINT       NOT NULL DEFAULT 0,
    ttft_count        INTEGER      NOT NULL DEFAULT 0,
    ttft_sum_ms       BIGINT       NOT NULL DEFAULT 0,
    ttft_hist         JSONB        NOT NULL DEFAULT '{}'::jsonb,
    total_count       INTEGER      NOT NULL DEFAULT 0,
    total_sum_ms      BIGINT       NOT NULL DEFAULT 0,
    total_hist        JSONB        NOT NULL DEFAULT '{}'::jsonb,
    last_seq          BIGINT       NOT NULL
);

CREATE INDEX usage_hourly_hour ON usage_hourly (hour);
CREATE INDEX usage_hourly_user_hour ON usage_hourly (user_id, hour);
