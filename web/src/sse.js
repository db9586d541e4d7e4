// The live stream (GET /api/v1/stream) needs a bearer token, which
// EventSource cannot send, so it is read with fetch() and parsed here
// (the text/event-stream format of the HTML standard). Reconnects with
// exponential back-off; `onOpen(reconnected)` lets the caller re-fetch what
// it may have missed.

import { getToken, retryAfterSeconds } from './api.js';

/** Splits a text/event-stream into events; feed it decoded chunks. */
export class SseParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buf = '';
    this.reset();
  }

  reset() {
    this.event = '';
    this.data = [];
  }

  push(chunk) {
    const buf = this.buf + chunk;
    let start = 0;
    for (let i = 0; i < buf.length; i++) {
      const c = buf.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      // A \r at the very end may be the first half of \r\n: wait for more.
      if (c === 13 && i + 1 === buf.length) break;
      this.line(buf.slice(start, i));
      if (c === 13 && buf.charCodeAt(i + 1) === 10) i++;
      start = i + 1;
    }
    this.buf = buf.slice(start);
  }

  line(line) {
    if (line === '') {
      if (this.data.length) this.onEvent(this.event || 'message', this.data.join('\n'));
      this.reset();
      return;
    }
    if (line.startsWith(':')) return; // comment (keep-alive)
    const c = line.indexOf(':');
    const field = c < 0 ? line : line.slice(0, c);
    let value = c < 0 ? '' : line.slice(c + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
  }
}

const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 30000;
/** No bytes for this long (the server sends a keep-alive every 15 s): reconnect. */
const STALL_MS = 45000;

export class LiveStream {
  /**
   * @param {object} h handlers: event(name, data), status(state, info),
   *   open(reconnected), unauthorized()
   */
  constructor(h) {
    this.h = h;
    this.stopped = true;
    this.backoff = BACKOFF_MIN_MS;
    this.connectedOnce = false;
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop();
  }

  stop() {
    this.stopped = true;
    this.abort?.abort();
    clearTimeout(this.retryTimer);
    this.wake?.();
  }

  async loop() {
    while (!this.stopped) {
      let retryMs = this.backoff;
      try {
        this.h.status('connecting');
        retryMs = await this.once();
      } catch (e) {
        if (this.stopped) return;
        if (e?.name !== 'AbortError') console.info('live stream interrupted:', e?.message || e);
      }
      if (this.stopped) return;
      const wait = retryMs ?? this.backoff;
      this.backoff = Math.min(this.backoff * 2, BACKOFF_MAX_MS);
      this.h.status('reconnecting', Math.round(wait / 1000));
      await new Promise((r) => {
        this.wake = r;
        this.retryTimer = setTimeout(r, wait);
      });
    }
  }

  /** One connection; resolves with a retry delay (ms) when it ends. */
  async once() {
    this.abort = new AbortController();
    const resp = await fetch('/api/v1/stream', {
      headers: { Authorization: `Bearer ${getToken()}`, Accept: 'text/event-stream' },
      signal: this.abort.signal,
      cache: 'no-store',
    });
    if (resp.status === 401) {
      this.stopped = true;
      this.h.unauthorized();
      return null;
    }
    if (resp.status === 429) return retryAfterSeconds(resp.headers.get('Retry-After')) * 1000;
    if (!resp.ok || !resp.body) throw new Error(`HTTP ${resp.status}`);
    const reconnected = this.connectedOnce;
    this.connectedOnce = true;
    this.backoff = BACKOFF_MIN_MS;
    this.h.status('live');
    this.h.open(reconnected);
    const parser = new SseParser((name, data) => {
      let v;
      try {
        v = JSON.parse(data);
      } catch {
        return;
      }
      this.h.event(name, v);
    });
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    let stall;
    const arm = () => {
      clearTimeout(stall);
      stall = setTimeout(() => this.abort.abort(), STALL_MS);
    };
    arm();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        arm();
        parser.push(value);
      }
    } finally {
      clearTimeout(stall);
    }
    return null;
  }
}
