// ringcast browser client: one WebSocket to ringcast's /ws endpoint,
// carrying any number of channels. No dependencies; works in browsers and,
// given a WebSocket constructor (e.g. the `ws` package), in Node.
//
// Wire protocol (see README, "Several channels on one WebSocket"): the
// client sends {"sub":"x"} / {"unsub":"x"} as text frames; the server
// answers {"subscribed":"x"}, {"unsubscribed":"x"} or {"error":...}, and
// on /ws precedes every channel message with a text frame {"channel":"x"}
// naming the channel of the frame that follows.

/** Channel names ringcast accepts: 1-64 of A-Z a-z 0-9 . _ - */
export const CHANNEL_NAME = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Reconnect delay settings.
 * @typedef {object} Backoff
 * @property {number} [initialMs=250] delay before the first retry
 * @property {number} [maxMs=10000] longest delay
 * @property {number} [factor=2] growth per failed attempt
 */

/**
 * Delay before reconnect attempt number `attempt` (0 for the first):
 * exponential growth capped at maxMs, then "equal jitter": a uniformly
 * random point in the upper half of that, so clients cut off together do
 * not all come back in the same instant.
 * @param {number} attempt
 * @param {Backoff} [backoff]
 * @param {() => number} [random] uniform in [0, 1)
 * @returns {number} milliseconds
 */
export function backoffDelay(attempt, backoff = {}, random = Math.random) {
  const initial = backoff.initialMs ?? 250;
  const max = backoff.maxMs ?? 10000;
  const factor = backoff.factor ?? 2;
  const base = Math.min(max, initial * Math.pow(factor, Math.max(0, attempt)));
  return base / 2 + random() * (base / 2);
}

/**
 * Bytes of s in UTF-8, without encoding it.
 * @param {string} s
 * @returns {number}
 */
export function utf8Length(s) {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 4; // a surrogate pair: one 4-byte code point
      i++;
    } else n += 3;
  }
  return n;
}

/**
 * One message of a channel.
 * @typedef {object} Message
 * @property {string} channel the channel it was published to
 * @property {string|Uint8Array} data text frame: string; binary: bytes
 * @property {boolean} binary
 * @property {number} bytes payload size (UTF-8 bytes for text)
 */

/**
 * Per-channel counters since connect() (kept across reconnects).
 * @typedef {object} Counters
 * @property {number} messages
 * @property {number} bytes
 * @property {number} lastAt Date.now() of the last message, 0 if none
 */

/**
 * Connection states passed to onState: "connecting", "open",
 * "reconnecting" (detail.delayMs, detail.attempt), "closed" (after close()).
 * @callback StateCallback
 * @param {string} state
 * @param {{attempt?: number, delayMs?: number, code?: number, reason?: string}} detail
 */

/**
 * @typedef {object} ConnectOptions
 * @property {string[]} [channels] channels to subscribe to at once
 * @property {(msg: Message) => void} [onMessage]
 * @property {StateCallback} [onState]
 * @property {(reply: object) => void} [onReply] the server's answers to
 *   sub/unsub ({"subscribed":...}, {"error":...})
 * @property {Backoff} [backoff]
 * @property {typeof WebSocket} [WebSocket] constructor to use (default:
 *   the global one; pass the `ws` package's in Node 20)
 * @property {() => number} [random] for the jitter (tests)
 */

/**
 * @typedef {object} Client
 * @property {(channel: string) => void} subscribe
 * @property {(channel: string) => void} unsubscribe
 * @property {() => string[]} channels the channels asked for
 * @property {(channel: string) => Counters} counters
 * @property {() => string} state
 * @property {() => void} close stops for good: no more reconnects
 */

/**
 * Connects to ringcast's multi-channel WebSocket endpoint and keeps the
 * connection up: after a drop it reconnects with jittered exponential
 * backoff and subscribes again to every channel asked for.
 * @param {string} url e.g. "ws://127.0.0.1:8080/ws"
 * @param {ConnectOptions} [opts]
 * @returns {Client}
 */
export function connect(url, opts = {}) {
  const WS = opts.WebSocket ?? globalThis.WebSocket;
  if (!WS) throw new Error('ringcast: no WebSocket constructor (pass opts.WebSocket)');
  const wanted = new Set();
  const counters = new Map();
  let socket = null;
  let state = 'connecting';
  let attempt = 0;
  let timer = null;
  let closed = false;
  let label = null; // channel named by the last label frame, until its message

  const setState = (s, detail = {}) => {
    state = s;
    opts.onState?.(s, detail);
  };
  const send = (obj) => {
    if (socket && socket.readyState === 1) socket.send(JSON.stringify(obj));
  };
  const deliver = (channel, data, binary) => {
    // After unsubscribe() the server may still have a few messages of the
    // channel on the way: they are not ours any more.
    if (!wanted.has(channel)) return;
    const bytes = binary ? data.byteLength : utf8Length(data);
    const c = counters.get(channel);
    c.messages++;
    c.bytes += bytes;
    c.lastAt = Date.now();
    opts.onMessage?.({ channel, data, binary, bytes });
  };
  const onText = (text) => {
    if (label !== null) {
      const ch = label;
      label = null;
      deliver(ch, text, false);
      return;
    }
    let obj;
    try {
      obj = JSON.parse(text);
    } catch {
      return; // not ours: ignore
    }
    if (obj && typeof obj === 'object') {
      if (typeof obj.channel === 'string' && Object.keys(obj).length === 1) label = obj.channel;
      else opts.onReply?.(obj);
    }
  };
  const onBinary = (buf) => {
    const data = new Uint8Array(buf);
    if (label !== null) {
      const ch = label;
      label = null;
      deliver(ch, data, true);
    } else if (wanted.size === 1) {
      // Unlabelled (a /ws/<channel> URL): the one channel there is.
      deliver(wanted.values().next().value, data, true);
    }
  };
  const open = () => {
    timer = null;
    if (closed) return;
    setState('connecting', { attempt });
    label = null;
    let ws;
    try {
      ws = new WS(url);
    } catch (e) {
      retry(0, String(e));
      return;
    }
    socket = ws;
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      if (ws !== socket) return;
      attempt = 0;
      setState('open', {});
      for (const ch of wanted) send({ sub: ch });
    };
    ws.onmessage = (ev) => {
      if (ws !== socket) return;
      if (typeof ev.data === 'string') onText(ev.data);
      else onBinary(ev.data);
    };
    ws.onerror = () => {}; // onclose follows and decides
    ws.onclose = (ev) => {
      if (ws !== socket) return;
      socket = null;
      if (!closed) retry(ev.code, ev.reason);
    };
  };
  const retry = (code, reason) => {
    const delayMs = Math.round(backoffDelay(attempt, opts.backoff, opts.random));
    attempt++;
    setState('reconnecting', { attempt, delayMs, code, reason });
    timer = setTimeout(open, delayMs);
  };
  const check = (channel) => {
    if (typeof channel !== 'string' || !CHANNEL_NAME.test(channel))
      throw new TypeError(`ringcast: bad channel name ${JSON.stringify(channel)}`);
  };
  const client = {
    subscribe(channel) {
      check(channel);
      if (wanted.has(channel)) return;
      wanted.add(channel);
      if (!counters.has(channel)) counters.set(channel, { messages: 0, bytes: 0, lastAt: 0 });
      send({ sub: channel });
    },
    unsubscribe(channel) {
      check(channel);
      if (!wanted.delete(channel)) return;
      send({ unsub: channel });
    },
    channels: () => [...wanted],
    counters(channel) {
      const c = counters.get(channel);
      return c ? { ...c } : { messages: 0, bytes: 0, lastAt: 0 };
    },
    state: () => state,
    close() {
      if (closed) return;
      closed = true;
      if (timer) clearTimeout(timer);
      timer = null;
      const ws = socket;
      socket = null;
      if (ws) ws.close(1000, 'bye');
      setState('closed', {});
    },
  };
  for (const ch of opts.channels ?? []) client.subscribe(ch);
  open();
  return client;
}
