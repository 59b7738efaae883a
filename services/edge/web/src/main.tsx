import { render } from "preact";
import { captureToken } from "./auth";
import * as app from "./state";
import { App } from "./ui/app";
import "./styles.css";

captureToken();
window.addEventListener("hashchange", () => app.go(window.location.hash || "#/"));
void app.loadSessions();
void app.loadLlm(); // the model picker needs it on every screen
render(<App />, document.getElementById("app")!);

// The app shell works offline (history from IndexedDB); service workers need a secure context.
if ("serviceWorker" in navigator && window.isSecureContext) {
  void navigator.serviceWorker.register("./sw.js").catch(() => undefined);
}
