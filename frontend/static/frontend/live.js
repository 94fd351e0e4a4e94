// A websocket that applies a sweep's events exactly once and in `seq` order.
//
// The page is rendered at some seq; on every (re)connect the client asks the server for the
// events after the last one it applied. Events that arrive early are held until the gap is
// filled; events already applied are dropped. Metric batches carry no seq and pass through.

import { liveStatus, socketURL } from "./util.js";

export class SeqSocket {
  constructor(path, { seq = 0, share = "", onEvent, onMetrics, onResynced, onClose } = {}) {
    this.url = socketURL(path, share);
    this.seq = seq;
    this.held = new Map();
    this.onEvent = onEvent || (() => {});
    this.onMetrics = onMetrics || (() => {});
    this.onResynced = onResynced || (() => {});
    this.onClose = onClose || (() => {});
    this.delay = 500;
    this.closed = false;
    this.resyncing = false;
    this.connect();
  }

  connect() {
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      this.delay = 500;
      liveStatus("on", "Live");
      this.resync();
    };
    ws.onmessage = (message) => this.receive(JSON.parse(message.data));
    ws.onclose = (event) => {
      if (this.closed) return;
      // 4403/4404: access was refused or revoked; retrying would not help.
      if (event.code === 4403 || event.code === 4404) {
        liveStatus("off", event.code === 4403 ? "Link revoked" : "Not live");
        this.onClose(event.code);
        return;
      }
      liveStatus("off", "Reconnecting…");
      setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, 10000);
    };
  }

  resync() {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.resyncing = true;
    this.ws.send(JSON.stringify({ type: "resync", after: this.seq }));
  }

  receive(message) {
    if (message.type === "event") this.offer(message.event);
    else if (message.type === "events") {
      for (const event of message.events) this.offer(event);
      if (message.more) this.resync();
      else {
        this.resyncing = false;
        this.drain();
        this.onResynced(this.seq);
      }
    } else if (message.type === "metrics") this.onMetrics(message.trials);
  }

  offer(event) {
    if (event.seq <= this.seq) return; // applied already
    if (event.seq === this.seq + 1) {
      this.apply(event);
      this.drain();
      return;
    }
    this.held.set(event.seq, event);
    // A gap: ask for what is missing, unless a resync is already on its way.
    if (!this.resyncing) this.resync();
  }

  drain() {
    while (this.held.has(this.seq + 1)) {
      const next = this.held.get(this.seq + 1);
      this.held.delete(this.seq + 1);
      this.apply(next);
    }
    for (const seq of this.held.keys()) if (seq <= this.seq) this.held.delete(seq);
  }

  apply(event) {
    this.seq = event.seq;
    try {
      this.onEvent(event);
    } catch (error) {
      console.error("applying event", event, error);
    }
  }

  close() {
    this.closed = true;
    this.ws.close();
  }
}
