// The demo page: a channel inspector on one ringcast client connection,
// and the `live` channel's MPEG-TS played through a second connection by
// the player its PMT calls for (video.js).
import { connect } from '/ringcast.js';
import { MPEGTS_LOW_LATENCY, playChannel } from '/video.js';

const $ = (id) => document.getElementById(id);
const wsUrl = new URL('/ws', location.href);
wsUrl.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';

const HISTORY = 60; // seconds in the chart
let selected = new URLSearchParams(location.search).get('channel') || 'game';
let listed = [];
let latest = null; // last message of the selected channel, drawn on the next frame
let drawPending = false;
let points = [];
let prev = { messages: 0, bytes: 0 };

function setBadge(el, state, detail = {}) {
  el.dataset.state = state;
  el.textContent = state === 'reconnecting' ? `reconnecting in ${(detail.delayMs / 1000).toFixed(1)} s`
    : state;
}

// ---- the inspector ----

const client = connect(wsUrl.href, {
  channels: [selected],
  onState: (s, d) => setBadge($('state'), s, d),
  onMessage: (m) => {
    if (m.channel !== selected) return;
    latest = m;
    if (!drawPending) {
      drawPending = true;
      requestAnimationFrame(drawLatest);
    }
  },
});

function select(name) {
  if (name === selected) return;
  lastGame = null;
  client.unsubscribe(selected);
  selected = name;
  client.subscribe(name);
  latest = null;
  points = [];
  prev = client.counters(name);
  $('latest').textContent = 'nothing yet';
  $('latest').classList.add('muted');
  $('ch-kind').textContent = '';
  $('view').hidden = true;
  const u = new URL(location.href);
  u.searchParams.set('channel', name);
  window.history.replaceState(null, '', u);
  renderList();
  tick();
}

function hex(bytes, max = 48) {
  const parts = [];
  for (let i = 0; i < Math.min(bytes.length, max); i++) parts.push(bytes[i].toString(16).padStart(2, '0'));
  return parts.join(' ').replace(/((?:\S\S ){16})/g, '$1\n') + (bytes.length > max ? ' …' : '');
}

/** A game state: {"seq":N,"t":MS,"w":W,"h":H,"dots":[[X,Y,HUE],...]}, or null. */
function gameState(text) {
  if (text[0] !== '{') return null;
  try {
    const g = JSON.parse(text);
    return Array.isArray(g.dots) && g.w > 0 && g.h > 0 ? g : null;
  } catch {
    return null;
  }
}

// ---- steering: the game's dot 0 follows the arrow keys and clicks ----
// Each input goes back to the game's publisher through the channel's
// uplink (ringcast-pub --demo game reads "left", "right", "up", "down").

let lastGame = null; // the latest game state drawn, for clicks
let steers = 0; // inputs sent

function steer(dir) {
  if (!lastGame || !client.send(selected, dir)) return;
  steers++;
  $('steer').textContent = `${steers} sent`;
}

document.addEventListener('keydown', (e) => {
  const dir = { ArrowLeft: 'left', ArrowRight: 'right', ArrowUp: 'up', ArrowDown: 'down' }[e.key];
  if (!dir || !lastGame || e.target instanceof HTMLInputElement) return;
  e.preventDefault();
  steer(dir);
});

// A click steers dot 0 one step towards the clicked point, along the
// longer axis.
$('view').addEventListener('click', (e) => {
  if (!lastGame || !lastGame.dots.length) return;
  const c = $('view');
  const r = c.getBoundingClientRect();
  const x = ((e.clientX - r.left) * c.width) / r.width;
  const y = ((e.clientY - r.top) * c.height) / r.height;
  const [dx, dy] = [x - lastGame.dots[0][0], y - lastGame.dots[0][1]];
  steer(Math.abs(dx) >= Math.abs(dy) ? (dx < 0 ? 'left' : 'right') : dy < 0 ? 'up' : 'down');
});

function drawGame(g) {
  lastGame = g;
  const c = $('view');
  if (c.width !== g.w || c.height !== g.h) {
    c.width = g.w;
    c.height = g.h;
  }
  const ctx = c.getContext('2d');
  ctx.fillStyle = '#0b0e13';
  ctx.fillRect(0, 0, c.width, c.height);
  g.dots.forEach(([x, y, hue], i) => {
    ctx.beginPath();
    ctx.arc(x, y, 9, 0, 2 * Math.PI);
    ctx.fillStyle = `hsl(${hue} 85% 60%)`;
    ctx.fill();
    if (i === 0) {
      // the one the player steers
      ctx.strokeStyle = '#ffffff';
      ctx.lineWidth = 2;
      ctx.stroke();
    }
  });
  ctx.fillStyle = '#8b95a7';
  ctx.font = '14px system-ui';
  ctx.fillText(`seq ${g.seq}`, 10, 20);
}

function drawLatest() {
  drawPending = false;
  const m = latest;
  if (!m) return;
  const pre = $('latest');
  pre.classList.remove('muted');
  if (m.binary) {
    $('ch-kind').textContent = `(binary, ${m.bytes} bytes)`;
    pre.textContent = hex(m.data);
    $('view').hidden = true;
    return;
  }
  $('ch-kind').textContent = `(text, ${m.bytes} bytes)`;
  pre.textContent = m.data.length > 600 ? m.data.slice(0, 600) + ' …' : m.data;
  const g = gameState(m.data);
  $('view').hidden = !g;
  if (g) drawGame(g);
}

function drawChart() {
  const c = $('chart');
  const ctx = c.getContext('2d');
  const w = c.width;
  const h = c.height;
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = '#2c3340';
  ctx.beginPath();
  for (let i = 1; i < 4; i++) {
    ctx.moveTo(0, (h * i) / 4);
    ctx.lineTo(w, (h * i) / 4);
  }
  ctx.stroke();
  const line = (key, color) => {
    const max = Math.max(1, ...points.map((p) => p[key]));
    ctx.strokeStyle = color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    points.forEach((p, i) => {
      const x = w - (points.length - 1 - i) * (w / (HISTORY - 1));
      const y = h - 4 - (p[key] / max) * (h - 12);
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    });
    ctx.stroke();
    return max;
  };
  const maxRate = line('rate', '#4fb3ff');
  const maxKb = line('kbps', '#3ccf7a');
  ctx.font = '11px system-ui';
  ctx.fillStyle = '#4fb3ff';
  ctx.fillText(`msgs/s (max ${maxRate})`, 6, 12);
  ctx.fillStyle = '#3ccf7a';
  ctx.fillText(`kB/s (max ${maxKb.toFixed(1)})`, 130, 12);
  ctx.fillStyle = '#8b95a7';
  ctx.fillText('last 60 s', w - 52, 12);
}

// Once a second: the rates from the client's counters, and the chart.
function tick() {
  const c = client.counters(selected);
  const rate = c.messages - prev.messages;
  const kbps = (c.bytes - prev.bytes) / 1000;
  prev = c;
  points.push({ rate, kbps });
  if (points.length > HISTORY) points.shift();
  $('ch-name').textContent = selected;
  $('ch-rate').textContent = rate;
  $('ch-kbps').textContent = kbps.toFixed(1);
  $('ch-total').textContent = c.messages;
  $('ch-gaps').textContent = c.gaps;
  $('ch-gaps').title = `${c.missed} messages known to be missed`;
  drawChart();
}
$('ch-name').textContent = selected;
setInterval(tick, 1000);

// ---- the channel list, from /channels ----

function renderList() {
  const ul = $('channels');
  const names = listed.map((c) => c.name);
  if (!names.includes(selected)) names.push(selected);
  ul.replaceChildren(
    ...names.map((name) => {
      const info = listed.find((c) => c.name === name);
      const li = document.createElement('li');
      li.dataset.channel = name;
      li.className = name === selected ? 'selected' : '';
      const subs = info ? info.subscribers.ws + info.subscribers.stream + info.subscribers.sse : 0;
      li.append(name);
      const small = document.createElement('small');
      small.textContent = info ? `${info.messages_per_s}/s · ${subs} sub` : 'no data';
      li.append(small);
      li.onclick = () => select(name);
      return li;
    }),
  );
  const info = listed.find((c) => c.name === selected);
  $('ch-subs').textContent = info
    ? info.subscribers.ws + info.subscribers.stream + info.subscribers.sse : 0;
}

async function poll() {
  try {
    const r = await fetch('/channels', { cache: 'no-store' });
    listed = (await r.json()).channels.sort((a, b) => a.name.localeCompare(b.name));
  } catch {
    listed = [];
  }
  renderList();
}
poll();
setInterval(poll, 2000);

$('pick').onsubmit = (e) => {
  e.preventDefault();
  const name = $('pick-name').value.trim();
  if (/^[A-Za-z0-9._-]{1,64}$/.test(name)) select(name);
};

// ---- the video ----

// ?video=CHANNEL (default live), ?transport=ws|http (default ws; both
// measured in docs/VIDEO.md), ?latency=low (mpegts.js keeps less buffered:
// for publishers that send small audio PES, see MPEGTS_LOW_LATENCY),
// ?mpegts={...} mpegts.js settings over the page's (for experiments).
const params = new URLSearchParams(location.search);
let mpegtsConfig = params.get('latency') === 'low' ? { ...MPEGTS_LOW_LATENCY } : {};
try {
  Object.assign(mpegtsConfig, JSON.parse(params.get('mpegts') || '{}'));
} catch {
  // not JSON: the page's settings
}
const video = playChannel({
  channel: params.get('video') || 'live',
  transport: params.get('transport') === 'http' ? 'http' : 'ws',
  video: $('video-el'),
  canvas: $('video'),
  mpegtsConfig,
  onState: (s, d) => setBadge($('video-state'), s, d),
  onChange: (v) => {
    $('video-el').hidden = v.player?.kind !== 'mpegts';
    $('video').hidden = v.player?.kind === 'mpegts';
    showVideo();
  },
});
const demo = { client, select, video };
window.ringcastDemo = demo; // for the end-to-end tests and the console
$('video-channel').textContent = video.channel;

const secs = (x) => (x === null || x === undefined ? '—' : `${x.toFixed(2)} s`);
function showVideo() {
  const p = video.program;
  const s = video.player?.stats();
  $('video-codec').textContent = p ? p.codec : '—';
  $('video-codec').title = p ? p.codec : '';
  $('video-player').textContent = video.player
    ? `codec · ${video.player.kind === 'mpegts' ? 'mpegts.js' : 'JSMpeg'}` : 'codec';
  $('video-size').textContent = s?.width ? `${s.width}×${s.height}` : '—';
  $('video-buffered').textContent = s ? secs(s.buffered) : '—';
  $('video-latency').textContent = s && s.latency !== null ? secs(s.latency) : '—';
  $('video-latency').title = video.player?.kind === 'jsmpeg'
    ? 'JSMpeg decodes as data arrives and has no latency figure of its own' : '';
  const hasAudio = p?.streams.some((st) => [0x0f, 0x11, 0x03, 0x04].includes(st.type));
  $('video-sound').hidden = !(video.player?.kind === 'mpegts' && hasAudio);
  $('video-sound').textContent = $('video-el').muted ? 'sound on' : 'sound off';
  const parts = [];
  if (video.message) parts.push(video.message);
  if (s) parts.push(`${s.decoded} frames`);
  parts.push(`${(video.bytes / 1e6).toFixed(1)} MB over ${video.transport === 'http' ? '/stream' : 'WebSocket'}`);
  if (video.errors.length) parts.push(`last error: ${video.errors[video.errors.length - 1]}`);
  $('video-stats').textContent = parts.join(' · ');
}
setInterval(showVideo, 500);
// Browsers let a page start video with sound only after a click.
$('video-sound').onclick = () => {
  const el = $('video-el');
  el.muted = !el.muted;
  if (el.paused) el.play().catch(() => {});
  showVideo();
};
