-- Branches (events/tree.py): every message knows the message it follows, every session its
-- newest message. Rows written before this migration are filled in by the rule older events
-- follow: a user message follows the session's previous message, an answer its prompt, and the
-- newest message is the head; exactly what the projection computes on a rebuild.
ALTER TABLE messages ADD COLUMN parent_id UUID;
ALTER TABLE chat_sessions ADD COLUMN head_id UUID;

UPDATE messages m
   SET parent_id = CASE WHEN m.role = 'assistant' THEN m.reply_to ELSE prev.prev_id END
  FROM (SELECT id, lag(id) OVER (PARTITION BY session_id ORDER BY created_seq) AS prev_id FROM messages) prev
 WHERE prev.id = m.id;

UPDATE chat_sessions s
   SET head_id = newest.id
  FROM (SELECT DISTINCT ON (session_id) session_id, id FROM messages ORDER BY session_id, created_seq DESC) newest
 WHERE newest.session_id = s.id;

-- "the newest child of a message": walking a branch down to its leaf.
CREATE INDEX messages_children ON messages (parent_id, created_seq DESC);
