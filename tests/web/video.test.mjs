// The demo page's video in a real browser (Debian's chromium, headless,
// driven by playwright-core): H.264 + AAC from ffmpeg plays through
// mpegts.js (video.currentTime advances, the decoded pictures change, no
// player errors), a viewer joining mid-GOP sees a picture within a bound,
// over WebSocket and over /stream, and the page follows the publisher from
// H.264 to MPEG-1 (JSMpeg) and back. Publishers are bounded with -t and
// stopped by PID; everything stays on loopback.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, test } from 'node:test';

import { launchChromium, sampleVideo as sample } from './chromium.mjs';
import { ms, sleep, startServer, waitFor } from './helpers.mjs';


// Time to first frame for a joiner of a channel with the ts cache: p50
// 0.28-0.38 s, worst 0.57 s in 36 joins on loopback (docs/VIDEO.md, GOP 1
// s and 2 s); without the cache up to a GOP more. The bound, 3.5 times the
// worst, leaves room for a loaded CI machine; that the cache starts a
// joiner at an IDR is checked exactly in tests/integration/test_ffmpeg.c.
const FIRST_FRAME_BOUND_MS = ms(2000);

let srv;
let browser;
const children = new Set();
const pageErrors = [];

/** ffmpeg's test pattern to the live channel, for at most `seconds`. */
function publish(codec, seconds = 60) {
  const enc = codec === 'h264'
    ? ['-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-g', '30', '-sc_threshold', '0',
      '-bf', '0', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '64k']
    : ['-c:v', 'mpeg1video', '-b:v', '800k', '-bf', '0', '-g', '30', '-c:a', 'mp2', '-b:a', '64k'];
  const p = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin',
    '-re', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30',
    '-re', '-f', 'lavfi', '-i', 'sine=f=440:sample_rate=48000', '-t', String(seconds),
    '-threads', '1', ...enc, '-f', 'mpegts', `udp://127.0.0.1:${srv.udp.live}?pkt_size=1316`],
  { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  p.stderr.on('data', (d) => (err = (err + d).slice(-2000)));
  p.tail = () => err;
  children.add(p);
  p.on('exit', () => children.delete(p));
  return p;
}

/** SIGTERM by PID, and wait for the exit. */
const stop = (p) => new Promise((res) => {
  if (p.exitCode !== null || p.signalCode !== null) return res();
  p.once('exit', res);
  p.kill('SIGTERM');
});

async function openPage(query = '') {
  const page = await browser.newPage({ viewport: { width: 1400, height: 800 } });
  page.setDefaultTimeout(ms(15000));
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(`http://127.0.0.1:${srv.port}/${query}`);
  return page;
}

before(async () => {
  srv = await startServer(['--listen', '127.0.0.1:0', '--udp', '127.0.0.1:0=live',
    '--channel', 'live:type=video/mp2t,cache=ts']);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  for (const p of [...children]) await stop(p);
  if (srv) assert.equal(await srv.stop(), 0, 'ringcast exits 0 after SIGTERM');
});

let h264;
let page;

test('H.264 + AAC from ffmpeg plays through mpegts.js', async () => {
  h264 = publish('h264');
  page = await openPage();
  const first = await waitFor(async () => {
    const s = await sample(page);
    return s.kind === 'mpegts' && s.time > 0.3 && s.lit > 500 && s;
  }, ms(20000));
  assert.ok(first, `playing: ${JSON.stringify(await sample(page))}; ffmpeg: ${h264.tail()}`);
  assert.equal(first.codec, 'H.264 + AAC');
  await sleep(ms(1500));
  const second = await sample(page);
  assert.ok(second.time > first.time + 1, `currentTime advances: ${first.time} -> ${second.time}`);
  assert.ok(second.frames > first.frames + 20, `frames shown: ${first.frames} -> ${second.frames}`);
  assert.notEqual(second.sum, first.sum, 'the picture changes (testsrc2 moves)');
  assert.ok(second.lit > 500, 'and is not blank');
  assert.deepEqual(second.errors, [], 'no player errors');
  // What the page shows about it.
  assert.equal(await page.locator('#video-codec').textContent(), 'H.264 + AAC');
  assert.match(await page.locator('#video-player').textContent(), /mpegts\.js/);
  assert.equal(await page.locator('#video-size').textContent(), '640×360');
  assert.match(await page.locator('#video-buffered').textContent(), /^\d+\.\d\d s$/);
  assert.match(await page.locator('#video-latency').textContent(), /^\d+\.\d\d s$/);
  assert.equal(await page.locator('#video-sound').isVisible(), true, 'a sound button (AAC)');
  assert.deepEqual(pageErrors, []);
});

for (const transport of ['ws', 'http']) {
  test(`a viewer joining mid-stream over ${transport} sees a picture within ${FIRST_FRAME_BOUND_MS} ms`, async () => {
    // Somewhere in a GOP: the publisher has been on for a few seconds.
    await sleep(ms(300 + Math.floor(Math.random() * 700)));
    const late = await openPage(`?transport=${transport}`);
    const s = await waitFor(async () => {
      const x = await sample(late);
      return x.ttff !== null && x;
    }, ms(10000));
    assert.ok(s, `a first frame: ${JSON.stringify(await sample(late))}`);
    console.log(`# ${transport}: first frame ${s.ttff.toFixed(0)} ms after connecting`);
    assert.ok(s.ttff < FIRST_FRAME_BOUND_MS, `first frame after ${s.ttff} ms`);
    assert.equal(s.kind, 'mpegts');
    assert.deepEqual(s.errors, []);
    await late.close();
  });
}

test('the page follows the publisher from H.264 to MPEG-1 and back', async () => {
  await stop(h264);
  const mpeg1 = publish('mpeg1');
  const j = await waitFor(async () => {
    const s = await sample(page);
    return s.kind === 'jsmpeg' && s.frames > 10 && s.lit > 500 && s;
  }, ms(20000));
  assert.ok(j, `JSMpeg plays MPEG-1: ${JSON.stringify(await sample(page))}; ffmpeg: ${mpeg1.tail()}`);
  assert.equal(j.codec, 'MPEG-1/2 video + MPEG audio');
  assert.equal(await page.locator('#video').isVisible(), true, 'the canvas is shown');
  assert.equal(await page.locator('#video-el').isVisible(), false, 'the video element is not');
  await sleep(ms(700));
  const j2 = await sample(page);
  assert.ok(j2.frames > j.frames && j2.sum !== j.sum, 'JSMpeg keeps decoding');

  await stop(mpeg1);
  h264 = publish('h264');
  const back = await waitFor(async () => {
    const s = await sample(page);
    return s.kind === 'mpegts' && s.time > 0.3 && s.lit > 500 && s;
  }, ms(20000));
  assert.ok(back, `mpegts.js again: ${JSON.stringify(await sample(page))}`);
  await sleep(ms(1000));
  const back2 = await sample(page);
  assert.ok(back2.time > back.time + 0.5, `currentTime advances: ${back.time} -> ${back2.time}`);
  assert.deepEqual(back2.errors, [], 'no player errors');
  const players = await page.evaluate(() => window.ringcastDemo.video.players);
  assert.equal(players, 3, 'one player per publisher');
  assert.deepEqual(pageErrors, []);
});
