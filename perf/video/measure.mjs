#!/usr/bin/env node
// Measures the demo page's video in headless Chromium against a real
// ringcast on loopback (docs/VIDEO.md has the figures and how they were
// taken):
//
//   ttff     time to first frame for viewers joining at random points of
//            the GOP: ts cache on and off, GOP 1 s and 2 s, mpegts.js (H.264
//            + AAC) over WebSocket and /stream, JSMpeg (MPEG-1) over
//            WebSocket; also how far behind live that first frame is and
//            where the latency is 3 s later.
//   latency  glass-to-glass delay: this script draws each frame itself and
//            writes the wall-clock time into it as 40 black/white blocks
//            (32 bits of Date.now() in ms and an 8-bit check), pipes the
//            frames to ffmpeg, which encodes and publishes them over UDP;
//            the page decodes the blocks from every shown frame (video
//            element or JSMpeg canvas drawn into a canvas) and subtracts
//            them from its own clock. Same machine, same clock.
//
//   node perf/video/measure.mjs ttff|latency [--joins N] [--seconds S] [--only REGEX]
//
// Prints one JSON line per sample and a summary table (Markdown) at the
// end. Needs `npm ci` (playwright-core), chromium and ffmpeg, like the
// browser tests; RINGCAST_BIN (default build/gateway/ringcast).
import { execFileSync, spawn } from 'node:child_process';
import os from 'node:os';
import { parseArgs } from 'node:util';

import { sleep, startServer, waitFor } from '../../tests/web/helpers.mjs';

const { chromium } = await import('playwright-core');
const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    joins: { type: 'string', default: '6' },
    seconds: { type: 'string', default: '20' },
    repeat: { type: 'string', default: '1' },
    only: { type: 'string', default: '' },
    'no-audio': { type: 'boolean', default: false },
    ff: { type: 'string', default: '' }, // extra ffmpeg output options, space-separated
  },
});
const mode = positionals[0];
if (!['ttff', 'latency'].includes(mode)) {
  console.error('usage: measure.mjs ttff|latency [--joins N] [--seconds S] [--only REGEX]');
  process.exit(2);
}
const only = opt.only ? new RegExp(opt.only) : null;

const W = 640;
const H = 360;
const FPS = 30;
const BLOCK = 32;
const out = (o) => console.log(JSON.stringify(o));

out({
  type: 'env',
  mode,
  args: process.argv.slice(2),
  date: new Date().toISOString(),
  commit: (() => {
    try {
      return execFileSync('git', ['rev-parse', '--short', 'HEAD']).toString().trim();
    } catch {
      return null;
    }
  })(),
  chromium: execFileSync('/usr/bin/chromium', ['--version']).toString().trim(),
  ffmpeg: execFileSync('ffmpeg', ['-version']).toString().split('\n')[0],
  cpus: os.cpus().length,
  loadavg: os.loadavg(),
});

// ---- the clock source: frames with the time in them, into ffmpeg ----

/** Paints frame n of a gray picture: the time blocks on top, a moving bar. */
function paint(buf, n, t) {
  buf.fill(128);
  const check = (((t & 255) + ((t >>> 8) & 255) + ((t >>> 16) & 255) + ((t >>> 24) & 255)) & 255) ^ 0x5a;
  for (let i = 0; i < 40; i++) {
    const bit = i < 32 ? Math.floor(t / 2 ** i) % 2 : (check >> (i - 32)) & 1;
    const x0 = (i % 20) * BLOCK;
    const y0 = Math.floor(i / 20) * BLOCK;
    for (let y = y0; y < y0 + BLOCK; y++) buf.fill(bit ? 235 : 16, y * W + x0, y * W + x0 + BLOCK);
  }
  const bx = (n * 8) % W;
  for (let y = 100; y < H; y++) buf.fill(235, y * W + bx, y * W + Math.min(W, bx + 24));
}

const ENC = {
  h264: (gop) => ['-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-g', String(gop * FPS),
    '-keyint_min', String(gop * FPS), '-sc_threshold', '0', '-bf', '0', '-pix_fmt', 'yuv420p', '-b:v', '1500k',
    '-c:a', 'aac', '-b:a', '96k'],
  mpeg1: (gop) => ['-c:v', 'mpeg1video', '-b:v', '1500k', '-bf', '0', '-g', String(gop * FPS),
    '-c:a', 'mp2', '-b:a', '128k'],
};

/**
 * ffmpeg reading our frames from stdin and a tone from fd 3, publishing
 * MPEG-TS to udp port; each 1/30 s one frame (stamped with Date.now() as
 * it is handed over) and 1/30 s of sound are written, like a capture
 * device delivers them: both from the same clock. (A tone from lavfi with
 * -re runs on ffmpeg's clock, which starts later than ours; the muxer then
 * holds video back until audio of the same time is there, which is not
 * what a camera does.) Stops after `seconds` (ffmpeg -t too).
 */
function clockSource(port, codec, gop, seconds) {
  const audio = !opt['no-audio'];
  const ff = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin',
    '-f', 'rawvideo', '-pix_fmt', 'gray', '-s', `${W}x${H}`, '-framerate', String(FPS), '-i', 'pipe:0',
    ...(audio ? ['-f', 's16le', '-ar', '48000', '-ac', '1', '-i', 'pipe:3'] : []),
    '-t', String(seconds), '-threads', '1', ...ENC[codec](gop).filter((a, i, all) =>
      !(opt['no-audio'] && (a.startsWith('-c:a') || a.startsWith('-b:a') || all[i - 1]?.match(/^-[cb]:a$/)))),
    ...(opt.ff ? opt.ff.split(' ') : []),
    '-f', 'mpegts', `udp://127.0.0.1:${port}?pkt_size=1316`], { stdio: ['pipe', 'ignore', 'pipe', 'pipe'] });
  let err = '';
  ff.stderr.on('data', (d) => (err = (err + d).slice(-2000)));
  ff.stdin.on('error', () => {});
  ff.stdio[3].on('error', () => {});
  const buf = Buffer.alloc(W * H);
  const pcm = Buffer.alloc((48000 / FPS) * 2);
  const t0 = Date.now();
  let n = 0;
  let timer = null;
  const tick = () => {
    if (ff.exitCode !== null || n >= seconds * FPS) return;
    paint(buf, n, Date.now() % 2 ** 32);
    ff.stdin.write(buf);
    if (audio) {
      for (let i = 0; i < pcm.length / 2; i++) {
        const k = n * (pcm.length / 2) + i;
        pcm.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * k) / 48000)), 2 * i);
      }
      ff.stdio[3].write(pcm);
    }
    n++;
    timer = setTimeout(tick, Math.max(0, t0 + (n * 1000) / FPS - Date.now()));
  };
  tick();
  return {
    tail: () => err,
    stop: () => new Promise((res) => {
      clearTimeout(timer);
      if (ff.exitCode !== null || ff.signalCode !== null) return res();
      ff.once('exit', res);
      ff.stdin.end();
      ff.stdio[3].end();
      ff.kill('SIGTERM');
    }),
  };
}

// ---- the page side ----

/**
 * Runs in the page before its scripts: once app.js sets
 * window.ringcastDemo (before any video data can arrive), reads the time
 * blocks of each shown frame.
 */
function installReader() {
  let demo;
  Object.defineProperty(window, 'ringcastDemo', {
    configurable: true,
    get: () => demo,
    set: (d) => {
      demo = d;
      read(d);
    },
  });
  function read(d) {
  const c = document.createElement('canvas');
  c.width = 640;
  c.height = 64;
  const ctx = c.getContext('2d', { willReadFrequently: true });
  window.__samples = [];
  window.__waits = 0; // the video element ran out of data
  document.getElementById('video-el').addEventListener('waiting', () => window.__waits++);
  d.video.frameHooks.add((adapter) => {
    const now = Date.now();
    ctx.drawImage(adapter.element, 0, 0, 640, 64, 0, 0, 640, 64);
    const d = ctx.getImageData(0, 0, 640, 64).data;
    let t = 0;
    let chk = 0;
    for (let i = 0; i < 40; i++) {
      const x = (i % 20) * 32 + 8;
      const y = Math.floor(i / 20) * 32 + 8;
      let s = 0;
      for (let yy = y; yy < y + 16; yy += 4) {
        for (let xx = x; xx < x + 16; xx += 4) {
          const o = (yy * 640 + xx) * 4;
          s += d[o] + d[o + 1] + d[o + 2];
        }
      }
      const bit = s / 48 > 128 ? 1 : 0;
      if (i < 32) t += bit * 2 ** i;
      else chk |= bit << (i - 32);
    }
    const sum = ((t & 255) + ((t >>> 8) & 255) + ((t >>> 16) & 255) + ((t >>> 24) & 255)) & 255;
    const ok = (sum ^ 0x5a) === chk;
    const lat = ok ? (((now % 2 ** 32) - t + 2 ** 32) % 2 ** 32) : null;
    // The player's own latency figure at the same moment (mpegts.js).
    const pl = adapter.stats().latency;
    window.__samples.push({ at: now, frame: adapter.frames, kind: adapter.kind, lat,
      pl: pl === null ? null : Math.round(pl * 1000) });
  });
  }
}

let browser;
async function newPage(port, query) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 800 } });
  page.on('pageerror', (e) => out({ type: 'pageerror', msg: e.message }));
  await page.addInitScript(installReader);
  await page.goto(`http://127.0.0.1:${port}/${query}`);
  return page;
}

const pct = (xs, p) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
const f0 = (x) => (Number.isFinite(x) ? x.toFixed(0) : '—');

const summary = [];

async function ttff() {
  const joins = Number(opt.joins);
  for (const cache of ['ts', 'none']) {
    const srv = await startServer(['--listen', '127.0.0.1:0', '--udp', '127.0.0.1:0=live',
      '--channel', `live:type=video/mp2t${cache === 'ts' ? ',cache=ts' : ''}`]);
    for (const [codec, transports] of [['h264', ['ws', 'http']], ['mpeg1', ['ws']]]) {
      for (const gop of [1, 2]) {
        const name = `${codec} gop${gop} cache=${cache}`;
        if (only && !transports.some((t) => only.test(`${name} ${t}`))) continue;
        const src = clockSource(srv.udp.live, codec, gop, 40 + joins * transports.length * 8);
        await sleep(3000);
        // Not counted: a first page in a fresh browser compiles the players.
        const warm = await newPage(srv.port, '');
        await waitFor(() => warm.evaluate(() => window.ringcastDemo.video.firstFrameAt > 0), 10000);
        await warm.close();
        for (const transport of transports) {
          if (only && !only.test(`${name} ${transport}`)) continue;
          const rows = [];
          for (let j = 0; j < joins; j++) {
            // A random point in the GOP.
            await sleep(Math.random() * gop * 1000);
            const page = await newPage(srv.port, `?transport=${transport}`);
            const first = await waitFor(() => page.evaluate(() => {
              const v = window.ringcastDemo.video;
              return v.firstFrameAt && { ttff: v.firstFrameAt - v.connectAt, kind: v.player.kind };
            }), 10000);
            await sleep(3000);
            const s = await page.evaluate(() => window.__samples);
            await page.close();
            const firstSample = s.find((x) => x.lat !== null);
            const late = s.filter((x) => x.lat !== null && x.at > s[s.length - 1].at - 1000);
            const row = {
              type: 'ttff', codec, gop, cache, transport,
              player: first?.kind ?? null,
              ttff_ms: first ? Math.round(first.ttff) : null,
              first_frame_index: firstSample?.frame ?? null,
              first_frame_behind_ms: firstSample?.lat ?? null,
              behind_after_3s_ms: late.length ? pct(late.map((x) => x.lat), 50) : null,
              unread: s.filter((x) => x.lat === null).length,
            };
            out(row);
            rows.push(row);
          }
          const t = rows.map((r) => r.ttff_ms).filter((x) => x !== null);
          const b = rows.map((r) => r.first_frame_behind_ms).filter((x) => x !== null);
          const a = rows.map((r) => r.behind_after_3s_ms).filter((x) => x !== null);
          summary.push(`| ${rows[0]?.player ?? codec} | ${transport} | ${gop} s | ${cache} | ${t.length}/${joins} | ` +
            `${f0(pct(t, 50))} | ${f0(Math.max(...t))} | ${f0(pct(b, 50))} | ${f0(pct(a, 50))} |`);
        }
        await src.stop();
      }
    }
    await srv.stop();
  }
  console.log('\n| player | transport | GOP | cache | joins with a frame | TTFF p50 ms | TTFF max ms | first frame behind live p50 ms | behind live 3 s later p50 ms |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const l of summary) console.log(l);
}

// mpegts.js settings compared (over WebSocket); the page's own are MPEGTS_CONFIG in ws/client/video.js.
const VARIANTS = {
  page: {}, // MPEGTS_CONFIG: chase > 0.8 s to 0.25 s, sync 0.45 -> 0.2 s
  'wide (chase > 1.0 s to 0.3 s, sync 0.6 -> 0.3 s)': {
    liveBufferLatencyMaxLatency: 1.0, liveBufferLatencyMinRemain: 0.3,
    liveSyncMaxLatency: 0.6, liveSyncTargetLatency: 0.3,
  },
  'mpegts.js defaults (isLive only)': {
    enableStashBuffer: true, lazyLoad: true, liveBufferLatencyChasing: false, liveSync: false,
    autoCleanupSourceBuffer: false,
  },
  'stash off, no chasing': { liveBufferLatencyChasing: false, liveSync: false },
  // = ?latency=low (MPEGTS_LOW_LATENCY)
  'low (chase > 0.5 s to 0.15 s, sync 0.3 -> 0.1 s)': {
    liveBufferLatencyMaxLatency: 0.5, liveBufferLatencyMinRemain: 0.15,
    liveSyncMaxLatency: 0.3, liveSyncTargetLatency: 0.1,
  },
  'tightest (chase > 0.3 s to 0.05 s, sync 0.15 -> 0.05 s)': {
    liveBufferLatencyMaxLatency: 0.3, liveBufferLatencyMinRemain: 0.05,
    liveSyncMaxLatency: 0.15, liveSyncTargetLatency: 0.05, liveSyncPlaybackRate: 1.2,
  },
};

async function latency() {
  const seconds = Number(opt.seconds);
  const srv = await startServer(['--listen', '127.0.0.1:0', '--udp', '127.0.0.1:0=live',
    '--channel', 'live:type=video/mp2t,cache=ts']);
  const runs = [
    ...Object.keys(VARIANTS).map((v) => ['h264', 'ws', v]),
    ['h264', 'http', 'page'],
    ['h264', 'http', 'low (chase > 0.5 s to 0.15 s, sync 0.3 -> 0.1 s)'],
    ['mpeg1', 'ws', 'page'],
    ['mpeg1', 'http', 'page'],
  ].filter(([c, t, v]) => !only || only.test(`${c} ${t} ${v}`))
    .flatMap((r) => Array(Number(opt.repeat)).fill(r));
  for (const codec of ['h264', 'mpeg1']) {
    const mine = runs.filter((r) => r[0] === codec);
    if (!mine.length) continue;
    const src = clockSource(srv.udp.live, codec, 1, mine.length * (seconds + 12) + 10);
    await sleep(3000);
    for (const [, transport, variant] of mine) {
      const q = `?transport=${transport}` +
        (codec === 'h264' && variant !== 'page' ? `&mpegts=${encodeURIComponent(JSON.stringify(VARIANTS[variant]))}` : '');
      const page = await newPage(srv.port, q);
      await sleep(6000); // joined at the cached keyframe: let the player settle
      await page.evaluate(() => {
        window.__samples = [];
        window.__waits = 0;
      });
      await sleep(seconds * 1000);
      const s = await page.evaluate(() => ({ samples: window.__samples, waits: window.__waits,
        st: window.ringcastDemo.video.player?.stats(), errors: window.ringcastDemo.video.errors }));
      await page.close();
      const lat = s.samples.map((x) => x.lat).filter((x) => x !== null);
      const own = s.samples.map((x) => x.pl).filter((x) => x !== null && x !== undefined);
      const row = {
        type: 'latency', codec, transport, variant, player: s.samples[0]?.kind ?? null,
        frames: s.samples.length, expected: seconds * FPS, waits: s.waits,
        unread: s.samples.length - lat.length,
        p50_ms: pct(lat, 50), p95_ms: pct(lat, 95), min_ms: Math.min(...lat), max_ms: Math.max(...lat),
        player_latency_p50_ms: own.length ? pct(own, 50) : null,
        player_stats: s.st, errors: s.errors,
      };
      out({ ...row, samples: lat, player_latency_samples: own });
      summary.push(`| ${row.player} | ${transport} | ${codec === 'h264' ? variant : '—'} | ` +
        `${row.frames}/${row.expected} | ${row.waits} | ` +
        `${f0(row.p50_ms)} | ${f0(row.p95_ms)} | ${f0(row.min_ms)} | ${f0(row.max_ms)} | ` +
        `${row.player_latency_p50_ms === null ? '—' : f0(row.player_latency_p50_ms)} |`);
    }
    await src.stop();
  }
  await srv.stop();
  console.log(`\n| player | transport | mpegts.js settings | frames shown/sent | stalls | p50 ms | p95 ms | min ms | max ms | player's figure p50 ms |`);
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const l of summary) console.log(l);
}

browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'],
});
try {
  await (mode === 'ttff' ? ttff() : latency());
} finally {
  await browser.close();
  out({ type: 'end', loadavg: os.loadavg() });
}
