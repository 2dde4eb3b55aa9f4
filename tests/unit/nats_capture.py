#!/usr/bin/env python3
"""Captures what a real nats-server sends a client, for test_nats_proto.c.

Starts `nats-server` on 127.0.0.1 (a free port, a server PING interval of
one second so that a server PING is in the capture), speaks the client side
of the protocol over a plain socket, and prints the server's bytes as C
string literals. Not run by the tests: the literals are pasted into
test_nats_proto.c, and this script says how they were made.

    python3 tests/unit/nats_capture.py [path to nats-server]
"""
import os
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_for(sock, seconds):
    sock.settimeout(0.1)
    out = b""
    end = time.time() + seconds
    while time.time() < end:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        if not chunk:
            break
        out += chunk
    return out


def c_literal(data):
    lines = []
    cur = ""
    for b in data:
        ch = chr(b)
        if ch == "\\":
            cur += "\\\\"
        elif ch == '"':
            cur += '\\"'
        elif ch == "\r":
            cur += "\\r"
        elif ch == "\n":
            cur += "\\n"
            lines.append(cur)
            cur = ""
        elif 32 <= b < 127:
            cur += ch
        else:
            cur += "\\x%02x\"\"" % b
    if cur:
        lines.append(cur)
    return "\n".join('\t"%s"' % line for line in lines)


def main():
    exe = sys.argv[1] if len(sys.argv) > 1 else "nats-server"
    port = free_port()
    with tempfile.TemporaryDirectory() as d:
        conf = os.path.join(d, "nats.conf")
        with open(conf, "w") as f:
            cport = free_port()
            f.write('listen: "127.0.0.1:%d"\nping_interval: "1s"\n'
                    'cluster { name: cap, listen: "127.0.0.1:%d" }\n' % (port, cport))
        srv = subprocess.Popen([exe, "-c", conf], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                try:
                    a = socket.create_connection(("127.0.0.1", port))
                    break
                except OSError:
                    time.sleep(0.05)
            # Session: verbose on so that +OK is sent; headers and
            # no_responders on so that HMSG and the 503 status are.
            hdr = b"NATS/1.0\r\nRc-Origin: node-a\r\nRc-Seq: 17\r\n\r\n"
            status_only = b"NATS/1.0\r\n\r\n"
            a.sendall(b'CONNECT {"verbose":true,"pedantic":false,"headers":true,'
                      b'"no_responders":true,"lang":"c","version":"0.1.0",'
                      b'"protocol":1,"name":"capture"}\r\n'
                      b"SUB demo.ch.live 1\r\n"
                      b"SUB _INBOX.cap 2\r\n"
                      b"PUB demo.ch.live 5\r\nhello\r\n"
                      b"PUB demo.ch.live _INBOX.cap 0\r\n\r\n"
                      b"HPUB demo.ch.live %d %d\r\n%sworld!\r\n"
                      % (len(hdr), len(hdr) + 6, hdr)
                      + b"HPUB nobody.listens _INBOX.cap %d %d\r\n%s\r\n"
                      % (len(status_only), len(status_only), status_only)
                      + b"PING\r\n")
            session = read_for(a, 1.6)
            a.close()
            # A protocol error: the server answers -ERR and closes.
            b = socket.create_connection(("127.0.0.1", port))
            b.sendall(b'CONNECT {"verbose":false,"protocol":1}\r\nBOGUS\r\n')
            err = read_for(b, 0.5)
            b.close()
            # A second server joins A's cluster: A tells its client of the
            # new URL with an INFO that lists connect_urls.
            c = socket.create_connection(("127.0.0.1", port))
            # The server sends INFO updates only to a client whose CONNECT
            # it has seen through (a PING answered).
            c.sendall(b'CONNECT {"verbose":false,"protocol":1}\r\nPING\r\n')
            port2 = free_port()
            conf2 = os.path.join(d, "nats2.conf")
            with open(conf2, "w") as f:
                f.write('listen: "127.0.0.1:%d"\ncluster { name: cap, listen: "127.0.0.1:%d",'
                        ' routes: ["nats://127.0.0.1:%d"] }\n' % (port2, free_port(), cport))
            srv2 = subprocess.Popen([exe, "-c", conf2], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            try:
                cluster = read_for(c, 3.0)
            finally:
                srv2.terminate()
                srv2.wait()
            c.close()
        finally:
            srv.terminate()
            srv.wait()
    print("/* session */")
    print(c_literal(session))
    print("/* error */")
    print(c_literal(err))
    print("/* cluster */")
    print(c_literal(cluster))


if __name__ == "__main__":
    main()
