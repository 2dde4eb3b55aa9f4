#!/usr/bin/env node
// A stand-in for `ringcast-pub --demo game` (used when that is not
// available): sends game states as UDP text datagrams,
//   {"seq":N,"t":MS,"w":640,"h":360,"dots":[[X,Y,HUE],...]}
// Usage: game-gen.mjs HOST:PORT [rate=30] [count=0 (forever)]
import dgram from 'node:dgram';

const [hostPort, rateArg, countArg] = process.argv.slice(2);
if (!hostPort || !hostPort.includes(':')) {
  console.error('usage: game-gen.mjs HOST:PORT [RATE] [COUNT]');
  process.exit(2);
}
const host = hostPort.slice(0, hostPort.lastIndexOf(':'));
const port = Number(hostPort.slice(hostPort.lastIndexOf(':') + 1));
const rate = Number(rateArg) || 30;
const count = Number(countArg) || 0;
const W = 640;
const H = 360;
const N = 12;
const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
const start = Date.now();
let seq = 0;

function state() {
  const t = Date.now() - start;
  const dots = [];
  for (let i = 0; i < N; i++) {
    // Each dot circles at its own speed: smooth, and clearly moving.
    const a = (t / 1000) * (0.5 + i * 0.15) + (i * 2 * Math.PI) / N;
    const r = 60 + 10 * i;
    dots.push([
      Math.round(W / 2 + r * Math.cos(a)),
      Math.round(H / 2 + r * 0.8 * Math.sin(a)),
      (i * 360) / N,
    ]);
  }
  return JSON.stringify({ seq, t, w: W, h: H, dots });
}

const timer = setInterval(() => {
  sock.send(state(), port, host);
  seq++;
  if (count && seq >= count) {
    clearInterval(timer);
    setTimeout(() => sock.close(), 100);
  }
}, 1000 / rate);
for (const s of ['SIGINT', 'SIGTERM'])
  process.on(s, () => {
    clearInterval(timer);
    sock.close();
    process.exit(0);
  });
