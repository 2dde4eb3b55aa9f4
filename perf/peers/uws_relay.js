'use strict';
// uws-relay: the uWebSockets.js pub/sub relay, as a benchmark peer of ringcast
// (perf/bench-peers.sh). Same command line and stdout contract as ringcast;
// see peer_cli.js.
//
// Each subscriber of GET /ws/<channel> is subscribed to topic <channel>; each
// --udp port is a dgram socket whose datagrams are app.publish()ed, binary, to
// its channel's topic. uWS frames each published message once and batches what
// a subscriber gets in one event-loop turn into one write, as ringcast's
// fan-out batches do.
//
// Needs @trufflesuite/uws-js-unofficial (package.json beside this file), found
// through NODE_PATH (bench-peers.sh installs it into <build>/peers-node). The
// package silently falls back to a pure-JS implementation (built on `ws`) when
// its native addon does not load; that would benchmark the wrong thing, so
// this relay refuses to start instead.

const dgram = require('dgram');
const cli = require('./peer_cli');

const PROG = 'uws-relay';

function loadUws() {
	// The fallback announces itself with console.log, which would break the
	// stdout contract; keep anything it says on stderr.
	const log = console.log;
	console.log = console.error;
	delete process.env.UWS_USE_FALLBACK;
	let uws;
	try {
		uws = require('@trufflesuite/uws-js-unofficial');
	} finally {
		console.log = log;
	}
	if (!/\[native code\]/.test(String(uws.App))) {
		process.stderr.write(`${PROG}: the native uWS addon did not load for Node.js ` +
			`${process.version} (ABI ${process.versions.modules}); refusing to run the JS fallback\n`);
		process.exit(1);
	}
	return uws;
}

function main() {
	const args = cli.parseArgs(PROG, process.argv.slice(2));
	let uws;
	try {
		uws = loadUws();
	} catch (e) {
		process.stderr.write(`${PROG}: cannot load @trufflesuite/uws-js-unofficial: ${e.message}\n` +
			'  (npm install it, and point NODE_PATH at its node_modules)\n');
		process.exit(1);
	}
	const stats = { subscribers: 0, closed: 0, rejected: 0, datagrams: 0, unsent: 0 };
	const app = uws.App();

	// UWS_COMPRESS=1 (bench-peers.sh's uws-z): uWS's shared compressor, the
	// one that compresses a published message once for every subscriber
	// that agreed to permessage-deflate, as ringcast does.
	const compress = process.env.UWS_COMPRESS === '1';
	app.ws('/ws/*', {
		compression: compress ? uws.SHARED_COMPRESSOR : uws.DISABLED,
		maxPayloadLength: 64 * 1024,
		// Same bound as the other peers and ringcast's --max-queue; past it
		// the subscriber is closed rather than silently skipped.
		maxBackpressure: cli.MAX_BACKLOG,
		closeOnBackpressureLimit: true,
		// No idle timeout: bench subscribers never send.
		idleTimeout: 0,
		upgrade: (res, req, context) => {
			const channel = cli.targetChannel(req.getUrl());
			if (channel === null) {
				stats.rejected++;
				res.writeStatus('404 Not Found').end();
				return;
			}
			res.upgrade({ channel },
				req.getHeader('sec-websocket-key'),
				req.getHeader('sec-websocket-protocol'),
				req.getHeader('sec-websocket-extensions'),
				context);
		},
		open: (ws) => {
			stats.subscribers++;
			ws.subscribe(ws.getUserData().channel);
		},
		message: () => {},	// subscribers have nothing to say
		close: () => {
			stats.closed++;
		},
	});
	app.any('/*', (res) => {
		res.writeStatus('404 Not Found').end();
	});

	const sockets = [];
	let listenSocket = null;

	const shutdown = (sig) => {
		if (listenSocket)
			uws.us_listen_socket_close(listenSocket);
		for (const s of sockets)
			s.close();
		process.stderr.write(`${PROG}: ${sig}: exiting: ${stats.subscribers} subscribers ` +
			`(${stats.closed} closed), ${stats.rejected} rejected, ${stats.datagrams} datagrams, ` +
			`${stats.unsent} publishes that reached no subscriber\n`);
		// Open WebSockets keep the loop alive; the contract is to exit now.
		process.exit(0);
	};
	process.on('SIGTERM', () => shutdown('SIGTERM'));
	process.on('SIGINT', () => shutdown('SIGINT'));

	app.listen(args.listen.host, args.listen.port, (ls) => {
		if (!ls) {
			process.stderr.write(`${PROG}: cannot listen on ` +
				`${cli.formatAddr(args.listen.host, args.listen.port, args.listen.family)}\n`);
			process.exit(1);
		}
		listenSocket = ls;
		const httpAddr = cli.formatAddr(args.listen.host, uws.us_socket_local_port(ls),
			args.listen.family);
		// Bind the UDP ports one after another, so the lines come out in
		// --udp order, then announce everything.
		const lines = [`listen http ${httpAddr}`];
		const bindNext = (i) => {
			if (i === args.udp.length) {
				process.stdout.write(lines.concat(['ready', '']).join('\n'));
				return;
			}
			const spec = args.udp[i];
			const s = dgram.createSocket({
				type: spec.family === 6 ? 'udp6' : 'udp4',
				recvBufferSize: cli.UDP_RCVBUF,
			});
			s.on('error', (e) => {
				process.stderr.write(`${PROG}: udp ${spec.channel}: ${e.message}\n`);
				process.exit(1);
			});
			s.on('message', (msg) => {
				stats.datagrams++;
				if (!app.publish(spec.channel, msg, true, compress))
					stats.unsent++;
			});
			s.bind({ address: spec.host, port: spec.port }, () => {
				const a = s.address();
				lines.push(`listen udp ${cli.formatAddr(a.address, a.port, spec.family)} ${spec.channel}`);
				sockets.push(s);
				bindNext(i + 1);
			});
		};
		bindNext(0);
	});
}

main();
