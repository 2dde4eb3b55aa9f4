// The demo page's video on another node (issue 18): ffmpeg publishes
// H.264 + AAC to node A, the page is opened on node C, and A and C are
// joined only by a nats-server. In Debian's chromium (headless,
// playwright-core): the picture plays and changes, and a viewer joining
// mid-stream on C sees a first frame within the same bound as on one node
// (C asks A for the cached GOP). Everything on loopback; processes stopped
// by PID.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { after, before, test } from 'node:test';

import { launchChromium, sampleVideo as sample } from './chromium.mjs';
import { ms, sleep, startServer, waitFor } from './helpers.mjs';

const NATS = process.env.NATS_SERVER ?? '/usr/sbin/nats-server';
if (!existsSync(NATS)) throw new Error(`${NATS} missing: apt-get install nats-server (make test does)`);

// As in video.test.mjs: a joiner's first frame, with the GOP from the
// cache; here it crosses NATS once more.
const FIRST_FRAME_BOUND_MS = ms(2000);

let nats;
let a;
let c;
let browser;
let ffmpeg;
const pageErrors = [];

/** A free loopback TCP port. */
const freePort = () => new Promise((res, rej) => {
  const s = net.createServer();
  s.once('error', rej);
  s.listen(0, '127.0.0.1', () => {
    const { port } = s.address();
    s.close(() => res(port));
  });
});

/** Resolves once 127.0.0.1:port accepts. */
const accepts = (port) => waitFor(() => new Promise((res) => {
  const s = net.connect(port, '127.0.0.1', () => {
    s.destroy();
    res(true);
  });
  s.once('error', () => res(false));
}), ms(10000));

/** SIGTERM by PID, and wait for the exit. */
const stop = (p) => new Promise((res) => {
  if (!p || p.exitCode !== null || p.signalCode !== null) return res();
  p.once('exit', res);
  p.kill('SIGTERM');
});

async function openPage(srv, query = '') {
  const page = await browser.newPage({ viewport: { width: 1400, height: 800 } });
  page.setDefaultTimeout(ms(15000));
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(`http://127.0.0.1:${srv.port}/${query}`);
  return page;
}

before(async () => {
  const port = await freePort();
  nats = spawn(NATS, ['-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  assert.ok(await accepts(port), 'nats-server accepts');
  const node = ['--listen', '127.0.0.1:0', '--channel', 'live:type=video/mp2t,cache=ts',
    '--nats', `nats://127.0.0.1:${port}`];
  a = await startServer([...node, '--udp', '127.0.0.1:0=live']);
  c = await startServer(node);
  browser = await launchChromium();
  // ffmpeg to node A only, bounded in time.
  ffmpeg = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin',
    '-re', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30',
    '-re', '-f', 'lavfi', '-i', 'sine=f=440:sample_rate=48000', '-t', '40',
    '-threads', '1', '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-g', '30',
    '-sc_threshold', '0', '-bf', '0', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '64k',
    '-f', 'mpegts', `udp://127.0.0.1:${a.udp.live}?pkt_size=1316`], { stdio: 'ignore' });
});

after(async () => {
  await browser?.close();
  await stop(ffmpeg);
  for (const srv of [a, c]) if (srv) assert.equal(await srv.stop(), 0, 'ringcast exits 0');
  await stop(nats);
});

test('node A\'s H.264 + AAC plays on node C\'s page', async () => {
  const page = await openPage(c);
  const first = await waitFor(async () => {
    const s = await sample(page);
    return s.kind === 'mpegts' && s.time > 0.3 && s.lit > 500 && s;
  }, ms(20000));
  assert.ok(first, `playing on C: ${JSON.stringify(await sample(page))}`);
  assert.equal(first.codec, 'H.264 + AAC');
  await sleep(ms(1500));
  const second = await sample(page);
  assert.ok(second.time > first.time + 1, `currentTime advances: ${first.time} -> ${second.time}`);
  assert.notEqual(second.sum, first.sum, 'the picture changes');
  assert.deepEqual(second.errors, [], 'no player errors');
  const m = await (await fetch(`http://127.0.0.1:${c.port}/metrics`)).text();
  assert.match(m, /^ringcast_nats_msgs_in_total [1-9]/m, 'C took it from NATS');
  assert.match(m, /^ringcast_nats_gaps_total 0$/m, 'without a gap');
  await page.close();
});

test(`a viewer joining mid-stream on node C sees a picture within ${FIRST_FRAME_BOUND_MS} ms`, async () => {
  // The first viewer left: C unsubscribes after the channel grace, so
  // this joiner may come to a worker that asks A for the GOP again.
  await sleep(ms(300 + Math.floor(Math.random() * 700)));
  const late = await openPage(c);
  const s = await waitFor(async () => {
    const x = await sample(late);
    return x.ttff !== null && x;
  }, ms(10000));
  assert.ok(s, `a first frame: ${JSON.stringify(await sample(late))}`);
  console.log(`# node C: first frame ${s.ttff.toFixed(0)} ms after connecting`);
  assert.ok(s.ttff < FIRST_FRAME_BOUND_MS, `first frame after ${s.ttff} ms`);
  assert.deepEqual(s.errors, []);
  assert.deepEqual(pageErrors, []);
  await late.close();
});
