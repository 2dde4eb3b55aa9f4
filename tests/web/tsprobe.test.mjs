// ws/client/tsprobe.js in Node: the page's MPEG-TS probe on streams that
// ffmpeg makes now (H.264 + AAC, MPEG-1 + MP2), fed in chunks cut anywhere.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';

import { ROOT } from './helpers.mjs';

const { TsProbe, describe } = await import(pathToFileURL(path.join(ROOT, 'ws/client/tsprobe.js')).href);

function ffmpegTs(codec) {
  const args = ['-nostdin', '-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i',
    'testsrc2=size=160x90:rate=25', '-f', 'lavfi', '-i', 'sine=f=440', '-t', '1', '-threads', '1',
    ...codec, '-f', 'mpegts', 'pipe:1'];
  return new Uint8Array(execFileSync('ffmpeg', args, { maxBuffer: 16 << 20 }));
}
const H264 = ['-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-g', '10',
  '-pix_fmt', 'yuv420p', '-c:a', 'aac'];
const MPEG1 = ['-c:v', 'mpeg1video', '-bf', '0', '-g', '10', '-c:a', 'mp2'];

/** Feeds ts in pieces of the given sizes (cycling); collects what comes out. */
function run(ts, sizes, probe = new TsProbe()) {
  const out = { bytes: 0, programs: [], video: [], seq: 0, aligned: true };
  for (let o = 0, i = 0; o < ts.length; i++) {
    const n = sizes[i % sizes.length];
    const { packets, events } = probe.feed(ts.subarray(o, o + n));
    o += n;
    out.bytes += packets.length;
    for (let p = 0; p < packets.length; p += 188) out.aligned &&= packets[p] === 0x47;
    for (const e of events) {
      if (e.type === 'program') out.programs.push(e.program);
      else if (e.video) {
        out.video.push(e.pts);
        out.seq += e.sequenceHeader;
      }
    }
  }
  return { ...out, probe };
}

test('H.264 + AAC: the program, the player and every frame, however the bytes are cut', () => {
  const ts = ffmpegTs(H264);
  for (const sizes of [[1316], [188], [1000, 7, 3000], [1]]) {
    const r = run(ts, sizes);
    assert.equal(r.bytes, ts.length, `all packets out (${sizes})`);
    assert.ok(r.aligned);
    assert.equal(r.programs.length, 1, 'one program event (the PMT repeats unchanged)');
    assert.equal(r.programs[0].codec, 'H.264 + AAC');
    assert.equal(r.programs[0].player, 'mpegts');
    assert.equal(r.video.length, 25, 'one PES per frame');
    assert.ok(r.video.every((t, i) => i === 0 || Math.abs(t - r.video[i - 1] - 0.04) < 0.001), 'PTS 40 ms apart');
    assert.equal(r.probe.resyncs, 0);
    assert.equal(r.probe.pat.length, 188);
    assert.equal(r.probe.pmt.length, 188);
  }
});

test('MPEG-1 + MP2 goes to JSMpeg; sequence headers are seen', () => {
  const r = run(ffmpegTs(MPEG1), [1316]);
  assert.equal(r.programs[0].codec, 'MPEG-1/2 video + MPEG audio');
  assert.equal(r.programs[0].player, 'jsmpeg');
  assert.equal(r.seq, 3, 'a sequence header per GOP of 10 frames');
});

test('a codec change is a new program; garbage is skipped', () => {
  const a = ffmpegTs(H264);
  const b = ffmpegTs(MPEG1);
  const ts = new Uint8Array(a.length + 100 + b.length);
  ts.set(a);
  ts.set(new Uint8Array(100).fill(7), a.length); // lost step
  ts.set(b, a.length + 100);
  const r = run(ts, [1316]);
  assert.deepEqual(r.programs.map((p) => p.player), ['mpegts', 'jsmpeg']);
  assert.ok(r.aligned, 'only whole packets come out');
  assert.ok(r.probe.resyncs >= 1);
  assert.equal(r.bytes, a.length + b.length, 'every packet of both streams');
});

test('describe() names what it cannot play', () => {
  assert.equal(describe([{ pid: 256, type: 0x24 }]).player, null);
  assert.equal(describe([{ pid: 257, type: 0x0f }]).player, null, 'audio only');
  assert.equal(describe([{ pid: 256, type: 0x99 }]).codec, 'stream type 0x99');
});
