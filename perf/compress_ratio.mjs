// compress_ratio.mjs: how much permessage-deflate saves on a channel's real
// messages, through the server. Opens N WebSocket subscribers (Node's `ws`
// package, which offers permessage-deflate by itself) to /ws/<channel>,
// counts what they get for SEC seconds, then prints the server's own
// compression counters from /metrics as one JSON line.
//
//   node perf/compress_ratio.mjs PORT CHANNEL N SEC
// (run from the source tree: `ws` comes from its node_modules)
import { WebSocket } from 'ws';

const [port, channel, n, sec] = process.argv.slice(2);
const socks = [];
let msgs = 0;
let bytes = 0;
for (let i = 0; i < Number(n); i++) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/${channel}`, { perMessageDeflate: true });
  ws.on('message', (d) => {
    msgs++;
    bytes += d.length;
  });
  socks.push(ws);
}
await new Promise((r) => setTimeout(r, Number(sec) * 1000));
const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
const m = (name) => Number((text.split('\n').find((l) => l.startsWith(name + ' ')) ?? ' -1').split(' ')[1]);
console.log(JSON.stringify({
  channel, subscribers: Number(n), seconds: Number(sec), received: msgs, received_bytes: bytes,
  deflate_upgrades: m('ringcast_ws_deflate_upgrades_total'),
  compressed_messages: m('ringcast_compressed_messages_total'),
  compress_in_bytes: m('ringcast_compress_in_bytes_total'),
  compress_out_bytes: m('ringcast_compress_out_bytes_total'),
  compress_skipped: m('ringcast_compress_skipped_total'),
  compressed_deliveries: m('ringcast_compressed_deliveries_total'),
}));
for (const ws of socks) ws.terminate();
