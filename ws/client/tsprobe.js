// Just enough MPEG-TS, in the page, to pick a player for a stream: whole
// 188-byte packets out of a byte stream cut anywhere, the PAT, the PMT's
// stream types, and each video PES start with its PTS. No dependencies;
// runs in browsers and in Node (tests/web/tsprobe.test.mjs).

export const TS_PACKET = 188;

/** PMT stream_type -> what the page calls it and which player plays it. */
export const STREAM_TYPES = {
  0x01: { name: 'MPEG-1 video', kind: 'video', player: 'jsmpeg' },
  0x02: { name: 'MPEG-1/2 video', kind: 'video', player: 'jsmpeg' },
  0x1b: { name: 'H.264', kind: 'video', player: 'mpegts' },
  0x24: { name: 'H.265', kind: 'video', player: null },
  0x03: { name: 'MPEG audio', kind: 'audio' },
  0x04: { name: 'MPEG audio', kind: 'audio' },
  0x0f: { name: 'AAC', kind: 'audio' },
  0x11: { name: 'AAC (LATM)', kind: 'audio' },
  0x81: { name: 'AC-3', kind: 'audio' },
};

/**
 * The streams of a PMT, described.
 * @typedef {object} Program
 * @property {{pid: number, type: number}[]} streams in PMT order
 * @property {string} codec e.g. "H.264 + AAC"
 * @property {'mpegts'|'jsmpeg'|null} player null: nothing here plays it
 * @property {string} key streams as text: a change of it is a new program
 */

/**
 * Describes PMT streams: the codec line and the player. ffmpeg writes
 * stream_type 2 for MPEG-1 video too, so 1 and 2 both go to JSMpeg, which
 * decodes MPEG-1 (an MPEG-2 stream shows as garbage there: no player for
 * it in a browser).
 * @param {{pid: number, type: number}[]} streams
 * @returns {Program}
 */
export function describe(streams) {
  const names = [];
  let player = null;
  let video = false;
  for (const s of streams) {
    const t = STREAM_TYPES[s.type];
    names.push(t ? t.name : `stream type 0x${s.type.toString(16).padStart(2, '0')}`);
    if (t?.kind === 'video' && !video) {
      video = true;
      player = t.player;
    }
  }
  return {
    streams,
    codec: names.join(' + ') || 'no streams',
    player,
    key: streams.map((s) => `${s.pid}:${s.type}`).join(','),
  };
}

/** The 33-bit PTS at b[o..o+5), in seconds. */
function pts(b, o) {
  const hi = (b[o] >> 1) & 0x07;
  const mid = (b[o + 1] << 7) | (b[o + 2] >> 1);
  const lo = (b[o + 3] << 7) | (b[o + 4] >> 1);
  return (hi * 2 ** 30 + mid * 2 ** 15 + lo) / 90000;
}

function payloadOffset(p) {
  const afc = (p[3] >> 4) & 3;
  if (!(afc & 1)) return TS_PACKET;
  return afc === 3 ? Math.min(TS_PACKET, 5 + p[4]) : 4;
}

/** Sections start after the pointer field; returns [start, end) or null. */
function section(p, tableId) {
  let o = payloadOffset(p);
  if (o >= TS_PACKET) return null;
  o += 1 + p[o];
  if (o + 3 > TS_PACKET || p[o] !== tableId) return null;
  const len = ((p[o + 1] & 0x0f) << 8) | p[o + 2];
  const end = o + 3 + len - 4; // without the CRC
  return end <= TS_PACKET && len >= 9 ? [o, end] : null;
}

/**
 * Follows a TS byte stream. feed() takes chunks cut anywhere and returns
 * the whole packets in them (a packet split between chunks comes out with
 * the later chunk); what it learns is in the properties and in the events
 * of the last feed().
 */
export class TsProbe {
  constructor() {
    this.reset();
  }

  /** Forgets everything: the next bytes are a new stream. */
  reset() {
    this.rest = null; // bytes of a packet not yet whole
    this.pmtPid = -1;
    this.pat = null; // the latest PAT packet (a copy)
    this.pmt = null; // the latest PMT packet (a copy)
    /** @type {Program|null} */
    this.program = null;
    this.videoPid = -1;
    this.lastVideoPts = null; // seconds
    this.packets = 0;
    this.resyncs = 0;
  }

  /**
   * @param {Uint8Array} chunk
   * @returns {{packets: Uint8Array, events: object[]}} the whole packets
   *   (possibly empty) and, in order, {type:'program', at, program} when a
   *   PMT names other streams than before (at: its offset in packets) and
   *   {type:'pes', at, pid, video, pts, sequenceHeader} for PES starts
   */
  feed(chunk) {
    let buf = chunk;
    if (this.rest) {
      buf = new Uint8Array(this.rest.length + chunk.length);
      buf.set(this.rest);
      buf.set(chunk, this.rest.length);
      this.rest = null;
    }
    // Out of step (a server never cuts packets, but a proxy might drop
    // bytes): find three syncs in a row again.
    let start = 0;
    if (buf.length && buf[0] !== 0x47) {
      this.resyncs++;
      start = -1;
      for (let i = 0; i + 2 * TS_PACKET < buf.length; i++) {
        if (buf[i] === 0x47 && buf[i + TS_PACKET] === 0x47 && buf[i + 2 * TS_PACKET] === 0x47) {
          start = i;
          break;
        }
      }
      if (start < 0) {
        // Keep the tail: the sync may be in it.
        this.rest = buf.slice(Math.max(0, buf.length - 2 * TS_PACKET));
        return { packets: new Uint8Array(0), events: [] };
      }
    }
    const whole = Math.floor((buf.length - start) / TS_PACKET) * TS_PACKET;
    if (start + whole < buf.length) this.rest = buf.slice(start + whole);
    const packets = buf.subarray(start, start + whole);
    const events = [];
    for (let o = 0; o < packets.length; o += TS_PACKET) {
      const p = packets.subarray(o, o + TS_PACKET);
      if (p[0] !== 0x47) {
        // Lost step inside a chunk: hand back what is good, resync next.
        this.rest = packets.slice(o);
        this.resyncs++;
        return { packets: packets.subarray(0, o), events };
      }
      this.packets++;
      this.#packet(p, o / TS_PACKET, events);
    }
    return { packets, events };
  }

  #packet(p, at, events) {
    if (!(p[1] & 0x40)) return;
    const pid = ((p[1] & 0x1f) << 8) | p[2];
    if (pid === 0) {
      const s = section(p, 0x00);
      if (!s) return;
      for (let i = s[0] + 8; i + 4 <= s[1]; i += 4) {
        if ((p[i] << 8 | p[i + 1]) === 0) continue; // the network PID
        this.pmtPid = ((p[i + 2] & 0x1f) << 8) | p[i + 3];
        this.pat = p.slice();
        break;
      }
      return;
    }
    if (pid === this.pmtPid) {
      const s = section(p, 0x02);
      if (!s) return;
      const [o, end] = s;
      let i = o + 12 + (((p[o + 10] & 0x0f) << 8) | p[o + 11]); // past program_info
      const streams = [];
      while (i + 5 <= end) {
        streams.push({ type: p[i], pid: ((p[i + 1] & 0x1f) << 8) | p[i + 2] });
        i += 5 + (((p[i + 3] & 0x0f) << 8) | p[i + 4]);
      }
      this.pmt = p.slice();
      const program = describe(streams);
      const video = streams.find((st) => STREAM_TYPES[st.type]?.kind === 'video');
      this.videoPid = video ? video.pid : -1;
      if (!this.program || this.program.key !== program.key) {
        this.program = program;
        events.push({ type: 'program', at, program });
      }
      return;
    }
    const o = payloadOffset(p);
    if (o + 9 > TS_PACKET || p[o] !== 0 || p[o + 1] !== 0 || p[o + 2] !== 1) return;
    const video = pid === this.videoPid;
    const hasPts = (p[o + 7] & 0x80) && o + 14 <= TS_PACKET;
    const t = hasPts ? pts(p, o + 9) : null;
    const es = o + 9 + p[o + 8];
    const sequenceHeader = es + 4 <= TS_PACKET && p[es] === 0 && p[es + 1] === 0 &&
      p[es + 2] === 1 && p[es + 3] === 0xb3;
    if (video && t !== null) this.lastVideoPts = t;
    events.push({ type: 'pes', at, pid, video, pts: t, sequenceHeader });
  }
}
