// The history this browser has seen, in IndexedDB, so it can be shown when the server is
// unreachable. A cache only: the server's reads always replace it.

import { type DBSchema, type IDBPDatabase, openDB } from "idb";
import type { ChatMessage, ChatSession } from "./protocol";

interface Schema extends DBSchema {
  sessions: { key: string; value: ChatSession };
  messages: { key: string; value: ChatMessage; indexes: { by_session: [string, string] } };
}

/** Messages kept per session (the newest ones). */
export const keepPerSession = 1000;

let opened: Promise<IDBPDatabase<Schema> | null> | null = null;

function db(): Promise<IDBPDatabase<Schema> | null> {
  opened ??= openDB<Schema>("parley", 1, {
    upgrade(database) {
      database.createObjectStore("sessions", { keyPath: "id" });
      const messages = database.createObjectStore("messages", { keyPath: "id" });
      messages.createIndex("by_session", ["session_id", "created_at"]);
    },
  }).catch(() => null); // private mode or storage disabled: run without the cache
  return opened;
}

function range(sessionId: string): IDBKeyRange {
  return IDBKeyRange.bound([sessionId, ""], [sessionId, "\uffff"]);
}

export async function saveSessions(sessions: ChatSession[], replaceAll: boolean): Promise<void> {
  const database = await db();
  if (!database) return;
  const tx = database.transaction("sessions", "readwrite");
  if (replaceAll) await tx.store.clear();
  for (const s of sessions) await tx.store.put(s);
  await tx.done;
}

export async function loadSessions(): Promise<ChatSession[]> {
  const database = await db();
  if (!database) return [];
  const all = await database.getAll("sessions");
  const key = (s: ChatSession) => s.last_activity_at ?? s.updated_at ?? s.created_at;
  return all.sort((a, b) => key(b).localeCompare(key(a)));
}

export async function saveMessages(messages: ChatMessage[]): Promise<void> {
  const database = await db();
  if (!database || messages.length === 0) return;
  const tx = database.transaction("messages", "readwrite");
  for (const m of messages) await tx.store.put(m);
  await tx.done;
}

/** The newest `limit` messages of a session, oldest first. */
export async function loadMessages(sessionId: string, limit = keepPerSession): Promise<ChatMessage[]> {
  const database = await db();
  if (!database) return [];
  const out: ChatMessage[] = [];
  let cursor = await database.transaction("messages").store.index("by_session").openCursor(range(sessionId), "prev");
  while (cursor && out.length < limit) {
    out.push(cursor.value);
    cursor = await cursor.continue();
  }
  return out.reverse();
}

/** Drop all but the newest `keepPerSession` messages of a session. */
export async function trim(sessionId: string): Promise<void> {
  const database = await db();
  if (!database) return;
  const tx = database.transaction("messages", "readwrite");
  let cursor = await tx.store.index("by_session").openCursor(range(sessionId), "prev");
  let seen = 0;
  while (cursor) {
    seen += 1;
    if (seen > keepPerSession) await cursor.delete();
    cursor = await cursor.continue();
  }
  await tx.done;
}

export async function forgetSession(sessionId: string): Promise<void> {
  const database = await db();
  if (!database) return;
  const tx = database.transaction(["sessions", "messages"], "readwrite");
  await tx.objectStore("sessions").delete(sessionId);
  let cursor = await tx.objectStore("messages").index("by_session").openCursor(range(sessionId));
  while (cursor) {
    await cursor.delete();
    cursor = await cursor.continue();
  }
  await tx.done;
}
