-- Read models of the chat stream. JetStream is the source of truth: every table here can be
-- emptied and rebuilt from it (`parley projections rebuild`), and every value in a row comes from
-- events (never now()), so a rebuild yields the same rows, byte for byte.
-- Columns of the original plan first, then what the UI and audits need.

CREATE TABLE chat_sessions (
    id               UUID PRIMARY KEY,
    user_id          VARCHAR(255) NOT NULL,
    -- TEXT, not the plan's VARCHAR(255): a read model must hold whatever the stream holds.
    title            TEXT,
    llm_provider     VARCHAR(255) NOT NULL,
    llm_model        VARCHAR(255) NOT NULL,
    created_at       TIMESTAMPTZ  NOT NULL,
    updated_at       TIMESTAMPTZ  NOT NULL,
    is_active        BOOLEAN      NOT NULL DEFAULT TRUE,
    -- extensions
    settings         JSONB        NOT NULL DEFAULT '{}'::jsonb,  -- SessionSettings, unset keys omitted
    message_count    INTEGER      NOT NULL DEFAULT 0,            -- user messages and answers
    last_activity_at TIMESTAMPTZ  NOT NULL,
    deleted_at       TIMESTAMPTZ,
    created_seq      BIGINT       NOT NULL,  -- stream sequence of session.created
    last_seq         BIGINT       NOT NULL   -- stream sequence of the event that last changed the row
);

-- "sessions of a user by last activity": an index scan, live sessions only.
CREATE INDEX chat_sessions_user_activity
    ON chat_sessions (user_id, last_activity_at DESC, id DESC) WHERE is_active;

CREATE TABLE messages (
    id                     UUID PRIMARY KEY,
    session_id             UUID         NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    role                   VARCHAR(20)  NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
    content                TEXT         NOT NULL DEFAULT '',
    llm_response_time_ms   INTEGER,
    tokens_used            INTEGER      DEFAULT 0,
    error_message          TEXT,
    created_at             TIMESTAMPTZ  NOT NULL,
    -- extensions
    status                 VARCHAR(20)  NOT NULL DEFAULT 'complete'
                           CHECK (status IN ('pending', 'streaming', 'complete', 'failed', 'cancelled')),
    reply_to               UUID,          -- assistant answers: the user message answered
    client_message_id      VARCHAR(255),  -- user messages: the client's idempotency key
    llm_provider           VARCHAR(255),
    llm_model              VARCHAR(255),
    time_to_first_token_ms INTEGER,
    prompt_tokens          INTEGER,
    completion_tokens      INTEGER,
    attempt                INTEGER      NOT NULL DEFAULT 1,
    chunk_count            INTEGER      NOT NULL DEFAULT 0,  -- chunks of the current attempt applied
    error_kind             VARCHAR(50),
    metadata               JSONB        NOT NULL DEFAULT '{}'::jsonb,  -- finish_reason, regenerate, ...
    updated_at             TIMESTAMPTZ  NOT NULL,
    created_seq            BIGINT       NOT NULL,  -- stream sequence that created it: total order in a session
    last_seq               BIGINT       NOT NULL   -- stream sequence of the event that last changed the row
);

-- "latest N messages of a session before X": an index scan backwards from X (a message's
-- created_seq, or a time).
CREATE INDEX messages_session_order ON messages (session_id, created_seq DESC);
CREATE INDEX messages_session_created ON messages (session_id, created_at DESC, created_seq DESC);

-- One row per projection: the last stream sequence applied, written in the same transaction
-- as the rows it covers, so a crash can neither lose nor double an event.
CREATE TABLE projection_checkpoints (
    projection      TEXT PRIMARY KEY,
    last_stream_seq BIGINT      NOT NULL,
    last_event_at   TIMESTAMPTZ,                     -- occurred_at of the last applied event
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()  -- when the checkpoint last moved
);

-- Events a projection could not decode or apply: terminated on the bus and recorded here.
CREATE TABLE projection_dead_letters (
    id          BIGSERIAL PRIMARY KEY,
    projection  TEXT        NOT NULL,
    stream_seq  BIGINT      NOT NULL,
    subject     TEXT        NOT NULL,
    payload     BYTEA,
    reason      TEXT        NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (projection, stream_seq)
);
