// The browser client (ws/client/ringcast.js) against a real ringcast on
// loopback, with the `ws` package as its WebSocket (Node 20 has none).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { backoffDelay, connect, utf8Length } from '../../ws/client/ringcast.js';
import { ms, sendUdp, startServer, subscribers, udpSocket, waitFor } from './helpers.mjs';

let WebSocket;
try {
  ({ WebSocket } = await import('ws'));
} catch {
  throw new Error("the npm package 'ws' is missing: run `npm ci` in the source tree (make test does)");
}

const ARGS = ['--listen', '127.0.0.1:0', '--udp', '127.0.0.1:0=bin', '--udp', '127.0.0.1:0=txt',
  '--channel', 'txt:frames=text', '--static', 'off', '--channel-grace', '0'];
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
  assert.deepEqual({ ...c.counters('bin'), lastAt: 0 }, { messages: N, bytes: 5 * N, lastAt: 0 });
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
    '--channel', 'txt:frames=text', '--static', 'off']);
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
