// The conversation tree on screen (docs/protocol.md, "Branches"). Pure: which messages of those
// held make up the branch shown, each message's siblings for the "‹ 2 / 3 ›" switcher, and where
// a switch lands. The rule for a parent is the server's (events/tree.py): REST gives it resolved;
// a frame's user message without one follows the newest message before it, an edit
// (`metadata.edit_of`) is a sibling of the message it rewrites, an answer follows its prompt.

import type { ChatMessage } from "./protocol";

export interface Held {
  byId: ReadonlyMap<string, ChatMessage & { local?: boolean }>;
  /** Stream order (then local, unsent messages). */
  order: readonly string[];
}

export function parentOf(held: Held, id: string): string | null {
  const m = held.byId.get(id);
  if (!m) return null;
  if (m.parent_id) return m.parent_id;
  const editOf = m.metadata?.edit_of;
  if (typeof editOf === "string" && held.byId.has(editOf)) return parentOf(held, editOf);
  if (m.role === "assistant") return m.reply_to;
  if (m.sibling_ids && m.sibling_ids.length > 0) return null; // REST says: a root
  // A frame's message without a parent: after the newest message stored before it.
  const at = held.order.indexOf(id);
  for (let i = at - 1; i >= 0; i--) {
    const before = held.byId.get(held.order[i]);
    if (before && !before.local) return before.id;
  }
  return null;
}

function newestStored(held: Held): string | null {
  for (let i = held.order.length - 1; i >= 0; i--) {
    const m = held.byId.get(held.order[i]);
    if (m && !m.local) return m.id;
  }
  return null;
}

/** The ids on the branch ending at `leaf` (default: the newest message), root first, as far as held;
 * then the local messages not yet stored. */
export function branchIds(held: Held, leaf: string | null): string[] {
  const start = leaf !== null && held.byId.has(leaf) ? leaf : newestStored(held);
  const path: string[] = [];
  const seen = new Set<string>();
  for (let id = start; id !== null && held.byId.has(id) && !seen.has(id); id = parentOf(held, id)) {
    seen.add(id);
    path.push(id);
  }
  path.reverse();
  for (const id of held.order) if (held.byId.get(id)?.local) path.push(id);
  return path;
}

/** The siblings of a message (itself included), oldest first: what REST listed, then any held. */
export function siblingsOf(held: Held, id: string): string[] {
  const m = held.byId.get(id);
  if (!m || m.local) return [id];
  const ids = [...(m.sibling_ids ?? [])];
  const parent = parentOf(held, id);
  for (const other of held.order) {
    const o = held.byId.get(other);
    if (o && !o.local && !ids.includes(other) && parentOf(held, other) === parent) ids.push(other);
  }
  if (!ids.includes(id)) ids.push(id);
  return ids;
}

/** Where showing `id` lands: its newest descendant among the messages held. */
export function leafBelow(held: Held, id: string): string {
  let leaf = id;
  const seen = new Set<string>([id]);
  for (;;) {
    let child: string | null = null;
    for (const other of held.order) {
      const o = held.byId.get(other);
      if (o && !o.local && !seen.has(other) && parentOf(held, other) === leaf) child = other; // the newest wins
    }
    if (child === null) return leaf;
    seen.add(child);
    leaf = child;
  }
}
