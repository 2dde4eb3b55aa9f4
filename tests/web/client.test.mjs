// The browser client (ws/client/ringcast.js) against a real ringcast on
// loopback, with the `ws` package as its WebSocket (Node 20 has none).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { backoffDelay, connect, isLabel, utf8Length } from '../../ws/client/ringcast.js';
import { channels, ms, sendUdp, startServer, subscribers, udpSocket, waitFor } from './helpers.mjs';

let WebSocket;
try {
  ({ WebSocket } = await import('ws'));
} catch {
  throw new Error("the npm package 'ws' is missing: run `npm ci` in the source tree (make test does)");
}

// kept keeps its last 100 messages (a resume can recover); bin and txt
// keep none.
const ARGS = ['--listen', '127.0.0.1:0', '--udp', '127.0.0.1:0=bin', '--udp', '127.0.0.1:0=txt',
  '--udp', '127.0.0.1:0=kept', '--channel', 'txt:frames=text', '--channel', 'kept:frames=text',
  '--cache', 'kept:last=100', '--static', 'off', '--channel-grace', '0'];
let srv;
let udp;
const clients = [];

before(async () => {
  srv = await startServer(ARGS);
  udp = udpSocket();
});

after(async () => {
  for (const c of clients) c.close();
  udp?.close();
  if (srv) assert.equal(await srv.stop(), 0, 'ringcast exits 0 after SIGTERM');
});

/** A client that records what it gets. */
function open(channels, extra = {}) {
  const got = [];
  const states = [];
  const c = connect(`ws://127.0.0.1:${srv.port}/ws`, {
    channels,
    WebSocket,
    onMessage: (m) => got.push(m),
    onState: (s, d) => states.push({ s, ...d }),
    ...extra,
  });
  clients.push(c);
  return { c, got, states };
}

test('backoff grows, is capped and jittered within the upper half', () => {
  const b = { initialMs: 100, maxMs: 1000, factor: 2 };
  assert.equal(backoffDelay(0, b, () => 0), 50);
  assert.equal(backoffDelay(0, b, () => 0.999999).toFixed(2), '100.00');
  assert.equal(backoffDelay(3, b, () => 0), 400);
  assert.equal(backoffDelay(20, b, () => 0), 500);
  assert.ok(backoffDelay(20, b, () => 0.9999) <= 1000);
  for (let a = 0; a < 10; a++) {
    const d = backoffDelay(a, b);
    const base = Math.min(1000, 100 * 2 ** a);
    assert.ok(d >= base / 2 && d <= base, `attempt ${a}: ${d}`);
  }
  assert.equal(utf8Length('aé€😀'), 1 + 2 + 3 + 4);
});

test('binary and text messages of two channels on one socket, counted per channel', async () => {
  const { c, got, states } = open(['bin', 'txt']);
  assert.ok(await waitFor(async () => (await subscribers(srv.port, 'bin')) === 1 &&
      (await subscribers(srv.port, 'txt')) === 1), 'both subscriptions seen by the server');
  assert.equal(c.state(), 'open');
  assert.deepEqual(states.map((s) => s.s), ['connecting', 'open']);
  const N = 20;
  for (let i = 0; i < N; i++) {
    await sendUdp(udp, srv.udp.bin, Buffer.from([i, 0, 255, 0x7b, 0x22])); // not text
    await sendUdp(udp, srv.udp.txt, JSON.stringify({ seq: i, s: 'é' }));
  }
  assert.ok(await waitFor(() => got.length === 2 * N), `got ${got.length} of ${2 * N}`);
  const bin = got.filter((m) => m.channel === 'bin');
  const txt = got.filter((m) => m.channel === 'txt');
  assert.equal(bin.length, N);
  assert.equal(txt.length, N);
  bin.forEach((m, i) => {
    assert.equal(m.binary, true);
    assert.ok(m.data instanceof Uint8Array);
    assert.deepEqual([...m.data], [i, 0, 255, 0x7b, 0x22]);
  });
  txt.forEach((m, i) => {
    assert.equal(m.binary, false);
    assert.deepEqual(JSON.parse(m.data), { seq: i, s: 'é' });
  });
  assert.deepEqual({ ...c.counters('bin'), lastAt: 0 },
    { messages: N, bytes: 5 * N, lastAt: 0, gaps: 0, missed: 0 });
  const txtBytes = txt.reduce((n, m) => n + Buffer.byteLength(m.data), 0);
  assert.equal(c.counters('txt').messages, N);
  assert.equal(c.counters('txt').bytes, txtBytes);
  c.close();
});

test('unsubscribe and subscribe on the fly', async () => {
  const replies = [];
  const { c, got } = open(['bin'], { onReply: (r) => replies.push(r) });
  assert.ok(await waitFor(async () => (await subscribers(srv.port, 'bin')) === 1));
  c.subscribe('txt');
  assert.ok(await waitFor(async () => (await subscribers(srv.port, 'txt')) === 1));
  c.unsubscribe('bin');
  assert.ok(await waitFor(async () => (await subscribers(srv.port, 'bin')) === 0),
    'the server dropped the subscription');
  assert.deepEqual(c.channels(), ['txt']);
  for (let i = 0; i < 10; i++) {
    await sendUdp(udp, srv.udp.bin, Buffer.from('old channel'));
    await sendUdp(udp, srv.udp.txt, `t${i}`);
  }
  assert.ok(await waitFor(() => got.filter((m) => m.channel === 'txt').length === 10));
  assert.equal(got.filter((m) => m.channel === 'bin').length, 0, 'nothing from bin after unsub');
  assert.ok(replies.some((r) => r.subscribed === 'txt'), JSON.stringify(replies));
  assert.ok(replies.some((r) => r.unsubscribed === 'bin'), JSON.stringify(replies));
  assert.throws(() => c.subscribe('no/slash'), TypeError);
  c.close();
});

test('reconnects with backoff after ringcast restarts, and subscribes again', async () => {
  const { c, got, states } = open(['txt'], { backoff: { initialMs: 50, maxMs: 400 } });
  assert.ok(await waitFor(async () => (await subscribers(srv.port, 'txt')) === 1));
  const { port } = srv;
  const udpPorts = srv.udp;
  assert.equal(await srv.stop(), 0);
  srv = null;
  assert.ok(await waitFor(() => states.filter((s) => s.s === 'reconnecting').length >= 3),
    'several attempts while the server is away');
  const delays = states.filter((s) => s.s === 'reconnecting').map((s) => s.delayMs);
  assert.ok(delays.every((d) => d >= 25 && d <= 400), `delays ${delays}`);
  srv = await startServer(['--listen', `127.0.0.1:${port}`,
    '--udp', `127.0.0.1:${udpPorts.bin}=bin`, '--udp', `127.0.0.1:${udpPorts.txt}=txt`,
    '--udp', `127.0.0.1:${udpPorts.kept}=kept`, ...ARGS.slice(ARGS.indexOf('--channel'))]);
  assert.ok(await waitFor(async () => c.state() === 'open' &&
      (await subscribers(srv.port, 'txt')) === 1, ms(10000)), `state ${c.state()}`);
  await sendUdp(udp, srv.udp.txt, 'after restart');
  assert.ok(await waitFor(() => got.some((m) => m.data === 'after restart')));
  c.close();
  assert.equal(c.state(), 'closed');
});

test('close() ends it: no reconnect attempts afterwards', async () => {
  const { c, states } = open(['bin'], { backoff: { initialMs: 20, maxMs: 40 } });
  assert.ok(await waitFor(() => c.state() === 'open'));
  c.close();
  const n = states.length;
  assert.ok(await waitFor(async () => (await subscribers(srv.port, 'bin')) === 0));
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(states.length, n, JSON.stringify(states.slice(n)));
  assert.equal(states.at(-1).s, 'closed');
});

/** A WebSocket class whose instances the test can reach, to cut one. */
function cuttable() {
  const sockets = [];
  class Cuttable extends WebSocket {
    constructor(...a) {
      super(...a);
      sockets.push(this);
    }
  }
  return { WS: Cuttable, cut: () => sockets.at(-1).terminate(), count: () => sockets.length };
}

/**
 * Subscribes a cuttable client to `channel`, gets 3 messages, cuts the
 * socket, publishes 4 while it is away, lets it come back and publishes 1
 * more. Returns what it saw.
 */
async function cutAndResume(channel) {
  const { WS, cut, count } = cuttable();
  const replies = [];
  const gaps = [];
  const { c, got } = open([channel], {
    WebSocket: WS,
    backoff: { initialMs: 1200, maxMs: 1200 },
    onReply: (r) => replies.push(r),
    onGap: (ch, g) => gaps.push({ ch, ...g }),
  });
  assert.ok(await waitFor(async () => (await subscribers(srv.port, channel)) === 1));
  const base = await published(channel);
  for (let i = 1; i <= 3; i++) await sendUdp(udp, srv.udp[channel], `${channel} m${i}`);
  assert.ok(await waitFor(() => got.length === 3), `got ${got.length} of 3`);
  cut();
  assert.ok(await waitFor(async () => (await subscribers(srv.port, channel)) === 0),
    'the server saw the cut');
  for (let i = 4; i <= 7; i++) await sendUdp(udp, srv.udp[channel], `${channel} m${i}`);
  assert.ok(await waitFor(async () => (await published(channel)) >= base + 7), 'all 7 published');
  assert.ok(await waitFor(async () => count() === 2 && c.state() === 'open' &&
      (await subscribers(srv.port, channel)) === 1), `state ${c.state()}`);
  await sendUdp(udp, srv.udp[channel], `${channel} m8`);
  assert.ok(await waitFor(() => got.some((m) => Buffer.from(m.data).toString().endsWith('m8'))), 'live after');
  c.close();
  return { c, got, replies, gaps, texts: got.map((m) => Buffer.from(m.data).toString()) };
}

/** How many messages the server counted on channel `name`. */
async function published(name) {
  return (await channels(srv.port)).find((c) => c.name === name)?.messages ?? 0;
}

test('after a cut the client resumes where it was: the cache gives what it missed, no gap', async () => {
  const { c, replies, gaps, texts } = await cutAndResume('kept');
  assert.deepEqual(texts, [1, 2, 3, 4, 5, 6, 7, 8].map((i) => `kept m${i}`),
    'every message once, in order');
  const answer = replies.find((r) => r.subscribed === 'kept' && 'recovered' in r);
  assert.ok(answer, JSON.stringify(replies));
  assert.equal(answer.recovered, true, JSON.stringify(answer));
  assert.deepEqual(gaps, []);
  assert.equal(c.counters('kept').gaps, 0);
});

test('what the server no longer has is reported once by onGap, then live goes on', async () => {
  const { c, replies, gaps, texts } = await cutAndResume('bin');
  assert.deepEqual(texts, ['bin m1', 'bin m2', 'bin m3', 'bin m8'], 'no cache: the missed are lost');
  const answer = replies.find((r) => r.subscribed === 'bin' && 'recovered' in r);
  assert.equal(answer?.recovered, false, JSON.stringify(replies));
  assert.equal(gaps.length, 1, JSON.stringify(gaps));
  assert.equal(gaps[0].ch, 'bin');
  assert.equal(gaps[0].to - gaps[0].from + 1, 4, JSON.stringify(gaps[0]));
  assert.equal(gaps[0].epoch, answer.epoch);
  assert.deepEqual([c.counters('bin').gaps, c.counters('bin').missed], [1, 4]);
});

/** A stand-in socket the test feeds frames into by hand. */
function fakeSocket() {
  const made = [];
  class Fake {
    constructor() {
      this.readyState = 1;
      this.sent = [];
      made.push(this);
      setTimeout(() => this.onopen?.(), 0);
    }
    send(t) {
      this.sent.push(JSON.parse(t));
    }
    close() {}
    frame(obj, data) {
      this.onmessage({ data: JSON.stringify(obj) });
      this.onmessage({ data });
    }
  }
  return { Fake, made };
}

test('labels: positions are read, late messages fill holes, repeats are dropped, holes become gaps', async () => {
  assert.ok(isLabel({ channel: 'a' }) && isLabel({ channel: 'a', epoch: 'e', seq: 1 }));
  assert.ok(!isLabel({ channel: 'a', recovered: true, epoch: 'e', seq: 1 }));
  assert.ok(!isLabel({ subscribed: 'a' }));
  const { Fake, made } = fakeSocket();
  const got = [];
  const gaps = [];
  const c = connect('ws://unused/ws', { channels: ['a'], WebSocket: Fake,
    onMessage: (m) => got.push(m.data), onGap: (ch, g) => gaps.push({ ch, ...g }) });
  assert.ok(await waitFor(() => c.state() === 'open'));
  const s = made[0];
  assert.deepEqual(s.sent, [{ sub: 'a' }]);
  const E = '00000000000000aa';
  s.frame({ channel: 'a', epoch: E, seq: 1 }, 'one');
  s.frame({ channel: 'a', epoch: E, seq: 3 }, 'three'); // 2 is late (another publisher)
  s.frame({ channel: 'a', epoch: E, seq: 2 }, 'two');
  s.frame({ channel: 'a', epoch: E, seq: 2 }, 'two again');
  s.frame({ channel: 'a', epoch: E, seq: 6 }, 'six'); // 4 and 5 never come
  assert.deepEqual(got, ['one', 'three', 'two', 'six']);
  assert.deepEqual(gaps, [], 'a hole waits for its message a while');
  assert.ok(await waitFor(() => gaps.length === 1, 3000), 'then it is a gap');
  assert.deepEqual(gaps[0], { ch: 'a', from: 4, to: 5, epoch: E });
  // A new history (the channel came back, or the server restarted).
  const F = '00000000000000bb';
  s.frame({ channel: 'a', epoch: F, seq: 1 }, 'new one');
  assert.deepEqual(gaps[1], { ch: 'a', from: 7, to: null, epoch: E });
  assert.deepEqual([c.counters('a').gaps, c.counters('a').missed], [2, 2]);
  // Reconnecting asks for what came after the last position.
  s.onclose({ code: 1006, reason: '' });
  assert.ok(await waitFor(() => made.length === 2, 3000));
  assert.ok(await waitFor(() => made[1].sent.length === 1));
  assert.deepEqual(made[1].sent, [{ sub: 'a', since: 1, epoch: F }]);
  c.close();
});
