// Live events: the WebSocket GET /ws first, the SSE stream GET /events when
// the WebSocket cannot be used. Listeners get each buildnet.Event object.

export const EVENT_TYPES = [
  'build:queued', 'build:start', 'package:start', 'package:output',
  'package:complete', 'build:complete', 'cache:cleared', 'config:reloaded',
  'config:rejected',
];

// Live keeps one connection open, reconnecting with back-off.
export class Live {
  constructor({ onEvent, onState, onError } = {}) {
    this.onEvent = onEvent || (() => {});
    this.onState = onState || (() => {});
    this.onError = onError || (() => {});
    this.state = 'connecting'; // connecting | ws | sse | offline
    this.lastSeq = 0;
    this.wsFailures = 0;
    this.retry = 0;
    this.ws = null;
    this.es = null;
    this.timer = 0;
    this.stopped = false;
    this.session = '';
  }

  start() {
    this.stopped = false;
    if (typeof WebSocket === 'function' && this.wsFailures < 2) this.openWS();
    else this.openSSE();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) { this.ws.onclose = null; this.ws.close(); this.ws = null; }
    if (this.es) { this.es.close(); this.es = null; }
  }

  setState(s, detail = '') {
    this.state = s;
    this.onState(s, detail);
  }

  deliver(ev) {
    if (!ev || typeof ev !== 'object') return;
    // remembered so that a switch to SSE resumes where the WebSocket stopped
    if (typeof ev.seq === 'number') this.lastSeq = ev.seq;
    try {
      this.onEvent(ev);
    } catch (err) {
      // a view's bug must not kill the stream; report it as an error
      this.onError(err);
    }
  }

  openWS() {
    this.setState('connecting', 'WebSocket');
    const proto = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    let ws;
    try {
      ws = new WebSocket(`${proto}//${window.location.host}/ws`);
    } catch {
      this.wsFailures = 2;
      this.openSSE();
      return;
    }
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.wsFailures = 0;
      this.retry = 0;
      ws.send(JSON.stringify({ op: 'subscribe' }));
      this.setState('ws', 'WebSocket');
    };
    ws.onmessage = (msg) => {
      let m;
      try { m = JSON.parse(msg.data); } catch { return; }
      if (!m || typeof m !== 'object') return;
      if (m.op === 'event') this.deliver(m.event);
      else if (m.op === 'hello') this.session = m.session || '';
      else if (m.op === 'error' && m.error) this.onError(Object.assign(new Error(m.error.message || m.error.code), { code: m.error.code }));
    };
    ws.onerror = () => { /* onclose follows and decides */ };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      if (!opened) this.wsFailures++;
      if (this.wsFailures >= 2) {
        this.openSSE();
        return;
      }
      this.reconnect();
    };
  }

  openSSE() {
    if (typeof EventSource !== 'function') {
      this.setState('offline', 'no WebSocket or EventSource in this browser');
      return;
    }
    this.setState('connecting', 'SSE');
    const q = this.lastSeq ? `?last_event_id=${this.lastSeq}` : '';
    const es = new EventSource(`/events${q}`);
    this.es = es;
    const handler = (msg) => {
      let ev;
      try { ev = JSON.parse(msg.data); } catch { return; }
      this.deliver(ev);
    };
    for (const t of EVENT_TYPES) es.addEventListener(t, handler);
    es.onmessage = handler; // events sent without an event: line
    es.onopen = () => { this.retry = 0; this.setState('sse', 'Server-sent events'); };
    es.onerror = () => {
      if (this.es !== es) return;
      if (es.readyState === EventSource.CLOSED) {
        // the browser gave up (HTTP error): try again later, WebSocket first
        this.es = null;
        this.wsFailures = 0;
        this.reconnect();
      } else {
        this.setState('connecting', 'SSE');
      }
    };
  }

  reconnect() {
    if (this.stopped) return;
    this.setState('offline', 'reconnecting');
    const delay = Math.min(15000, 500 * 2 ** this.retry++);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.start(), delay);
  }
}
