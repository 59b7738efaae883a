-- A reasoning model's thinking, stored with its answer (events: generation.chunk with
-- reasoning=true, and the terminal events' reasoning). Never part of content. Additive: older
-- rows read as no reasoning.
ALTER TABLE messages ADD COLUMN reasoning TEXT NOT NULL DEFAULT '';
