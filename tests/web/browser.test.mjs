// End to end in a real browser (Debian's chromium, driven headless by
// playwright-core): the demo page served by ringcast connects, shows rising
// counters for UDP-published game states, plays the MPEG-1 test pattern
// that ffmpeg publishes (JSMpeg; H.264 is in video.test.mjs), stops a channel's messages when another is picked,
// and comes back after ringcast restarts. Leaves a screenshot in the build
// directory ($RINGCAST_SCREENSHOT, default build/web-demo.png).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { launchChromium } from './chromium.mjs';
import { ROOT, ms, sleep, startServer, subscribers, waitFor } from './helpers.mjs';

const SHOT = process.env.RINGCAST_SCREENSHOT ?? path.join(ROOT, 'build', 'web-demo.png');

let srv;
let browser;
let page;
let args;
const children = [];

/** Starts a publisher process; it is killed (by its PID) in after(). */
function publisher(cmd, argv) {
  const p = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  p.stderr.on('data', (d) => (err = (err + d).slice(-2000)));
  p.tail = () => err;
  children.push(p);
  return p;
}

before(async () => {
  // The built-in static defaults (the source tree's page, the player from
  // node_modules) with the demo channel settings on ephemeral ports.
  srv = await startServer(['--listen', '127.0.0.1:0', '--udp', '127.0.0.1:0=live',
    '--udp', '127.0.0.1:0=game', '--channel', 'live:type=video/mp2t,cache=ts',
    '--channel', 'game:frames=text,uplink=on']);
  args = ['--listen', `127.0.0.1:${srv.port}`, '--udp', `127.0.0.1:${srv.udp.live}=live`,
    '--udp', `127.0.0.1:${srv.udp.game}=game`, '--channel', 'live:type=video/mp2t,cache=ts',
    '--channel', 'game:frames=text,uplink=on'];
  publisher('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-re', '-f', 'lavfi', '-i',
    'testsrc=size=320x180:rate=25', '-t', '120', '-c:v', 'mpeg1video', '-b:v', '800k', '-f', 'mpegts',
    `udp://127.0.0.1:${srv.udp.live}?pkt_size=1316`]);
  publisher(process.env.RINGCAST_PUB_BIN, ['--demo', 'game', '--rate', '30', '--udp', `127.0.0.1:${srv.udp.game}`]);
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1400, height: 760 } });
  page.setDefaultTimeout(ms(15000));
  page.on('pageerror', (e) => console.error('page error:', e.message));
});

after(async () => {
  await browser?.close();
  for (const p of children) if (p.exitCode === null) p.kill('SIGTERM');
  if (srv) assert.equal(await srv.stop(), 0, 'ringcast exits 0 after SIGTERM');
});

const text = (sel) => page.locator(sel).textContent();
const num = async (sel) => Number(await text(sel));

test('the page connects and shows rising counters for the game channel', async () => {
  await page.goto(`http://127.0.0.1:${srv.port}/`);
  await page.locator('#state[data-state=open]').waitFor();
  assert.equal(await text('#ch-name'), 'game');
  await page.locator('#channels li[data-channel=live]').waitFor();
  const a = await waitFor(async () => (await num('#ch-total')) > 0 && num('#ch-total'));
  assert.ok(a > 0, 'messages arrive');
  await sleep(ms(1500));
  const b = await num('#ch-total');
  assert.ok(b > a, `counter rises: ${a} -> ${b}`);
  assert.ok(await waitFor(async () => (await num('#ch-rate')) > 0), 'msgs/s shown');
  assert.ok(await waitFor(async () => (await num('#ch-subs')) >= 1), 'subscriber count shown');
  assert.equal(await num('#ch-gaps'), 0, 'nothing lost on a healthy connection');
  // Chromium offers permessage-deflate by itself: the game channel (text,
  // states of some 360 bytes) reaches it compressed, and it decodes them
  // (the state above parsed, the dots drawn below).
  const m = await (await fetch(`http://127.0.0.1:${srv.port}/metrics`)).text();
  const val = (name) => Number((m.split('\n').find((l) => l.startsWith(name + ' ')) ?? ' -1').split(' ')[1]);
  assert.ok(val('ringcast_ws_deflate_upgrades_total') >= 1, 'the page agreed to permessage-deflate');
  assert.ok(val('ringcast_compressed_deliveries_total') > 0, 'game states went compressed');
  // The latest message is the game state, and it is drawn.
  const latest = JSON.parse(await text('#latest'));
  assert.equal(latest.w, 640);
  assert.ok(Array.isArray(latest.dots) && latest.dots.length > 0);
  const colored = await page.evaluate(() => {
    const c = document.getElementById('view');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] > 80 || d[i + 1] > 80 || d[i + 2] > 80) n++;
    return n;
  });
  assert.ok(colored > 500, `dots painted (${colored} bright pixels)`);
});

test('the arrow keys steer the ringed dot: input goes back to the game through the uplink', async () => {
  const dot0 = async () => JSON.parse(await text('#latest')).dots[0];
  const metric = async (name) => {
    const body = await (await fetch(`http://127.0.0.1:${srv.port}/metrics`)).text();
    const line = body.split('\n').find((l) => l.startsWith(name + ' '));
    return line ? Number(line.split(' ')[1]) : -1;
  };
  await page.locator('#view').click({ position: { x: 1, y: 1 } }); // focus; steers one step
  await page.keyboard.press('ArrowDown');
  // Steered, the dot stays where the inputs put it instead of moving on.
  const p1 = await waitFor(async () => {
    const a = await dot0();
    await sleep(250);
    const b = await dot0();
    return a[0] === b[0] && a[1] === b[1] && b;
  });
  assert.ok(p1, 'dot 0 stopped where it was steered');
  const right = p1[0] < 320;
  for (let i = 0; i < 3; i++) await page.keyboard.press(right ? 'ArrowRight' : 'ArrowLeft');
  const want = p1[0] + (right ? 60 : -60);
  assert.ok(await waitFor(async () => (await dot0())[0] === want),
    `dot 0 at ${await dot0()}, want x ${want}`);
  assert.equal((await dot0())[1], p1[1], 'and only sideways');
  assert.equal(await text('#steer'), '5 sent');
  assert.ok(await waitFor(async () => (await metric('ringcast_uplink_delivered_total')) >= 5),
    'the gateway delivered the five inputs to the publisher');
});

/** Samples the video canvas: bright pixels and a checksum. */
const videoSample = () => page.evaluate(() => {
  const c = document.getElementById('video');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let lit = 0;
  let sum = 0;
  for (let i = 0; i < d.length; i += 16) {
    if (d[i] + d[i + 1] + d[i + 2] > 60) lit++;
    sum = (sum * 31 + d[i] + d[i + 1] * 7 + d[i + 2] * 13) % 1000000007;
  }
  return { lit, sum, frames: window.ringcastDemo.video.player?.frames ?? 0 };
});

test('the video canvas paints non-blank, changing frames', async () => {
  const first = await waitFor(async () => {
    const s = await videoSample();
    return s.frames > 5 && s.lit > 1000 && s;
  }, ms(20000));
  assert.ok(first, `frames decoded and painted: ${JSON.stringify(await videoSample())}`);
  await sleep(ms(1200));
  const second = await videoSample();
  assert.ok(second.frames > first.frames, 'more frames decoded');
  assert.ok(second.lit > 1000, 'still not blank');
  assert.notEqual(second.sum, first.sum, 'the picture changes (testsrc has a moving part)');
  mkdirSync(path.dirname(SHOT), { recursive: true });
  await page.screenshot({ path: SHOT });
});

test('picking another channel stops the old channel\'s messages', async () => {
  const demo = () => page.evaluate(() => ({
    game: window.ringcastDemo.client.counters('game').messages,
    live: window.ringcastDemo.client.counters('live').messages,
    channels: window.ringcastDemo.client.channels(),
  }));
  await page.locator('#channels li[data-channel=live]').click();
  assert.equal(await text('#ch-name'), 'live');
  assert.ok(await waitFor(async () => (await demo()).live > 0), 'live messages arrive');
  // Only the video's own connection remains on game's neighbour: game has
  // no subscriber left once the unsubscribe went through.
  assert.ok(await waitFor(async () => (await subscribers(srv.port, 'game')) === 0),
    'the server dropped the game subscription');
  const before = await demo();
  assert.deepEqual(before.channels, ['live']);
  await sleep(ms(1000));
  const later = await demo();
  assert.equal(later.game, before.game, 'no game messages after the switch');
  assert.ok(later.live > before.live, 'live keeps coming');
  assert.match(await text('#ch-kind'), /binary/);
  await page.locator('#channels li[data-channel=game]').click();
  assert.ok(await waitFor(async () => (await demo()).game > later.game), 'game again');
});

test('the page reconnects after ringcast restarts', async () => {
  const before = await num('#ch-total');
  assert.equal(await srv.stop(), 0);
  srv = null;
  await page.locator('#state[data-state=reconnecting]').waitFor();
  await page.locator('#video-state[data-state=reconnecting]').waitFor();
  srv = await startServer(args);
  await page.locator('#state[data-state=open]').waitFor({ timeout: ms(20000) });
  const a = await waitFor(async () => (await num('#ch-total')) > before && num('#ch-total'));
  assert.ok(a > before, 'counting again');
  await sleep(ms(1200));
  assert.ok((await num('#ch-total')) > a, 'and rising');
  await page.locator('#video-state[data-state=open]').waitFor();
  // The restart began a new history of the channel: what was published
  // between the old one's last message and the restart is lost, reported
  // once.
  assert.ok(await waitFor(async () => (await num('#ch-gaps')) === 1), `gaps ${await text('#ch-gaps')}`);
  const gap = await page.evaluate(() => window.ringcastDemo.client.counters('game'));
  assert.equal(gap.gaps, 1, JSON.stringify(gap));
});
