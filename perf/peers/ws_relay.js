'use strict';
// ws-relay: a Node.js `ws` broadcast relay, as a benchmark peer of ringcast
// (perf/bench-peers.sh). Same command line and stdout contract as ringcast;
// see peer_cli.js.
//
// An http.Server hands upgrades of GET /ws/<channel> to a WebSocketServer
// (noServer mode, no compression); subscribers are kept in one Set per
// channel, and each datagram of a --udp port is sent to every member of its
// channel's Set with ws.send(), as in the broadcast example of ws's README.
// A subscriber with more than 4 MiB buffered is dropped (counted), like the
// other peers. Needs the `ws` package through NODE_PATH.

const dgram = require('dgram');
const http = require('http');
const cli = require('./peer_cli');

const PROG = 'ws-relay';

function main() {
	const args = cli.parseArgs(PROG, process.argv.slice(2));
	let WebSocketServer;
	try {
		({ WebSocketServer } = require('ws'));
	} catch (e) {
		process.stderr.write(`${PROG}: cannot load ws: ${e.message}\n` +
			'  (npm install it, and point NODE_PATH at its node_modules)\n');
		process.exit(1);
	}
	const stats = { subscribers: 0, rejected: 0, datagrams: 0, slowDrops: 0 };
	const channels = new Map();	// name -> Set of WebSocket
	const channelSet = (name) => {
		let set = channels.get(name);
		if (!set) {
			set = new Set();
			channels.set(name, set);
		}
		return set;
	};

	const wss = new WebSocketServer({
		noServer: true,
		perMessageDeflate: false,
		clientTracking: false,
		maxPayload: 64 * 1024,
	});
	const server = http.createServer((req, res) => {
		res.writeHead(404, { 'Content-Length': 0 });
		res.end();
	});
	server.on('upgrade', (req, socket, head) => {
		const channel = cli.targetChannel(req.url);
		if (channel === null) {
			stats.rejected++;
			socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
			return;
		}
		wss.handleUpgrade(req, socket, head, (ws) => {
			const set = channelSet(channel);
			stats.subscribers++;
			set.add(ws);
			ws.on('close', () => set.delete(ws));
			ws.on('error', () => {});	// 'close' follows
		});
	});

	const sockets = [];
	const shutdown = (sig) => {
		server.close();
		for (const s of sockets)
			s.close();
		process.stderr.write(`${PROG}: ${sig}: exiting: ${stats.subscribers} subscribers, ` +
			`${stats.rejected} rejected, ${stats.datagrams} datagrams, ` +
			`${stats.slowDrops} subscribers dropped for backlog\n`);
		// Open WebSockets keep the loop alive; the contract is to exit now.
		process.exit(0);
	};
	process.on('SIGTERM', () => shutdown('SIGTERM'));
	process.on('SIGINT', () => shutdown('SIGINT'));

	server.on('error', (e) => {
		process.stderr.write(`${PROG}: listen: ${e.message}\n`);
		process.exit(1);
	});
	server.listen({ host: args.listen.host, port: args.listen.port, backlog: 4096 }, () => {
		const lines = [`listen http ${cli.formatAddr(args.listen.host, server.address().port,
			args.listen.family)}`];
		// Bind the UDP ports one after another, so the lines come out in
		// --udp order, then announce everything.
		const bindNext = (i) => {
			if (i === args.udp.length) {
				process.stdout.write(lines.concat(['ready', '']).join('\n'));
				return;
			}
			const spec = args.udp[i];
			const set = channelSet(spec.channel);
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
				for (const ws of set) {
					if (ws.bufferedAmount > cli.MAX_BACKLOG) {
						stats.slowDrops++;
						set.delete(ws);
						ws.terminate();
						continue;
					}
					ws.send(msg, { binary: true });
				}
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
