// The client protocol of docs/protocol.md, as TypeScript types. JSON is snake_case, times ISO 8601.

export type Role = "user" | "assistant" | "system";
export type MessageStatus = "pending" | "streaming" | "complete" | "failed" | "cancelled";

export interface SessionSettings {
  system_prompt?: string | null;
  temperature?: number | null;
  top_p?: number | null;
  max_tokens?: number | null;
}

export interface ChatSession {
  id: string;
  title: string;
  user_id: string;
  llm_provider: string | null;
  llm_model: string | null;
  created_at: string;
  updated_at: string;
  is_active: boolean;
  message_count: number;
  settings: SessionSettings | null;
  last_activity_at: string | null;
  last_seq: number | null;
}

export interface ChatMessage {
  id: string;
  session_id: string;
  role: Role;
  content: string;
  created_at: string;
  updated_at: string | null;
  is_streaming: boolean;
  llm_provider: string | null;
  llm_model: string | null;
  response_time_ms: number | null;
  tokens_used: number | null;
  error_message: string | null;
  metadata: Record<string, unknown> | null;
  status: MessageStatus;
  reply_to: string | null;
  client_message_id: string | null;
  time_to_first_token_ms: number | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  error_kind: string | null;
  attempt: number;
  last_seq: number | null;
}

/** The envelope of every server frame (the plan's WebSocketMessage, plus `seq`). */
export interface ServerFrame {
  session_id: string;
  message_id: string;
  type: "connectionStatus" | "newMessage" | "messageUpdate" | "typing" | "error";
  data: Record<string, unknown>;
  seq: number | null;
}

export type UpdateEvent =
  | { event: "started"; attempt: number; llm_provider: string | null; llm_model: string | null }
  | { event: "token"; delta: string; index: number; token_index: number; token_count: number; attempt: number }
  | { event: "restarted"; attempt: number; reason: string }
  | { event: "completed"; message: ChatMessage }
  | { event: "failed"; error_kind: string; error_message: string; partial_content: string; message: ChatMessage }
  | { event: "cancelled"; partial_content: string; message: ChatMessage };

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
