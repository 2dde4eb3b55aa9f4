'use strict';
// Command line and stdout contract shared by the Node.js benchmark peers
// (uws_relay.js, ws_relay.js); the C peers implement the same one in
// peer_common.c:
//   --listen ADDR:PORT          (default 127.0.0.1:8080; port 0 = any)
//   --udp ADDR:PORT=CHANNEL     repeatable (default 127.0.0.1:9000=live)
// stdout: "listen http ADDR:PORT", "listen udp ADDR:PORT CHANNEL" per port,
// "ready", then nothing; logs on stderr; SIGINT/SIGTERM exit 0.

const net = require('net');

const CHANNEL_RE = /^[A-Za-z0-9._-]{1,64}$/;
// --udp ports; the C peers take as many (PEER_MAX_PORTS).
const MAX_PORTS = 1024;
// Bytes queued per subscriber before it is dropped: ringcast's --max-queue.
const MAX_BACKLOG = 4 * 1024 * 1024;
// ringcast's default UDP receive buffer.
const UDP_RCVBUF = 4 * 1024 * 1024;

// Parses "A.B.C.D:PORT" or "[V6]:PORT" (numeric only). Returns
// { host, port, family } or null.
function parseAddr(s) {
	let host;
	let portStr;
	const m6 = /^\[([^\]]+)\]:(\d{1,5})$/.exec(s);
	if (m6) {
		host = m6[1];
		portStr = m6[2];
	} else {
		const m4 = /^([^:]+):(\d{1,5})$/.exec(s);
		if (!m4)
			return null;
		host = m4[1];
		portStr = m4[2];
	}
	const family = net.isIP(host);
	const port = Number(portStr);
	if (family === 0 || (m6 && family !== 6) || (!m6 && family !== 4) || port > 65535)
		return null;
	return { host, port, family };
}

function formatAddr(host, port, family) {
	return family === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

function usage(prog) {
	return `usage: ${prog} [--listen ADDR:PORT] [--udp ADDR:PORT=CHANNEL]...\n` +
		'A benchmark peer of ringcast: every UDP datagram on a --udp port becomes one\n' +
		'binary WebSocket message to every subscriber of GET /ws/CHANNEL.\n';
}

// Returns { listen, udp: [{ host, port, family, channel }] }; exits 2 on a
// bad command line and 0 after --help.
function parseArgs(prog, argv) {
	let listen = '127.0.0.1:8080';
	const udpSpecs = [];
	const fail = (msg) => {
		process.stderr.write(`${prog}: ${msg}\n${usage(prog)}`);
		process.exit(2);
	};
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];
		let val = null;
		let name = a;
		const eq = a.indexOf('=');
		if (a.startsWith('--') && eq > 0) {
			name = a.slice(0, eq);
			val = a.slice(eq + 1);
		}
		if (name === '--help' || name === '-h') {
			process.stdout.write(usage(prog));
			process.exit(0);
		}
		if (name !== '--listen' && name !== '--udp')
			fail(`unknown argument '${a}'`);
		if (val === null) {
			if (i + 1 >= argv.length)
				fail(`${name} needs a value`);
			val = argv[++i];
		}
		if (name === '--listen')
			listen = val;
		else
			udpSpecs.push(val);
	}
	const l = parseAddr(listen);
	if (!l)
		fail(`bad --listen '${listen}' (want ADDR:PORT, numeric)`);
	if (udpSpecs.length === 0)
		udpSpecs.push('127.0.0.1:9000=live');
	if (udpSpecs.length > MAX_PORTS)
		fail(`at most ${MAX_PORTS} --udp ports`);
	const udp = udpSpecs.map((s) => {
		const eq = s.lastIndexOf('=');
		const addr = eq > 0 ? parseAddr(s.slice(0, eq)) : null;
		const channel = eq > 0 ? s.slice(eq + 1) : '';
		if (!addr || !CHANNEL_RE.test(channel))
			fail(`bad --udp '${s}' (want ADDR:PORT=CHANNEL)`);
		return { ...addr, channel };
	});
	return { listen: l, udp };
}

// "/ws/<channel>[?query]" -> channel, or null.
function targetChannel(url) {
	if (typeof url !== 'string' || !url.startsWith('/ws/'))
		return null;
	const q = url.indexOf('?');
	const ch = url.slice(4, q < 0 ? url.length : q);
	return CHANNEL_RE.test(ch) ? ch : null;
}

module.exports = {
	MAX_BACKLOG, UDP_RCVBUF, parseArgs, formatAddr, targetChannel,
};
