// The client protocol of docs/protocol.md. JSON is snake_case, times ISO 8601.

import type * as wire from "./wire/wire";

// Generated from the edge's OpenAPI document and its frame types (src/wire/wire.ts, `npm run wire`):
// the shapes are defined once, in Python.
export type ChatMessage = wire.ChatMessage;
export type ChatSession = wire.ChatSession;
export type SessionSettings = wire.Settings;
export type Role = ChatMessage["role"];
export type MessageStatus = ChatMessage["status"];

/** Every server frame: a union discriminated by `type`, then by `data.event` / `data.status`. */
export type ServerFrame = wire.ServerFrame;
export type UpdateEvent = wire.MessageUpdateFrame["data"];
export type StatusData = wire.ConnectionStatusFrame["data"];
export type SessionChanges = wire.SessionChanges;
export type TypingFrame = wire.TypingFrame;

/** Close codes the server uses (docs/protocol.md, "Close codes"). */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  heartbeatMissed: 4002,
  tooSlow: 4008,
  unauthorized: 4401,
  notFound: 4404,
  deleted: 4410,
} as const;

/** What a client does after a close: reconnect (with after_seq), ask for a token, or stop. */
export type CloseAdvice = "reconnect" | "token" | "stop";

export function adviceFor(code: number): CloseAdvice {
  switch (code) {
    case CloseCode.unauthorized:
      return "token";
    case CloseCode.notFound:
    case CloseCode.deleted:
      return "stop";
    default:
      // 1000 on a session socket is not expected; 1001/4002/4008/1006 and anything unknown: resume.
      return "reconnect";
  }
}

export function isFrame(value: unknown): value is ServerFrame {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.type === "string" &&
    typeof v.data === "object" &&
    v.data !== null &&
    (v.seq === null || v.seq === undefined || typeof v.seq === "number")
  );
}
