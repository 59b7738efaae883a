// The history this browser has seen, in IndexedDB, so it can be shown when the server is
// unreachable. A cache only: the server's reads always replace it.

// One database per user (named after the token's subject), and every one of them deleted when
// the token changes or is removed: a shared browser never shows one user's history to the next.

import { type DBSchema, type IDBPDatabase, deleteDB, openDB } from "idb";
import { onTokenChange, readToken, subjectOf } from "./auth";
import type { ChatMessage, ChatSession } from "./protocol";

interface Schema extends DBSchema {
  sessions: { key: string; value: ChatSession };
  messages: { key: string; value: ChatMessage; indexes: { by_session: [string, string] } };
}

/** Messages kept per session (the newest ones). */
export const keepPerSession = 1000;

const prefix = "parley";
let opened: Promise<IDBPDatabase<Schema> | null> | null = null;
let openedName: string | null = null;

/** The cache of the user the stored token names ("parley" with no token: auth off). */
export function cacheName(token: string | null = readToken()): string {
  const sub = subjectOf(token);
  return sub === null ? prefix : `${prefix}:${encodeURIComponent(sub)}`;
}

/** Close and delete every Parley cache in this browser. The deletions are requested at once, so
 * a cache opened after this call waits for them (IndexedDB runs requests per name in order). */
export function clearCache(): Promise<void> {
  const previous = opened;
  const names = new Set<string>([prefix]);
  if (openedName) names.add(openedName);
  opened = null;
  openedName = null;
  const deletions = [...names].map((name) => deleteDB(name).catch(() => undefined));
  void previous?.then((database) => database?.close());
  return (async () => {
    try {
      for (const info of (await indexedDB.databases?.()) ?? []) {
        const name = info.name;
        if (name && !names.has(name) && name.startsWith(`${prefix}:`)) deletions.push(deleteDB(name).catch(() => undefined));
      }
    } catch {
      // databases() is missing in older browsers: the known names are deleted all the same
    }
    await Promise.all(deletions);
  })();
}

onTokenChange(() => void clearCache());

function db(): Promise<IDBPDatabase<Schema> | null> {
  const name = cacheName();
  if (opened !== null && openedName !== name) {
    const previous = opened;
    void previous.then((database) => database?.close());
    opened = null;
  }
  openedName = name;
  opened ??= openDB<Schema>(name, 1, {
    blocking(_current, _next, event) {
      (event.target as IDBDatabase).close(); // a deletion (another tab's sign-out) must not wait for us
    },
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
