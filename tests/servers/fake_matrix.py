"""Shared plumbing of the FAKE homeservers (fake_tuwunel.py, fake_continuwuity.py). Not a server.

Neither tuwunel nor continuwuity can be installed from a registry these machines reach, so tests run
against stand-ins that follow their sources (docs/tuwunel.md, docs/continuwuity.md trace every
behaviour to a source file and line). This module holds what both need: an HTTP/1.1 handler with a
request log (secrets redacted), in-memory accounts with hashed passwords, devices and access tokens,
a seed file, and the start-up contract of tests/servers/fake-*.sh (state dir, port file, secrets
read from files, 127.0.0.1 only). Standard library only.
"""

import datetime as dt
import hashlib
import http.server
import json
import os
import re
import secrets
import string
import sys
import threading
import time
import urllib.parse

ALNUM = string.ascii_letters + string.digits
JSON_CT = "application/json"
SECRET_KEYS = re.compile(r"token|secret|password|mac|nonce|session", re.I)
# ruma's strict user id grammar (UserId::validate_strict): lowercase historical-free localparts.
STRICT_LOCALPART = re.compile(r"^[a-z0-9._=\-/+]+$")


def random_string(n):
    """tuwunel src/core/utils/rand.rs:42-49 (and continuwuity's copy): alphanumeric ASCII."""
    return "".join(secrets.choice(ALNUM) for _ in range(n))


def now_ms():
    return time.time_ns() // 1_000_000


class Reject(Exception):
    """An answer that ends the request."""

    def __init__(self, status, body, ctype=JSON_CT, headers=None):
        super().__init__(status)
        self.status, self.body, self.ctype, self.headers = status, body, ctype, headers or {}


def hash_password(password):
    salt = secrets.token_bytes(16)
    return salt + hashlib.scrypt(password.encode(), salt=salt, n=1024, r=8, p=1)


def verify_password(password, stored):
    if not isinstance(stored, bytes) or len(stored) < 17:
        return False
    salt = stored[:16]
    return secrets.compare_digest(
        stored[16:], hashlib.scrypt(password.encode(), salt=salt, n=1024, r=8, p=1))


class Account:
    """One local account. `password` is a hash (bytes), or one of the markers the real servers
    store instead of a hash: "" (tuwunel: deactivated; continuwuity: shadow account) and "*"
    (tuwunel's PASSWORD_SENTINEL: active, no password login)."""

    def __init__(self, user_id, password):
        self.user_id = user_id
        self.password = password
        self.deactivated = False  # continuwuity keeps this apart from the password
        self.locked = False
        self.suspended = False
        self.erased = False
        self.displayname = user_id[1:].split(":", 1)[0]
        self.avatar_url = None
        self.devices = {}  # device_id -> access token
        self.emails = []
        self.last_seen = None


class Store:
    """Accounts, devices and access tokens, behind one lock (the fakes are threaded)."""

    def __init__(self, server_name):
        self.server_name = server_name
        self.lock = threading.RLock()
        self.accounts = {}  # user_id -> Account
        self.tokens = {}  # access token -> (user_id, device_id)

    def user_id(self, localpart):
        return "@%s:%s" % (localpart, self.server_name)

    def is_local(self, user_id):
        return user_id.rsplit(":", 1)[-1] == self.server_name if ":" in user_id else False

    def create(self, user_id, password_hash):
        acc = Account(user_id, password_hash)
        self.accounts[user_id] = acc
        return acc

    def new_device(self, user_id, display_name=None):
        acc = self.accounts[user_id]
        device_id = random_string(10).upper()  # tuwunel src/service/users/device.rs:27
        token = random_string(32)  # tuwunel src/service/users/device.rs:30
        acc.devices[device_id] = token
        acc.last_seen = now_ms()
        self.tokens[token] = (user_id, device_id)
        return device_id, token

    def remove_device(self, user_id, device_id):
        acc = self.accounts.get(user_id)
        if acc and device_id in acc.devices:
            self.tokens.pop(acc.devices.pop(device_id), None)

    def remove_all_devices(self, user_id):
        for device_id in list(self.accounts[user_id].devices):
            self.remove_device(user_id, device_id)


def parse_user_id(s):
    """(localpart, server) of '@local:server', else None (ruma UserId::parse, loosely)."""
    if not isinstance(s, str) or not s.startswith("@") or ":" not in s:
        return None
    local, server = s[1:].split(":", 1)
    if not local or not server:
        return None
    return local, server


class BaseHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    sys_version = ""
    FLAVOR = "fake"  # overridden: "FAKE-tuwunel", "FAKE-continuwuity"

    def log_message(self, fmt, *args):  # the request log is written by log_request_line
        pass

    def log_request_line(self, status):
        path, _, query = self.path.partition("?")
        if query:
            parts = []
            for item in query.split("&"):
                k, eq, v = item.partition("=")
                if SECRET_KEYS.search(urllib.parse.unquote(k)):
                    v = "<redacted>"
                parts.append(k + eq + v)
            path += "?" + "&".join(parts)
        # a registration token is a path segment of the token admin API: redacted too
        path = re.sub(r"(/registration_tokens/)(?!new(?:$|\?))[^/?]+", r"\1<redacted>", path)
        line = "%s %s %s %s %s\n" % (
            dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            self.FLAVOR, self.command, path, status)
        with self.server.log_lock:
            with open(self.server.log_path, "a", encoding="utf-8") as f:
                f.write(line)

    def read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send(self, status, body=b"", ctype=JSON_CT, headers=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        elif isinstance(body, str):
            body = body.encode()
        # Logged before the answer leaves, so a client that got its answer finds its line.
        self.log_request_line(status)
        self.send_response_only(status)
        self.send_header("Date", self.date_time_string())
        self.send_header("Server", self.server.version_string)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        self.body = self.read_body()
        raw_path, _, self.query_string = self.path.partition("?")
        self.segs = [urllib.parse.unquote(s) for s in raw_path.split("/")[1:]]
        self.raw_path = raw_path
        try:
            with self.server.store.lock:
                self.route()
        except Reject as r:
            self.send(r.status, r.body, r.ctype, r.headers)
        except Exception as e:  # noqa: BLE001 - a fake must answer, and say why
            self.send(500, {"errcode": "M_UNKNOWN",
                            "error": "%s internal error: %r" % (self.FLAVOR, e)})

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = handle_any

    @property
    def store(self):
        return self.server.store

    @property
    def cfg(self):
        return self.server.cfg

    # -------- helpers shared by both flavours

    def query(self):
        """Query parameters; a repeated key keeps the last value (serde_html_form into a struct
        of scalars)."""
        out = {}
        for k, v in urllib.parse.parse_qsl(self.query_string, keep_blank_values=True):
            out[k] = v
        return out

    def bearer(self):
        """The access token: `Authorization: Bearer` first, then `?access_token=` (tuwunel
        src/api/router/auth.rs:74-80; ruma auth_scheme.rs extract_bearer_or_query_token).
        Returns (token or None, bad_scheme)."""
        h = self.headers.get("Authorization")
        if h is not None:
            if len(h) < 7 or h[:7].lower() != "bearer ":
                return None, True
            return h[7:], False
        return self.query().get("access_token"), False

    def not_implemented(self):
        """A route the real server serves that this fake does not: never answered as the real
        server would, so a test cannot mistake it for a real answer."""
        raise Reject(501, {"errcode": "M_UNRECOGNIZED",
                           "error": "%s: %s %s is served by the real server but not by this "
                                    "fake" % (self.FLAVOR, self.command, self.raw_path)})


def read_secret(state_dir, name):
    """A secret from a file in the state dir (never from argv), trimmed; None when absent."""
    path = os.path.join(state_dir, name)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return f.read()


def load_seed(state_dir):
    """DIR/seed.json: {"users": [{"username", "password", "admin", "deactivated", "locked",
    "suspended", "erased", "displayname"}], "registration_tokens": [{"token", "uses_allowed",
    "expiry_time", "completed"}]}. Written by a test before start (mode 600: it holds passwords)."""
    path = os.path.join(state_dir, "seed.json")
    if not os.path.exists(path):
        return {"users": [], "registration_tokens": []}
    with open(path, encoding="utf-8") as f:
        seed = json.load(f)
    seed.setdefault("users", [])
    seed.setdefault("registration_tokens", [])
    return seed


def serve(handler, store, cfg, state_dir, port, flavor, version_string, **extra):
    """Binds 127.0.0.1 only; `extra` becomes attributes of the server (flavour state)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    for k, v in extra.items():
        setattr(server, k, v)
    server.store = store
    server.cfg = cfg
    server.version_string = version_string
    server.log_path = os.path.join(state_dir, flavor + ".log")
    server.log_lock = threading.Lock()
    with open(os.path.join(state_dir, "port"), "w", encoding="utf-8") as f:
        f.write("%d\n" % server.server_address[1])
    print("%s (a FAKE for tests, not the real server) listening on http://127.0.0.1:%d/"
          % (flavor, server.server_address[1]), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


def env_flag(name, default):
    v = os.environ.get(name)
    if v is None:
        return default
    return v.lower() not in ("0", "false", "no", "off", "")


def die(msg):
    sys.exit(msg)
