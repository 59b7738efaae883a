-- Full-text search over the caller's conversations (GET /api/v1/chat/search): titles and
-- message content. Generated columns, so the projection writes nothing new and a rebuild
-- recreates them; 'simple' keeps every word of every language (no stemming, no stop words),
-- and the English stemmer is added so "running" finds "run".
ALTER TABLE messages ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
    to_tsvector('english', content) || to_tsvector('simple', content)
) STORED;
ALTER TABLE chat_sessions ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
    to_tsvector('english', coalesce(title, '')) || to_tsvector('simple', coalesce(title, ''))
) STORED;

CREATE INDEX messages_search ON messages USING GIN (search_vector);
CREATE INDEX chat_sessions_search ON chat_sessions USING GIN (search_vector);
