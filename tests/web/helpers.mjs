// Shared by the browser-side tests: runs the real ringcast binary on
// loopback with ephemeral ports, publishes over UDP, bounds every wait.
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = process.env.RINGCAST_BIN ?? path.join(ROOT, 'build/gateway/ringcast');

/** Deadlines scale like the C harness's ($RINGCAST_TIME_SCALE). */
const SCALE = Math.min(1000, Math.max(1, Number(process.env.RINGCAST_TIME_SCALE) || 1));
export const ms = (n) => n * SCALE;

export const sleep = (n) => new Promise((r) => setTimeout(r, n));

/**
 * Polls cond() every 25 ms until it is truthy or timeoutMs passes; returns
 * its last value (falsy on timeout).
 */
export async function waitFor(cond, timeoutMs = ms(10000)) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v || Date.now() > end) return v;
    await sleep(25);
  }
}

/**
 * Starts ringcast with args and waits for "ready"; resolves to
 * { proc, port, udp: {channel: port}, stderr(), stop() }.
 */
export function startServer(args, timeoutMs = ms(20000)) {
  return new Promise((resolve, reject) => {
    const proc = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const srv = { proc, port: 0, udp: {}, stderr: () => err };
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`ringcast not ready in ${timeoutMs} ms: ${err}`));
    }, timeoutMs);
    proc.stderr.on('data', (d) => (err += d));
    proc.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    proc.on('exit', (code, sig) => {
      srv.exited = { code, sig };
      if (!srv.port) {
        clearTimeout(timer);
        reject(new Error(`ringcast exited (${code ?? sig}) before ready: ${err}`));
      }
    });
    proc.stdout.on('data', (d) => {
      out += d;
      if (!/^ready$/m.test(out) || srv.port) return;
      for (const line of out.split('\n')) {
        const w = line.trim().split(/\s+/);
        if (w[0] === 'listen' && w[1] === 'http') srv.port = Number(w[2].split(':').pop());
        if (w[0] === 'listen' && w[1] === 'udp') srv.udp[w[3]] = Number(w[2].split(':').pop());
      }
      clearTimeout(timer);
      resolve(srv);
    });
    /** SIGTERM, then SIGKILL after a bound; resolves to the exit code. */
    srv.stop = () =>
      new Promise((res) => {
        if (srv.exited) return res(srv.exited.code);
        const kill = setTimeout(() => proc.kill('SIGKILL'), ms(10000));
        proc.once('exit', (code) => {
          clearTimeout(kill);
          res(code);
        });
        proc.kill('SIGTERM');
      });
  });
}

/** Sends one datagram (string or bytes) to 127.0.0.1:port. */
export function sendUdp(sock, port, payload) {
  return new Promise((res, rej) =>
    sock.send(payload, port, '127.0.0.1', (e) => (e ? rej(e) : res())),
  );
}

export const udpSocket = () => dgram.createSocket('udp4');

/** GET /channels of a server, parsed. */
export async function channels(port) {
  const r = await fetch(`http://127.0.0.1:${port}/channels`);
  return (await r.json()).channels;
}

/** Subscribers (all transports) of one channel, 0 when it is not listed. */
export async function subscribers(port, name) {
  const ch = (await channels(port)).find((c) => c.name === name);
  return ch ? ch.subscribers.ws + ch.subscribers.stream + ch.subscribers.sse : 0;
}
