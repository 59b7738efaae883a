// One session's WebSocket: connect after a REST read, resume with after_seq after any drop,
// back off with jitter between failures, ping to notice a dead network, and say what state it
// is in. The frames themselves go to the caller (the conversation reducer).

import { ApiError, sawSeq } from "./api";
import { type BackoffPolicy, backoffDelay, defaultPolicy } from "./backoff";
import { adviceFor, isFrame, type ServerFrame } from "./protocol";

export type Phase =
  | "idle" // no session open
  | "connecting" // reading over REST, then opening the socket
  | "replaying" // socket open, stored events after after_seq arriving
  | "live"
  | "waiting" // a retry is scheduled (retryAt)
  | "offline" // the browser says there is no network; retrying when it comes back
  | "unauthorized" // the server wants a (new) token
  | "gone"; // no such session, or it was deleted

export interface LinkState {
  phase: Phase;
  /** Failed attempts since the last live connection. */
  attempt: number;
  /** When the next retry happens (ms since epoch), while waiting. */
  retryAt: number | null;
  closeCode: number | null;
  detail: string | null;
}

export interface LinkOptions {
  /** Bring the client up to date if needed and return the after_seq to connect with. */
  prepare(): Promise<number>;
  url(afterSeq: number): string;
  token(): string | null;
  onFrame(frame: ServerFrame): void;
  onState(state: LinkState): void;
  policy?: BackoffPolicy;
  /** Client ping interval; silence for 2.5 intervals counts as a dead connection. */
  pingMs?: number;
}

export const idle: LinkState = { phase: "idle", attempt: 0, retryAt: null, closeCode: null, detail: null };

export class Link {
  private ws: WebSocket | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private lastHeard = 0;
  private attempt = 0;
  private generation = 0;
  private running = false;
  private state: LinkState = idle;
  private readonly policy: BackoffPolicy;
  private readonly pingMs: number;

  constructor(private readonly options: LinkOptions) {
    this.policy = options.policy ?? defaultPolicy;
    this.pingMs = options.pingMs ?? 15_000;
  }

  get current(): LinkState {
    return this.state;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    window.addEventListener("online", this.wentOnline);
    window.addEventListener("offline", this.wentOffline);
    if (navigator.onLine === false) this.wentOffline();
    else void this.connect();
  }

  stop(): void {
    this.running = false;
    this.generation++;
    window.removeEventListener("online", this.wentOnline);
    window.removeEventListener("offline", this.wentOffline);
    this.teardown(1000, "leaving");
    this.clearRetry();
    this.setState(idle);
  }

  /** Connect now instead of waiting for the scheduled retry (the "Retry now" button, a new token). */
  retryNow(): void {
    if (!this.running) return;
    if (this.state.phase === "live" || this.state.phase === "replaying" || this.state.phase === "connecting") return;
    this.clearRetry();
    void this.connect();
  }

  /** Cut the socket as a dropped network would, then recover as usual (used by the browser tests). */
  drop(): void {
    if (!this.running || !this.ws) return;
    this.teardown(4000, "dropped by the client");
    this.lost(1006, "connection dropped");
  }

  /** Re-read and reconnect (after a gap in the chunk indexes: never expected). */
  resync(): void {
    if (!this.running) return;
    this.teardown(4000, "resync");
    this.clearRetry();
    void this.connect();
  }

  send(frame: object): boolean {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  private setState(state: LinkState): void {
    this.state = state;
    this.options.onState(state);
  }

  private patch(patch: Partial<LinkState>): void {
    this.setState({ ...this.state, ...patch });
  }

  private clearRetry(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private teardown(code: number, reason: string): void {
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    this.pingTimer = null;
    const ws = this.ws;
    this.ws = null;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try {
      ws.close(code, reason);
    } catch {
      // already closing
    }
  }

  private async connect(): Promise<void> {
    const generation = ++this.generation;
    this.teardown(1000, "reconnecting");
    this.patch({ phase: "connecting", retryAt: null });
    let afterSeq: number;
    try {
      afterSeq = await this.options.prepare();
    } catch (error) {
      if (generation !== this.generation) return;
      if (error instanceof ApiError && error.status === 401) {
        this.patch({ phase: "unauthorized", closeCode: null, detail: error.detail });
      } else if (error instanceof ApiError && error.status === 404) {
        this.patch({ phase: "gone", closeCode: null, detail: error.detail });
      } else {
        this.lost(null, error instanceof Error ? error.message : String(error));
      }
      return;
    }
    if (generation !== this.generation || !this.running) return;
    const ws = new WebSocket(this.options.url(afterSeq));
    this.ws = ws;
    ws.onopen = () => {
      const token = this.options.token();
      if (token) ws.send(JSON.stringify({ type: "auth", token }));
      this.lastHeard = Date.now();
      this.patch({ phase: "replaying", closeCode: null, detail: null });
      this.pingTimer = setInterval(() => this.heartbeat(), this.pingMs);
    };
    ws.onmessage = (event) => {
      this.lastHeard = Date.now();
      let frame: unknown;
      try {
        frame = JSON.parse(String(event.data));
      } catch {
        return; // not ours to crash on; the server never sends this
      }
      if (!isFrame(frame)) return;
      sawSeq(frame.seq);
      if (frame.type === "connectionStatus" && frame.data.status === "live") {
        this.attempt = 0;
        this.patch({ phase: "live", attempt: 0 });
      }
      this.options.onFrame(frame);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.teardown(1000, "closed");
      this.lost(event.code, event.reason || null);
    };
  }

  private heartbeat(): void {
    if (!this.ws) return;
    if (Date.now() - this.lastHeard > this.pingMs * 2.5) {
      this.teardown(4000, "no answer to pings");
      this.lost(4002, "no answer to pings");
      return;
    }
    this.send({ type: "ping" });
  }

  /** The connection ended or could not be made: stop, ask for a token, or schedule a retry. */
  private lost(code: number | null, detail: string | null): void {
    if (!this.running) return;
    const advice = code === null ? "reconnect" : adviceFor(code);
    if (advice === "token") {
      this.patch({ phase: "unauthorized", closeCode: code, detail });
      return;
    }
    if (advice === "stop") {
      this.patch({ phase: "gone", closeCode: code, detail });
      return;
    }
    if (navigator.onLine === false) {
      this.patch({ phase: "offline", closeCode: code, detail, retryAt: null });
      return;
    }
    const delay = backoffDelay(this.attempt, this.policy);
    this.attempt += 1;
    this.clearRetry();
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.connect();
    }, delay);
    this.patch({ phase: "waiting", attempt: this.attempt, retryAt: Date.now() + delay, closeCode: code, detail });
  }

  private readonly wentOnline = (): void => {
    if (!this.running) return;
    if (this.state.phase === "offline" || this.state.phase === "waiting") {
      this.clearRetry();
      void this.connect();
    }
  };

  private readonly wentOffline = (): void => {
    if (!this.running) return;
    this.generation++;
    this.teardown(4000, "offline");
    this.clearRetry();
    this.patch({ phase: "offline", retryAt: null, detail: "no network" });
  };
}
