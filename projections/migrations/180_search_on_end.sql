-- A streaming answer's row is rewritten with its whole text so far at every projection flush.
-- With 070's search_vector, each rewrite recomputed the vector over the whole text (two
-- to_tsvector passes) and, the indexed column having changed, re-indexed it (GIN) in a non-HOT
-- update: PostgreSQL's CPU grew with the square of the answer's length. The vector is now
-- computed once the message has ended (NULL while pending or streaming): search finds a message
-- once it is complete, failed or cancelled, with the same vector, rank and snippet as before,
-- and a streaming answer is not searchable until it ends. A flush of a streaming row changes no
-- indexed column, so it can be a HOT update; fillfactor leaves room on the page for one.
-- Existing rows get the same vector as before (ended) or none (still streaming); the fillfactor
-- is set first so that adding the column, which rewrites the table, already leaves that room.
ALTER TABLE messages SET (fillfactor = 80);
ALTER TABLE messages DROP COLUMN search_vector;
ALTER TABLE messages ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
    CASE WHEN status IN ('pending', 'streaming') THEN NULL
         ELSE to_tsvector('english', content) || to_tsvector('simple', content) END
) STORED;
CREATE INDEX messages_search ON messages USING GIN (search_vector);
