// The demo page's video: one channel's MPEG-TS, read over ringcast's
// WebSocket (/ws, through the ringcast client) or over HTTP (/stream/<ch>),
// looked at by TsProbe, and handed to the player its PMT calls for:
// mpegts.js (Media Source Extensions) for H.264 with or without AAC,
// JSMpeg (decodes in JavaScript onto a canvas) for MPEG-1. A new PMT
// naming other streams (the publisher restarted with another codec), or a
// jump in the video timestamps (it restarted with the same one), replaces
// the player. Both players come from npm (package.json), served by
// ringcast from node_modules at /vendor/mpegts/ and /vendor/jsmpeg/.
import { backoffDelay, connect } from '/ringcast.js';
import { TsProbe } from '/tsprobe.js';

/**
 * mpegts.js settings for live playback at low latency: of those measured
 * (docs/VIDEO.md), the lowest glass-to-glass latency that never stalled
 * with ffmpeg's default audio PES (up to 0.25 s of AAC in one PES):
 * - no stash buffer: every chunk goes to the demuxer as it arrives;
 * - liveBufferLatencyChasing: when more than MaxLatency seconds are
 *   buffered ahead of the playhead (a late joiner gets the GOP from the
 *   last keyframe, up to a GOP behind live), jump to MinRemain before the
 *   end of the buffer;
 * - liveSync: between TargetLatency and MaxLatency play a little faster
 *   instead of jumping;
 * - lazyLoad off: a live stream is never paused for having buffered enough.
 */
export const MPEGTS_CONFIG = {
  enableWorker: false,
  enableStashBuffer: false,
  lazyLoad: false,
  liveBufferLatencyChasing: true,
  liveBufferLatencyMaxLatency: 0.8,
  liveBufferLatencyMinRemain: 0.25,
  liveSync: true,
  liveSyncMaxLatency: 0.45,
  liveSyncTargetLatency: 0.2,
  liveSyncPlaybackRate: 1.1,
  autoCleanupSourceBuffer: true,
  autoCleanupMaxBackwardDuration: 30,
  autoCleanupMinBackwardDuration: 10,
};

/**
 * ?latency=low: a smaller buffer ahead of the playhead. Stable on loopback
 * only when the publisher sends audio in small PES (ffmpeg
 * -pes_payload_size 0: one AAC frame, 21 ms, per PES); with ffmpeg's
 * default of up to 2930 bytes (about 0.25 s of 96 kbit/s AAC) per PES the
 * playable range (audio and video) grows in such steps and this runs dry
 * and stalls (docs/VIDEO.md).
 */
export const MPEGTS_LOW_LATENCY = {
  liveBufferLatencyMaxLatency: 0.5,
  liveBufferLatencyMinRemain: 0.15,
  liveSyncMaxLatency: 0.3,
  liveSyncTargetLatency: 0.1,
};

/** Loads the mpegts.js bundle (UMD: a classic script that sets window.mpegts). */
function loadMpegts() {
  if (globalThis.mpegts) return Promise.resolve(globalThis.mpegts);
  return new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = '/vendor/mpegts/mpegts.js';
    s.onload = () => (globalThis.mpegts ? resolve(globalThis.mpegts) : reject(new Error('no mpegts')));
    s.onerror = () => reject(new Error(`${s.src} did not load`));
    document.head.append(s);
  });
}

/**
 * mpegts.js fed by the page: a loader (mpegts.js's customLoader) that
 * receives whatever push() is given, so the page keeps the connection and
 * sees every byte.
 */
function mpegtsPlayer(mpegts, video, overrides, onFrame, onError) {
  let loader = null;
  let received = 0;
  const early = []; // pushed before mpegts.js opened its loader
  class PushLoader extends mpegts.BaseLoader {
    constructor() {
      super('ringcast-push');
      this._needStash = false;
    }
    open() {
      this._status = mpegts.LoaderStatus.kBuffering;
      loader = this;
      for (const b of early.splice(0)) deliver(b);
    }
    abort() {
      this._status = mpegts.LoaderStatus.kComplete;
      loader = null;
    }
  }
  function deliver(bytes) {
    const start = received;
    received += bytes.byteLength;
    loader.onDataArrival?.(bytes, start, received);
  }
  const config = { ...MPEGTS_CONFIG, ...overrides, isLive: true, customLoader: PushLoader };
  const player = mpegts.createPlayer({ type: 'mpegts', isLive: true, url: 'ringcast:' }, config);
  const self = {
    kind: 'mpegts',
    element: video,
    frames: 0,
    decoded: 0,
    dropped: 0,
    destroyed: false,
    push(packets) {
      // Own copy: the demuxer keeps the buffer.
      const bytes = packets.slice().buffer;
      if (loader) deliver(bytes);
      else early.push(bytes);
    },
    pes() {},
    stats() {
      const b = video.buffered;
      const ahead = b.length ? Math.max(0, b.end(b.length - 1) - video.currentTime) : 0;
      return {
        width: video.videoWidth,
        height: video.videoHeight,
        buffered: ahead,
        // mpegts.js measures latency as what it has buffered ahead of the
        // playhead (its liveSync and latency chasing act on this figure).
        latency: ahead,
        time: video.currentTime,
        decoded: self.decoded,
        dropped: self.dropped,
      };
    },
    destroy() {
      self.destroyed = true;
      player.pause();
      player.unload();
      player.detachMediaElement();
      player.destroy();
    },
  };
  player.on(mpegts.Events.ERROR, (type, detail, info) =>
    onError(`mpegts.js ${type}: ${detail}${info?.msg ? ` (${info.msg})` : ''}`));
  player.on(mpegts.Events.STATISTICS_INFO, (s) => {
    self.decoded = s.decodedFrames ?? self.decoded;
    self.dropped = s.droppedFrames ?? self.dropped;
  });
  const frame = (now, meta) => {
    if (self.destroyed) return;
    self.frames++;
    onFrame(self, meta);
    video.requestVideoFrameCallback(frame);
  };
  video.requestVideoFrameCallback(frame);
  player.attachMediaElement(video);
  player.load();
  // Autoplay with sound needs a user gesture: the page starts muted and
  // has a button for sound.
  Promise.resolve(player.play()).catch(() => {});
  return self;
}

/** JSMpeg on a canvas, written to by the page (a JSMpeg source class). */
function jsmpegPlayer(JSMpeg, canvas, onFrame) {
  let source = null;
  class PushSource {
    constructor(url, options) {
      this.options = options;
      this.streaming = true;
      this.established = false;
      this.completed = false;
      this.progress = 0;
      this.destination = null;
      this.started = false;
      this.early = [];
      source = this;
    }
    connect(destination) {
      this.destination = destination;
    }
    start() {
      // JSMpeg starts its source once its WebAssembly decoder is compiled;
      // data written before that would reach a decoder not yet there.
      this.started = true;
      for (const b of this.early.splice(0)) this.write(b);
    }
    resume() {}
    destroy() {}
    write(bytes) {
      if (!this.started) {
        this.early.push(bytes.slice());
        return;
      }
      if (!this.established) {
        this.established = true;
        this.progress = 1;
        this.options.hookOnEstablished?.();
      }
      this.destination?.write(bytes);
    }
  }
  // JSMpeg decodes in stream order and keeps no timestamps when
  // streaming: the page pairs each decoded picture with the PTS of the
  // video PES it came from (one picture per PES, as ffmpeg writes them),
  // counting from the first sequence header, where JSMpeg starts.
  const queued = [];
  let started = false;
  let shown = null;
  let newest = null;
  const self = {
    kind: 'jsmpeg',
    element: canvas,
    frames: 0,
    destroyed: false,
    player: null,
    push(packets) {
      source.write(packets);
    },
    pes(ev) {
      if (!ev.video || ev.pts === null) return;
      started ||= ev.sequenceHeader;
      if (!started) return;
      newest = ev.pts;
      queued.push(ev.pts);
      if (queued.length > 600) queued.shift();
    },
    stats() {
      const v = self.player.video;
      const r = self.player.renderer; // resized to each sequence header's size
      const frame = v?.frameRate ? 1 / v.frameRate : 0;
      return {
        width: self.frames ? r?.width ?? 0 : 0,
        height: self.frames ? r?.height ?? 0 : 0,
        buffered: shown !== null && newest !== null ? Math.max(0, newest - shown) + frame : 0,
        latency: null, // JSMpeg decodes on arrival and reports no latency
        time: shown,
        decoded: self.frames,
        dropped: 0,
      };
    },
    destroy() {
      self.destroyed = true;
      self.player.destroy();
    },
  };
  // The 2D canvas renderer: works everywhere (no WebGL in headless
  // browsers) and its pixels can be read back.
  self.player = new JSMpeg.Player('ringcast:', {
    canvas,
    source: PushSource,
    disableGl: true,
    audio: false,
    pauseWhenHidden: false,
    videoBufferSize: 2 << 20,
    onVideoDecode: () => {
      if (self.destroyed) return;
      shown = queued.length ? queued.shift() : shown;
      self.frames++;
      onFrame(self, null);
    },
  });
  return self;
}

/**
 * Plays a channel in the page.
 * @param {object} o
 * @param {string} o.channel
 * @param {'ws'|'http'} o.transport
 * @param {HTMLVideoElement} o.video for mpegts.js
 * @param {HTMLCanvasElement} o.canvas for JSMpeg
 * @param {object} [o.mpegtsConfig] mpegts.js settings over MPEGTS_CONFIG
 * @param {(state: string, detail: object) => void} [o.onState] connection
 * @param {(v: object) => void} [o.onChange] a player came or went
 */
export function playChannel(o) {
  const probe = new TsProbe();
  const v = {
    channel: o.channel,
    transport: o.transport,
    program: null, // the latest PMT, described (codec, player)
    player: null, // the adapter: kind, element, stats(), frames
    players: 0, // players made so far (switches and restarts)
    errors: [],
    message: '', // why nothing plays, if so
    connectAt: 0, // performance.now() when the connection was opened
    startedAt: 0, // ... when its first bytes came
    firstFrameAt: 0, // ... and when the current player showed a frame
    frameHooks: new Set(), // (adapter, meta) per shown frame, for tests
    bytes: 0,
    stop,
  };
  let libs = { mpegts: null, JSMpeg: null, failed: '' };
  const ready = Promise.allSettled([
    loadMpegts().then((m) => (libs.mpegts = m)),
    import('/vendor/jsmpeg/jsmpeg-player.esm.js').then((m) => (libs.JSMpeg = m.default)),
  ]).then((r) => {
    libs.failed = r.filter((x) => x.status === 'rejected').map((x) => x.reason.message).join('; ');
  });
  let waiting = []; // chunks that came before the players loaded
  let lastPts = null;

  const onFrame = (adapter, meta) => {
    if (adapter !== v.player) return;
    if (!v.firstFrameAt) v.firstFrameAt = performance.now();
    for (const h of v.frameHooks) h(adapter, meta);
  };
  const onError = (msg) => {
    v.errors.push(msg);
    // Start over at the next PMT rather than stay stuck.
    dropPlayer(msg);
  };

  function dropPlayer(why = '') {
    v.player?.destroy();
    v.player = null;
    v.message = why;
    lastPts = null;
    o.onChange?.(v);
  }

  /** A player for the current program, fed from PAT and PMT on. */
  function newPlayer() {
    dropPlayer();
    const p = v.program;
    if (!p.player) {
      v.message = `no player in this page for ${p.codec}`;
      o.onChange?.(v);
      return;
    }
    if (p.player === 'mpegts' && !libs.mpegts) {
      v.message = `mpegts.js not available (${libs.failed}): run \`npm ci\``;
    } else if (p.player === 'jsmpeg' && !libs.JSMpeg) {
      v.message = `JSMpeg not available (${libs.failed}): run \`npm ci\``;
    } else if (p.player === 'mpegts' && !libs.mpegts.getFeatureList().msePlayback) {
      v.message = 'this browser has no Media Source Extensions for H.264';
    } else {
      v.player = p.player === 'mpegts'
        ? mpegtsPlayer(libs.mpegts, o.video, o.mpegtsConfig, onFrame, onError)
        : jsmpegPlayer(libs.JSMpeg, o.canvas, onFrame);
      v.players++;
      v.firstFrameAt = 0;
      // PAT and PMT first: the demuxer routes PES by them.
      if (probe.pat && probe.pmt) {
        const psi = new Uint8Array(376);
        psi.set(probe.pat);
        psi.set(probe.pmt, 188);
        v.player.push(psi);
      }
    }
    o.onChange?.(v);
  }

  function onBytes(chunk) {
    v.bytes += chunk.length;
    if (!v.startedAt) v.startedAt = performance.now();
    if (waiting) {
      waiting.push(chunk);
      return;
    }
    const { packets, events } = probe.feed(chunk);
    let from = 0;
    const upTo = (at) => {
      if (v.player && at > from) v.player.push(packets.subarray(from * 188, at * 188));
      from = at;
    };
    for (const ev of events) {
      if (ev.type === 'program') {
        upTo(ev.at);
        v.program = ev.program;
        newPlayer();
        from = ev.at + 1; // the PMT went in with the PAT
      } else if (ev.video && ev.pts !== null) {
        // A publisher that restarted with the same codec starts its
        // timestamps over: a new player, or MSE would wait for the old
        // timeline to come back.
        if (lastPts !== null && (ev.pts < lastPts - 1 || ev.pts > lastPts + 10) && v.program) {
          upTo(ev.at);
          newPlayer();
        }
        lastPts = ev.pts;
        v.player?.pes(ev);
      }
    }
    upTo(packets.length / 188);
  }

  // ---- transports ----
  let closed = false;
  let client = null;
  let abort = null;

  function restart() {
    // A new connection joins the stream anew (the ts cache sends PAT, PMT
    // and the last GOP again): start from scratch.
    probe.reset();
    v.program = null;
    v.startedAt = 0;
    lastPts = null;
    dropPlayer();
  }

  if (o.transport === 'http') {
    (async () => {
      for (let attempt = 0; !closed;) {
        abort = new AbortController();
        try {
          o.onState?.('connecting', {});
          v.connectAt = performance.now();
          const r = await fetch(`/stream/${encodeURIComponent(o.channel)}`,
            { cache: 'no-store', signal: abort.signal });
          if (!r.ok) throw new Error(`HTTP ${r.status}`);
          restart();
          o.onState?.('open', {});
          attempt = 0;
          const reader = r.body.getReader();
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            onBytes(value);
          }
        } catch (e) {
          if (closed) return;
        }
        if (closed) return;
        const delayMs = backoffDelay(attempt++);
        o.onState?.('reconnecting', { delayMs, attempt });
        await new Promise((r) => setTimeout(r, delayMs));
      }
    })();
  } else {
    const wsUrl = new URL('/ws', location.href);
    wsUrl.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    v.connectAt = performance.now();
    client = connect(wsUrl.href, {
      channels: [o.channel],
      onState: (s, d) => {
        if (s === 'connecting') v.connectAt = performance.now();
        if (s === 'open') restart();
        o.onState?.(s, d);
      },
      onMessage: (m) => {
        if (m.binary) onBytes(m.data);
      },
    });
    v.client = client;
  }

  ready.then(() => {
    const chunks = waiting;
    waiting = null;
    for (const c of chunks) onBytes(c);
  });

  function stop() {
    closed = true;
    client?.close();
    abort?.abort();
    dropPlayer();
  }
  return v;
}
