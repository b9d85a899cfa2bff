#!/usr/bin/env python3
"""A small https stand-in for a homeserver, for tests only, bound to 127.0.0.1.

usage: hostile_tls.py CERT KEY PORT_FILE LOG_FILE [REDIRECT_URL]

Serves shared-secret registration as a homeserver named "localhost" would (a nonce, then the
user ID @<username>:localhost), or, with REDIRECT_URL, answers every request with a 307 redirect
there. Writes the port it listens on to PORT_FILE and one line "METHOD PATH" per request to
LOG_FILE. The test that starts it stops it by PID.
"""
import http.server
import json
import ssl
import sys

cert, key, port_file, log_file = sys.argv[1:5]
redirect = sys.argv[5] if len(sys.argv) > 5 else None


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        with open(log_file, "a") as f:
            f.write(f"{self.command} {self.path}\n")
        if redirect:
            self.send_response(307)
            self.send_header("Location", redirect + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/_synapse/admin/v1/register":
            if self.command == "GET":
                return self.answer(200, {"nonce": "n0nce"})
            user = json.loads(raw or b"{}").get("username", "")
            return self.answer(200, {"user_id": f"@{user}:localhost"})
        self.answer(404, {"errcode": "M_UNRECOGNIZED", "error": "Unrecognized request"})

    do_GET = do_POST = do_PUT = handle_any


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os  # noqa: E402

os.rename(port_file + ".tmp", port_file)
server.serve_forever()
