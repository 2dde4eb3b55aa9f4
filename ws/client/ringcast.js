// ringcast browser client: one WebSocket to ringcast's /ws endpoint,
// carrying any number of channels. No dependencies; works in browsers and,
// given a WebSocket constructor (e.g. the `ws` package), in Node.
//
// Wire protocol (see README, "Several channels on one WebSocket"): the
// client sends {"sub":"x"} / {"unsub":"x"} as text frames; the server
// answers {"subscribed":"x"}, {"unsubscribed":"x"} or {"error":...}, and
// on /ws precedes every channel message with a text frame
// {"channel":"x","epoch":"E","seq":N} naming the channel of the frame that
// follows and its position in the channel's history. After a reconnect the
// client asks for what it missed, {"sub":"x","since":N,"epoch":"E"}; the
// answer {"subscribed":"x","recovered":true|false,"epoch":"E","seq":N} says
// whether the server still had all of it (then it follows, then live).
// send(channel, data) reaches the channel's publisher (uplink): the client
// says {"to":"x"}, then sends the data as a binary message.

/** Channel names ringcast accepts: 1-64 of A-Z a-z 0-9 . _ - */
export const CHANNEL_NAME = /^[A-Za-z0-9._-]{1,64}$/;

// A position missing from a channel's numbering waits this long for its
// message (which may come late, out of order) before it is reported as a
// gap; a jump of more than MAX_HOLES is reported at once.
const HOLE_WAIT_MS = 1000;
const MAX_HOLES = 4096;

// A channel's history as one client has seen it: epoch, the highest
// position delivered, and the positions below it not (yet) delivered.
const newTrack = (epoch, last) => ({ epoch, last, holes: new Map() });

/**
 * Whether a parsed text frame is a label: {"channel":"x"}, with the
 * message's position ("epoch", "seq") or without. An answer to a resume on
 * a /ws/<channel> URL also names "channel" but says "recovered": no label.
 * @param {object} obj
 * @returns {boolean}
 */
export function isLabel(obj) {
  if (!obj || typeof obj !== 'object' || typeof obj.channel !== 'string') return false;
  return Object.keys(obj).every((k) => k === 'channel' || k === 'epoch' || k === 'seq');
}

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
 * @property {number} gaps times messages were missed (onGap calls)
 * @property {number} missed messages known to be missed (gaps whose end
 *   is known)
 */

/**
 * Messages of a channel the client did not get and cannot get any more:
 * positions from..to of the channel's history `epoch` (to is null when the
 * history itself was replaced, e.g. the server restarted: everything after
 * `from` in the old one is lost, and the client goes on in the new one).
 * @typedef {object} Gap
 * @property {number} from
 * @property {number|null} to
 * @property {string} epoch
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
 * @property {(channel: string, gap: Gap) => void} [onGap] messages were
 *   missed: after a reconnect the server no longer had them, or a slow
 *   connection had some skipped
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
 * @property {(channel: string, data: string|Uint8Array|ArrayBuffer) => boolean} send
 *   sends data to the channel's publisher (channels with uplink=on; others
 *   drop it); false when the connection is not open or the channel was
 *   not subscribed to
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
  let labelPos = null; // and that message's position, when the label had one
  // Per channel: where its history stands for this client (a Track).
  const positions = new Map();
  // Per channel: the position asked to resume from, until the answer.
  const resuming = new Map();
  let holeTimer = null;
  let uplinkTo = null; // the channel this socket's binary messages go to ({"to"})

  const setState = (s, detail = {}) => {
    state = s;
    opts.onState?.(s, detail);
  };
  const send = (obj) => {
    if (socket && socket.readyState === 1) socket.send(JSON.stringify(obj));
  };
  const gap = (channel, g) => {
    const c = counters.get(channel);
    if (!c) return;
    c.gaps++;
    if (g.to !== null) c.missed += g.to - g.from + 1;
    opts.onGap?.(channel, g);
  };
  // Reports the holes of channel's track that waited HOLE_WAIT_MS (all of
  // them when `all`), as gaps of consecutive positions.
  const flushHoles = (channel, t, all) => {
    const now = Date.now();
    const due = [...t.holes].filter(([, at]) => all || now - at >= HOLE_WAIT_MS).map(([q]) => q);
    due.sort((a, b) => a - b);
    for (let i = 0; i < due.length; ) {
      let j = i;
      while (j + 1 < due.length && due[j + 1] === due[j] + 1) j++;
      gap(channel, { from: due[i], to: due[j], epoch: t.epoch });
      for (let k = i; k <= j; k++) t.holes.delete(due[k]);
      i = j + 1;
    }
  };
  const watchHoles = () => {
    if (holeTimer) return;
    holeTimer = setTimeout(() => {
      holeTimer = null;
      let left = false;
      for (const [ch, t] of positions) {
        flushHoles(ch, t, false);
        if (t.holes.size) left = true;
      }
      if (left && !closed) watchHoles();
    }, HOLE_WAIT_MS);
  };
  // Takes message pos of channel into its track; false when it was
  // delivered already (it came again in a resume's replay). Messages can
  // arrive out of number order (two publishers on a channel), so a jump
  // leaves holes that are gaps only once they stayed empty a while.
  const advance = (channel, pos) => {
    let t = positions.get(channel);
    if (t && t.epoch !== pos.epoch) {
      // A new history: the rest of the old one is lost.
      flushHoles(channel, t, true);
      gap(channel, { from: t.last + 1, to: null, epoch: t.epoch });
      t = null;
    }
    if (!t) {
      positions.set(channel, newTrack(pos.epoch, pos.seq));
      return true;
    }
    if (pos.seq > t.last) {
      if (pos.seq - t.last - 1 > MAX_HOLES) {
        flushHoles(channel, t, true);
        gap(channel, { from: t.last + 1, to: pos.seq - 1, epoch: t.epoch });
      } else {
        for (let q = t.last + 1; q < pos.seq; q++) t.holes.set(q, Date.now());
        if (t.holes.size) watchHoles();
      }
      t.last = pos.seq;
      return true;
    }
    return t.holes.delete(pos.seq);
  };
  // The answer to a resume: what could not be recovered is a gap.
  const resumed = (obj) => {
    const channel = obj.subscribed;
    const from = resuming.get(channel);
    resuming.delete(channel);
    const t = positions.get(channel);
    if (!from || !t || obj.recovered !== false || typeof obj.epoch !== 'string') return;
    const seq = Number(obj.seq);
    flushHoles(channel, t, true);
    if (obj.epoch !== from.epoch) gap(channel, { from: t.last + 1, to: null, epoch: t.epoch });
    else if (seq > t.last) gap(channel, { from: t.last + 1, to: seq, epoch: t.epoch });
    // The next message starts the track again: live ones come after seq,
    // but a video channel replays its latest GOP (numbered before it).
    positions.delete(channel);
  };
  const deliver = (channel, data, binary, pos) => {
    // After unsubscribe() the server may still have a few messages of the
    // channel on the way: they are not ours any more.
    if (!wanted.has(channel)) return;
    const bytes = binary ? data.byteLength : utf8Length(data);
    const c = counters.get(channel);
    if (pos && !advance(channel, pos)) return; // had it already
    c.messages++;
    c.bytes += bytes;
    c.lastAt = Date.now();
    opts.onMessage?.({ channel, data, binary, bytes });
  };
  const onText = (text) => {
    if (label !== null) {
      const ch = label;
      label = null;
      deliver(ch, text, false, labelPos);
      return;
    }
    let obj;
    try {
      obj = JSON.parse(text);
    } catch {
      return; // not ours: ignore
    }
    if (obj && typeof obj === 'object') {
      if (isLabel(obj)) {
        label = obj.channel;
        labelPos = typeof obj.epoch === 'string' && Number.isSafeInteger(obj.seq)
          ? { epoch: obj.epoch, seq: obj.seq } : null;
      } else {
        if (typeof obj.subscribed === 'string' && 'recovered' in obj) resumed(obj);
        // {"to"} refused: say it again next time.
        if (obj.error && obj.channel === uplinkTo) uplinkTo = null;
        opts.onReply?.(obj);
      }
    }
  };
  const onBinary = (buf) => {
    const data = new Uint8Array(buf);
    if (label !== null) {
      const ch = label;
      label = null;
      deliver(ch, data, true, labelPos);
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
    uplinkTo = null;
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      if (ws !== socket) return;
      attempt = 0;
      setState('open', {});
      resuming.clear();
      for (const ch of wanted) {
        const t = positions.get(ch);
        if (t) {
          // From the first hole: whatever of it the server still has
          // fills it, and what came already is dropped as it comes again.
          const since = t.holes.size ? Math.min(...t.holes.keys()) - 1 : t.last;
          resuming.set(ch, { epoch: t.epoch, seq: since });
          send({ sub: ch, since, epoch: t.epoch });
        } else {
          send({ sub: ch });
        }
      }
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
      if (!counters.has(channel))
        counters.set(channel, { messages: 0, bytes: 0, lastAt: 0, gaps: 0, missed: 0 });
      send({ sub: channel });
    },
    unsubscribe(channel) {
      check(channel);
      if (!wanted.delete(channel)) return;
      // A later subscribe() starts afresh: what came meanwhile is no gap.
      positions.delete(channel);
      // The server forgets {"to"} with the subscription.
      if (uplinkTo === channel) uplinkTo = null;
      resuming.delete(channel);
      send({ unsub: channel });
    },
    channels: () => [...wanted],
    send(channel, data) {
      check(channel);
      if (!wanted.has(channel) || !socket || socket.readyState !== 1) return false;
      // Binary messages go where the last {"to"} said: say it once per
      // change of channel (the server answers {"uplink":"x"} or an error).
      if (uplinkTo !== channel) {
        send({ to: channel });
        uplinkTo = channel;
      }
      socket.send(typeof data === 'string' ? new TextEncoder().encode(data) : data);
      return true;
    },
    counters(channel) {
      const c = counters.get(channel);
      return c ? { ...c } : { messages: 0, bytes: 0, lastAt: 0, gaps: 0, missed: 0 };
    },
    state: () => state,
    close() {
      if (closed) return;
      closed = true;
      if (timer) clearTimeout(timer);
      if (holeTimer) clearTimeout(holeTimer);
      timer = holeTimer = null;
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
