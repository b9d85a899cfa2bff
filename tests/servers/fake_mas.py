#!/usr/bin/env python3
"""A FAKE Matrix Authentication Service (MAS) for tests. Not MAS.

No package registry the project reaches carries MAS, so tests that need one run this stand-in.
It answers the OAuth 2.0 and admin API (/api/admin/v1) requests a user-management backend makes,
the way a real MAS 1.22 answered them in the transcripts in shared/reference/mas/ (envelopes,
error bodies, statuses, quirks). docs/mas-fake.md lists what it implements and where it deviates.

Standard library only; in-memory state; binds 127.0.0.1 only. Started by tests/servers/fake-mas.sh:

    fake_mas.py --state-dir DIR [--port N] [--token-ttl S] [--minimum-complexity N]
                [--password-login-disabled] [--reserved NAME,NAME] [--server-name NAME]
                [--homeserver-url URL] [--policy real|stand-in]

Every flag also has an environment variable (FAKE_MAS_PORT, FAKE_MAS_TOKEN_TTL,
FAKE_MAS_MINIMUM_COMPLEXITY, FAKE_MAS_PASSWORD_LOGIN=0, FAKE_MAS_RESERVED, FAKE_MAS_SERVER_NAME,
FAKE_MAS_HOMESERVER_URL, FAKE_MAS_POLICY). Secrets are read from files in DIR, never from argv:
admin-client-id, admin-client-secret (a client in admin_clients), client-id, client-secret (a
client that is not), homeserver-secret (the secret shared with Synapse's
matrix_authentication_service section). Each request line (method, path, status; query values
of secret-looking keys redacted; for lock, unlock, deactivate and reactivate also the request's
content type and its body when that is a JSON object of booleans) is appended to
DIR/fake-mas.log. The port is written to DIR/port.
"""

import argparse
import base64
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
import urllib.error
import urllib.parse
import urllib.request
import zlib

from fake_mas_compat import CompatSessions

VERSION = "v1.22.0"
ALNUM = string.ascii_letters + string.digits
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ADMIN_SCOPE = "urn:mas:admin"
CS_API_SCOPES = ("urn:matrix:client:api:*", "urn:matrix:org.matrix.msc2967.client:api:*")
USERNAME_RE = re.compile(r"^[a-z0-9=_\-./+]{1,255}$")
TEXT = "text/plain; charset=utf-8"
JSON_CT = "application/json"
EXPECTED_JSON = "Expected request with `Content-Type: application/json`"
NOT_FOUND_HTML = (
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Page not found"
    "</title></head><body><h1>Page not found</h1><p>The page you were looking for doesn't exist"
    " or has been moved</p></body></html>\n"
)
SECRET_KEYS = re.compile(r"token|secret|password|code|mac", re.I)


# ---------------------------------------------------------------- small helpers


def now_ns():
    return time.time_ns()


def fmt_ts(ns, fresh=False):
    """RFC 3339 UTC with Z, like chrono's AutoSi: a value set by the request itself shows its
    nanoseconds; read back from the database it has microsecond precision."""
    if ns is None:
        return None
    if not fresh:
        ns -= ns % 1000
    secs, frac = divmod(ns, 1_000_000_000)
    base = dt.datetime.fromtimestamp(secs, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    if frac == 0:
        return base + "Z"
    if frac % 1_000_000 == 0:
        return "%s.%03dZ" % (base, frac // 1_000_000)
    if frac % 1000 == 0:
        return "%s.%06dZ" % (base, frac // 1000)
    return "%s.%09dZ" % (base, frac)


RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)


def parse_rfc3339(s):
    """Returns nanoseconds since the epoch, or raises ValueError with chrono's message."""
    m = RFC3339.match(s)
    if not m:
        if re.match(r"^\d{4}-\d{2}-\d{2}", s) and len(s) < 20:
            raise ValueError("premature end of input")
        raise ValueError("input contains invalid characters")
    y, mo, d, h, mi, se = (int(m.group(i)) for i in range(1, 7))
    frac = m.group(7) or ""
    try:
        base = dt.datetime(y, mo, d, h, mi, min(se, 59), tzinfo=dt.timezone.utc)
    except ValueError:
        raise ValueError("input is out of range")
    off = m.group(8)
    offset = 0
    if off not in ("Z", "z"):
        sign = 1 if off[0] == "+" else -1
        offset = sign * (int(off[1:3]) * 3600 + int(off[4:6]) * 60)
    digits = (frac[1:] + "000000000")[:9] if frac else "0"
    secs = int(base.timestamp()) - offset
    return secs * 1_000_000_000 + int(digits)


def crc_b62(data):
    n = zlib.crc32(data.encode())
    out = ""
    while n > 0:
        n, r = divmod(n, 62)
        out += BASE62[r]
    return out + "0" * (6 - len(out))


def new_access_token(prefix="mat"):
    base = "%s_%s" % (prefix, "".join(secrets.choice(ALNUM) for _ in range(30)))
    return "%s_%s" % (base, crc_b62(base))


TOKEN_PREFIXES = {"mat": "access", "mar": "refresh", "mct": "compat", "syt": "compat",
                  "mcr": "compat-refresh", "syr": "compat-refresh", "mpt": "personal"}


def check_token_format(token):
    """(type, None) or (None, cause title), as MAS's TokenType::check."""
    if token.startswith("syt_"):
        return "compat", None
    if token.startswith("syr_"):
        return "compat-refresh", None
    parts = token.split("_")
    if len(parts) != 3 or len(parts[0]) != 3 or len(parts[1]) != 30 or len(parts[2]) != 6:
        return None, "invalid token format"
    kind = TOKEN_PREFIXES.get(parts[0])
    if kind is None:
        return None, "unknown token prefix %s" % json.dumps(parts[0])
    expected = crc_b62("%s_%s" % (parts[0], parts[1]))
    if parts[2] != expected:
        return None, "invalid crc %s, expected %s" % (json.dumps(parts[2]), json.dumps(expected))
    return kind, None


class UlidGen:
    """Monotonic ULIDs: 48-bit millisecond time + 80 random bits, Crockford base32."""

    def __init__(self):
        self.lock = threading.Lock()
        self.last = 0

    def new(self):
        with self.lock:
            value = ((time.time_ns() // 1_000_000) << 80) | secrets.randbits(80)
            if value <= self.last:
                value = self.last + 1
            self.last = value
        return "".join(CROCKFORD[(value >> (5 * i)) & 31] for i in range(25, -1, -1))


def ulid_error(s):
    """None if s is a ULID (any case), else the ulid crate's message."""
    if len(s) != 26:
        return "invalid length"
    for c in s.upper():
        if c not in CROCKFORD:
            return "invalid character"
    if s[0] > "7":
        return "invalid character"
    return None


def password_score(pw):
    """A stand-in for zxcvbn's 0-4 score (see docs/mas-fake.md): guesses estimated from the
    character classes and the length after collapsing repeats and runs, with a penalty for
    common words."""
    if not pw:
        return 0
    pool = 0
    pool += 26 if re.search(r"[a-z]", pw) else 0
    pool += 26 if re.search(r"[A-Z]", pw) else 0
    pool += 10 if re.search(r"[0-9]", pw) else 0
    pool += 33 if re.search(r"[^a-zA-Z0-9]", pw) else 0
    # Repeated characters and ascending/descending runs add almost nothing.
    eff = 1
    for a, b in zip(pw, pw[1:]):
        if a == b or abs(ord(a) - ord(b)) == 1:
            continue
        eff += 1
    low = pw.lower()
    for word in ("password", "passwort", "qwerty", "azerty", "letmein", "welcome", "admin",
                 "matrix", "iloveyou", "monkey", "dragon", "secret", "login", "abc123",
                 "123456", "111111", "sunshine", "princess", "football", "master"):
        if word in low:
            eff -= max(len(word) - 2, 1)
    eff = max(eff, 1)
    guesses = pool ** eff
    for score, limit in enumerate((1e3, 1e6, 1e8, 1e10)):
        if guesses < limit:
            return score
    return 4


def hash_password(password, salt):
    return hashlib.scrypt(password.encode(), salt=salt, n=1024, r=8, p=1)


# ---------------------------------------------------------------- JSON body handling (serde-like)


class Reject(Exception):
    """An answer that ends the request: status, content type, body bytes, extra headers."""

    def __init__(self, status, ctype, body, headers=None):
        super().__init__(status)
        self.status, self.ctype, self.body, self.headers = status, ctype, body, headers or {}


def json_errors(status, *titles):
    return Reject(status, JSON_CT, {"errors": [{"title": t} for t in titles]})


def line_col(text, end):
    line = text.count("\n", 0, end) + 1
    start = text.rfind("\n", 0, end) + 1
    return line, end - start


def serde_syntax_error(text, exc):
    msg, pos = exc.msg, exc.pos
    if msg.startswith("Expecting property name"):
        what, end = "key must be a string", pos + 1
    elif msg.startswith("Expecting value"):
        if pos >= len(text.rstrip()):
            what, end = "EOF while parsing a value", len(text)
        else:
            what, end = "expected value", pos + 1
    elif msg.startswith("Expecting ',' delimiter"):
        if pos >= len(text):
            what, end = "EOF while parsing an object", pos
        else:
            what, end = "expected `,` or `}`", pos + 1
    elif msg.startswith("Expecting ':' delimiter"):
        what, end = "expected `:`", pos + 1
    elif msg.startswith("Extra data"):
        what, end = "trailing characters", pos + 1
    elif msg.startswith("Unterminated string"):
        what, end = "EOF while parsing a string", len(text)
    elif msg.startswith("Invalid control character"):
        what, end = "control character (\\u0000-\\u001F) found while parsing a string", pos + 1
    else:
        what, end = "expected value", pos + 1
    line, col = line_col(text, end)
    return "%s at line %d column %d" % (what, line, col)


def _no_constants(name):
    raise ValueError("expected value")


def top_level_members(text):
    """[(key, value, start, end)] of a top-level JSON object, and the end of the object."""
    dec = json.JSONDecoder()
    ws = " \t\n\r"
    i = 0
    while text[i] in ws:
        i += 1
    i += 1  # '{'
    out = []
    while True:
        while text[i] in ws:
            i += 1
        if text[i] == "}":
            return out, i + 1
        if text[i] == ",":
            i += 1
            continue
        key, i = json.decoder.scanstring(text, i + 1)
        while text[i] in ws + ":":
            i += 1
        start = i
        value, i = dec.raw_decode(text, i)
        out.append((key, value, start, i))


def rust_unexpected(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean `%s`" % ("true" if v else "false")
    if isinstance(v, int):
        return "integer `%d`" % v
    if isinstance(v, float):
        return "floating point `%s`" % repr(v)
    if isinstance(v, str):
        return "string %s" % json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "sequence"
    return "map"


EXPECTING = {"string": "a string", "bool": "a boolean", "u32": "u32", "ulid": "a ULID string",
             "datetime": "an RFC 3339 formatted date and time string"}


def check_field(kind, value, nullable):
    """(converted value, error message or None)."""
    if value is None:
        if nullable:
            return None, None
        return None, "invalid type: null, expected %s" % EXPECTING[kind]
    if kind == "string":
        if isinstance(value, str):
            return value, None
    elif kind == "bool":
        if isinstance(value, bool):
            return value, None
    elif kind == "u32":
        if isinstance(value, int) and not isinstance(value, bool):
            if 0 <= value <= 0xFFFFFFFF:
                return value, None
            return None, "invalid value: integer `%d`, expected u32" % value
    elif kind == "ulid":
        if isinstance(value, str):
            err = ulid_error(value)
            return (value.upper(), None) if err is None else (None, err)
    elif kind == "datetime":
        if isinstance(value, str):
            try:
                return parse_rfc3339(value), None
            except ValueError as e:
                return None, str(e)
    return None, "invalid type: %s, expected %s" % (rust_unexpected(value), EXPECTING[kind])


# ---------------------------------------------------------------- state


class State:
    def __init__(self, cfg):
        self.cfg = cfg
        self.lock = threading.RLock()
        self.ulids = UlidGen()
        self.users = {}  # id -> dict
        self.emails = {}  # id -> dict
        self.regtokens = {}  # id -> dict
        self.access = {}  # token -> dict(client, scope, created, expires, revoked)
        self.compat = {}  # compat access token -> dict(id, user_id, device, created, finished)
        # Localparts the emulated homeserver already has (used when no real one is linked).
        self.hs_users = set(cfg.reserved)

    def user_by_name(self, name):
        low = name.lower()
        for u in self.users.values():
            if u["username"].lower() == low:
                return u
        return None


def ilike_regex(search):
    """MAS filters usernames with `username ILIKE '%<search>%'` (PostgreSQL): in the search
    string `%` matches any run of characters, `_` any one character, and a backslash makes the
    next character literal. A trailing backslash is an error in PostgreSQL (MAS answers 500)."""
    out, i = [".*"], 0
    while i < len(search):
        c = search[i]
        if c == "\\":
            if i + 1 == len(search):
                raise json_errors(500, "fake MAS: PostgreSQL refuses a LIKE pattern that ends "
                                  "with the escape character (MAS answers 500; its spelling "
                                  "was not recorded)")
            out.append(re.escape(search[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "%" else "." if c == "_" else re.escape(c))
        i += 1
    out.append(".*")
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def user_resource(u, fresh=()):
    return {
        "type": "user",
        "id": u["id"],
        "attributes": {
            "username": u["username"],
            "created_at": fmt_ts(u["created_at"], "created_at" in fresh),
            "locked_at": fmt_ts(u["locked_at"], "locked_at" in fresh),
            "deactivated_at": fmt_ts(u["deactivated_at"], "deactivated_at" in fresh),
            "admin": u["admin"],
            "legacy_guest": False,
        },
        "links": {"self": "/api/admin/v1/users/%s" % u["id"]},
    }


def email_resource(e, fresh=()):
    return {
        "type": "user-email",
        "id": e["id"],
        "attributes": {
            "created_at": fmt_ts(e["created_at"], "created_at" in fresh),
            "user_id": e["user_id"],
            "email": e["email"],
        },
        "links": {"self": "/api/admin/v1/user-emails/%s" % e["id"]},
    }


def regtoken_valid(t, now):
    if t["revoked_at"] is not None:
        return False
    if t["expires_at"] is not None and t["expires_at"] <= now:
        return False
    if t["usage_limit"] is not None and t["times_used"] >= t["usage_limit"]:
        return False
    return True


def regtoken_resource(t, fresh=()):
    return {
        "type": "user-registration_token",
        "id": t["id"],
        "attributes": {
            "token": t["token"],
            "valid": regtoken_valid(t, now_ns()),
            "usage_limit": t["usage_limit"],
            "times_used": t["times_used"],
            "created_at": fmt_ts(t["created_at"], "created_at" in fresh),
            "last_used_at": fmt_ts(t["last_used_at"]),
            "expires_at": fmt_ts(t["expires_at"], True),
            "revoked_at": fmt_ts(t["revoked_at"], "revoked_at" in fresh),
        },
        "links": {"self": "/api/admin/v1/user-registration-tokens/%s" % t["id"]},
    }


# ---------------------------------------------------------------- handler


class Handler(CompatSessions, http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-mas"
    sys_version = ""
    # For the CompatSessions mixin (fake_mas_compat.py).
    Reject = Reject
    hash_password = staticmethod(lambda pw, salt: hash_password(pw, salt))
    new_access_token = staticmethod(lambda prefix: new_access_token(prefix))
    now_ns = staticmethod(lambda: now_ns())

    @staticmethod
    def matrix_error(status, errcode, error):
        return Reject(status, JSON_CT, {"errcode": errcode, "error": error})

    # -------- plumbing

    def log_message(self, fmt, *args):  # the access log is written by log_request_line
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
        line = "%s %s %s %s%s\n" % (
            dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            self.command, path, status, self.log_extra)
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

    def send(self, status, ctype=None, body=b"", headers=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        elif isinstance(body, str):
            body = body.encode()
        # Logged before the answer leaves, so a client that got its answer finds its line.
        self.log_request_line(status)
        self.send_response_only(status)
        self.send_header("Date", self.date_time_string())
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
        # One handler serves every request of a kept-alive connection.
        self.log_extra = ""
        try:
            self.route()
        except Reject as r:
            self.send(r.status, r.ctype, r.body, r.headers)
        except Exception as e:  # noqa: BLE001 - a fake must answer, and say why
            self.send(500, JSON_CT, {"errors": [{"title": "fake MAS internal error: %s" % e}]})

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = handle_any

    @property
    def st(self):
        return self.server.state

    @property
    def cfg(self):
        return self.server.state.cfg

    # -------- routing

    def route(self):
        raw_path, _, self.query = self.path.partition("?")
        segs = raw_path.split("/")[1:]
        dec = [urllib.parse.unquote(s) for s in segs]
        m = self.command
        if raw_path == "/.well-known/openid-configuration":
            return self.allow(m, "GET") or self.discovery()
        if raw_path == "/health":
            return self.allow(m, "GET") or self.send(200, TEXT, "ok")
        if raw_path == "/oauth2/token":
            return self.allow(m, "POST") or self.token()
        if raw_path == "/oauth2/revoke":
            return self.allow(m, "POST") or self.revoke()
        if raw_path == "/oauth2/introspect":
            return self.allow(m, "POST") or self.introspect()
        if raw_path in ("/_matrix/client/v3/login", "/_matrix/client/r0/login"):
            return self.allow(m, "GET", "POST") or self.compat_login(m)
        if dec[:3] != ["api", "admin", "v1"] or len(dec) < 4:
            return self.not_found()
        rest = dec[3:]
        n = len(rest)
        if rest == ["version"]:
            return self.allow(m, "GET") or (self.auth(), self.send(200, JSON_CT, {"version": VERSION}))
        if rest == ["site-config"]:
            return self.allow(m, "GET") or (self.auth(), self.site_config())
        if rest[0] == "users":
            if n == 1:
                return self.allow(m, "GET", "POST") or self.users_root(m)
            if n >= 3 and rest[1] == "by-username" and rest[2] != "":
                # The username is everything after by-username/, slashes included.
                return self.allow(m, "GET") or self.user_by_username("/".join(rest[2:]))
            if n == 2 and rest[1]:
                return self.allow(m, "GET") or self.user_get(rest[1])
            if n == 3 and rest[2] in ("set-password", "set-admin", "lock", "unlock",
                                      "deactivate", "reactivate"):
                return self.allow(m, "POST") or self.user_action(rest[1], rest[2])
        if rest[0] == "user-emails":
            if n == 1:
                return self.allow(m, "GET", "POST") or self.emails_root(m)
            if n == 2 and rest[1]:
                return self.allow(m, "GET", "DELETE") or self.email_one(m, rest[1])
        if rest[0] == "user-registration-tokens":
            if n == 1:
                return self.allow(m, "GET", "POST") or self.regtokens_root(m)
            if n == 2 and rest[1]:
                return self.allow(m, "GET", "PUT") or self.regtoken_one(m, rest[1])
            if n == 3 and rest[2] in ("revoke", "unrevoke"):
                return self.allow(m, "POST") or self.regtoken_action(rest[1], rest[2])
        return self.not_found()

    def allow(self, method, *methods):
        """None when the method is routed; else a 405 (empty body, Allow header) like axum."""
        if method in methods or (method == "HEAD" and "GET" in methods):
            return None
        allowed = []
        for mm in methods:
            allowed.append(mm)
            if mm == "GET":
                allowed.append("HEAD")
        raise Reject(405, None, b"", {"Allow": ",".join(allowed)})

    def not_found(self):
        # A real MAS renders its HTML 404 page here, before any authentication.
        raise Reject(404, "text/html; charset=utf-8", NOT_FOUND_HTML)

    # -------- discovery and OAuth 2.0

    def base(self):
        return "http://127.0.0.1:%d/" % self.server.server_address[1]

    def discovery(self):
        b = self.base()
        algs = ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                "ES256", "ES384", "ES256K"]
        methods = ["client_secret_basic", "client_secret_post", "client_secret_jwt",
                   "private_key_jwt", "none"]
        id_algs = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "PS384", "PS512", "ES256K"]
        self.send(200, JSON_CT, {
            "issuer": b,
            "authorization_endpoint": b + "authorize",
            "token_endpoint": b + "oauth2/token",
            "jwks_uri": b + "oauth2/keys.json",
            "registration_endpoint": b + "oauth2/registration",
            "scopes_supported": ["openid", "email"],
            "response_types_supported": ["code", "id_token", "code id_token"],
            "response_modes_supported": ["form_post", "query", "fragment"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials",
                                      "urn:ietf:params:oauth:grant-type:device_code"],
            "token_endpoint_auth_methods_supported": methods,
            "token_endpoint_auth_signing_alg_values_supported": algs,
            "revocation_endpoint": b + "oauth2/revoke",
            "revocation_endpoint_auth_methods_supported": methods,
            "revocation_endpoint_auth_signing_alg_values_supported": algs,
            "introspection_endpoint": b + "oauth2/introspect",
            "introspection_endpoint_auth_methods_supported": methods,
            "introspection_endpoint_auth_signing_alg_values_supported": algs,
            "code_challenge_methods_supported": ["plain", "S256"],
            "userinfo_endpoint": b + "oauth2/userinfo",
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": id_algs,
            "userinfo_signing_alg_values_supported": id_algs,
            "display_values_supported": ["page"],
            "claim_types_supported": ["normal"],
            "claims_supported": ["iss", "sub", "aud", "iat", "exp", "nonce", "auth_time",
                                 "at_hash", "c_hash"],
            "claims_parameter_supported": False,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
            "prompt_values_supported": ["login"],
            "device_authorization_endpoint": b + "oauth2/device",
            "org.matrix.matrix-authentication-service.graphql_endpoint": b + "graphql",
            "account_management_uri": b + "account/",
            "account_management_actions_supported": [
                "org.matrix.profile", "org.matrix.devices_list", "org.matrix.device_view",
                "org.matrix.device_delete", "org.matrix.cross_signing_reset",
                "org.matrix.sessions_list", "org.matrix.session_view", "org.matrix.session_end"],
        })

    def oauth_error(self, status, error, description=None):
        body = {"error": error}
        if description is not None:
            body["error_description"] = description
        return Reject(status, JSON_CT, body)

    def oauth_form(self):
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            raise self.oauth_error(
                400, "invalid_request",
                "The request is missing a required parameter, includes an invalid parameter "
                "value, includes a parameter more than once, or is otherwise malformed.")
        return dict(urllib.parse.parse_qsl(self.body.decode("utf-8", "replace"),
                                           keep_blank_values=True))

    def client_auth(self, form):
        """The authenticated client id, or raises the OAuth error MAS gives."""
        header = self.headers.get("Authorization")
        basic = None
        if header and header[:6].lower() == "basic ":
            try:
                raw = base64.b64decode(header[6:].strip()).decode()
                cid, _, secret = raw.partition(":")
                basic = (urllib.parse.unquote_plus(cid), urllib.parse.unquote_plus(secret))
            except Exception:  # noqa: BLE001
                raise self.oauth_error(401, "invalid_client", "Client authentication failed.")
        if basic is None and "client_id" not in form:
            raise self.oauth_error(400, "invalid_request", "No credentials were presented")
        clients = self.server.clients
        if basic is None:
            # client_secret_post, but both static clients are registered client_secret_basic.
            raise self.oauth_error(401, "invalid_client", "Client authentication failed.")
        cid, secret = basic
        known = clients.get(cid)
        if known is None or not secrets.compare_digest(known.encode(), secret.encode()):
            raise self.oauth_error(401, "invalid_client", "Client authentication failed.")
        return cid

    def token(self):
        form = self.oauth_form()
        if "grant_type" not in form:
            raise self.oauth_error(500, "server_error",
                                   "Failed to deserialize form body: missing field `grant_type`")
        client = self.client_auth(form)
        if form["grant_type"] != "client_credentials":
            raise self.oauth_error(
                400, "unsupported_grant_type",
                "The authorization grant type is not supported by the authorization server.")
        scopes = sorted(set(s for s in form.get("scope", "").split(" ") if s))
        for s in scopes:
            if s == ADMIN_SCOPE and client not in self.server.admin_clients:
                raise self.oauth_error(403, "invalid_scope", "scope '%s' not allowed" % s)
            if s in CS_API_SCOPES and self.cfg.policy == "real":
                # The real policy gives C-S API scopes to interactive grants only.
                raise self.oauth_error(403, "invalid_scope", "scope '%s' not allowed" % s)
        tok = new_access_token()
        created = now_ns()
        with self.st.lock:
            self.st.access[tok] = {"client": client, "scope": scopes, "created": created,
                                   "expires": created + self.cfg.token_ttl * 1_000_000_000,
                                   "revoked": False}
        body = {"access_token": tok, "token_type": "Bearer", "expires_in": self.cfg.token_ttl}
        if scopes:
            body["scope"] = " ".join(scopes)
        self.send(200, JSON_CT, body, {"Cache-Control": "no-store", "Pragma": "no-cache"})

    def revoke(self):
        form = self.oauth_form()
        self.client_auth(form)
        tok = form.get("token")
        if tok is None:
            raise self.oauth_error(400, "invalid_request")
        with self.st.lock:
            rec = self.st.access.get(tok)
            if rec is not None:
                rec["revoked"] = True
        self.send(200)

    def introspect(self):
        header = self.headers.get("Authorization") or ""
        if header[:7].lower() == "bearer ":
            hs_secret = self.server.homeserver_secret
            if not hs_secret or not secrets.compare_digest(header[7:].strip().encode(),
                                                           hs_secret.encode()):
                raise self.oauth_error(401, "access_denied", "bearer token presented is invalid")
            form = self.oauth_form()
        else:
            form = self.oauth_form()
            self.client_auth(form)
        tok = form.get("token")
        if tok is None:
            raise self.oauth_error(400, "invalid_request")
        kind, _ = check_token_format(tok)
        hint = form.get("token_type_hint")
        if kind == "compat" and hint in (None, "access_token"):
            return self.send(200, JSON_CT, self.introspect_compat(tok))
        with self.st.lock:
            rec = self.st.access.get(tok)
        now = now_ns()
        if (kind != "access" or (hint not in (None, "access_token")) or rec is None
                or rec["revoked"] or rec["expires"] <= now):
            return self.send(200, JSON_CT, {"active": False})
        scope = set(rec["scope"])
        if "urn:matrix:client:api:*" in scope or CS_API_SCOPES[1] in scope:
            scope.update(CS_API_SCOPES)
        self.send(200, JSON_CT, {
            "active": True,
            "scope": " ".join(sorted(scope)),
            "client_id": rec["client"],
            "token_type": "access_token",
            "exp": rec["expires"] // 1_000_000_000,
            "expires_in": max(0, (rec["expires"] - now) // 1_000_000_000),
            "iat": rec["created"] // 1_000_000_000,
            "nbf": rec["created"] // 1_000_000_000,
            "jti": tok.split("_")[1][:26],
        })

    # -------- compatibility layer: fake_mas_compat.CompatSessions (login, sessions)

    # -------- admin API: authentication, bodies, queries

    def auth(self):
        header = self.headers.get("Authorization")
        if header is None:
            raise json_errors(400, "Missing authorization header")
        if header[:7].lower() != "bearer " or not header[7:].strip():
            raise json_errors(400, "Invalid authorization header")
        tok = header[7:].strip()
        kind, cause = check_token_format(tok)
        if kind is None:
            raise json_errors(401, "Invalid type of access token", cause)
        if kind != "access":
            raise json_errors(401, "Invalid type of access token")
        with self.st.lock:
            rec = self.st.access.get(tok)
        if rec is None:
            raise json_errors(401, "Unknown access token")
        if rec["revoked"]:
            raise json_errors(401, "Access token revoked")
        if rec["expires"] <= now_ns():
            raise json_errors(401, "Access token expired")
        if ADMIN_SCOPE not in rec["scope"]:
            raise json_errors(401, "Missing urn:mas:admin scope")

    def path_ulid(self, raw):
        err = ulid_error(raw)
        if err:
            raise json_errors(400, "Invalid ULID in path", err)
        return raw.upper()

    def json_body(self, fields, optional=False):
        """Parses the body like axum's Json extractor plus serde. fields: {name: (kind,
        required, nullable)}. Returns {name: value} for the fields present (None for null)."""
        ctype = self.headers.get("Content-Type")
        if optional and ctype is None:
            return {}
        mime = (ctype or "").split(";")[0].strip().lower()
        if not (mime == "application/json" or (mime.startswith("application/")
                                                 and mime.endswith("+json"))):
            raise Reject(415, TEXT, EXPECTED_JSON)
        text = self.body.decode("utf-8", "replace")
        try:
            value = json.loads(text, parse_constant=_no_constants)
        except json.JSONDecodeError as e:
            raise Reject(400, TEXT, "Failed to parse the request body as JSON: "
                         + serde_syntax_error(text, e))
        except ValueError:
            raise Reject(400, TEXT, "Failed to parse the request body as JSON: expected value "
                         "at line 1 column 1")
        prefix = "Failed to deserialize the JSON body into the target type: "
        if not isinstance(value, dict):
            line, col = line_col(text, len(text.rstrip()))
            raise Reject(422, TEXT, "%sinvalid type: %s, expected a map at line %d column %d"
                         % (prefix, rust_unexpected(value), line, col))
        members, end = top_level_members(text)
        out = {}
        for key, val, start, stop in members:
            if key not in fields:
                continue
            kind, _, nullable = fields[key]
            conv, err = check_field(kind, val, nullable)
            if err:
                if isinstance(val, (list, dict)):
                    stop = start + 1
                line, col = line_col(text, stop)
                raise Reject(422, TEXT, "%s%s: %s at line %d column %d"
                             % (prefix, key, err, line, col))
            out[key] = conv
        for key, (kind, required, _) in fields.items():
            if required and key not in out:
                line, col = line_col(text, end)
                raise Reject(422, TEXT, "%smissing field `%s` at line %d column %d"
                             % (prefix, key, line, col))
        return out

    def query_pairs(self):
        """All (key, value) pairs of the query, repeated keys included, decoded."""
        return [(urllib.parse.unquote_plus(k), urllib.parse.unquote_plus(v))
                for k, _, v in (item.partition("=") for item in
                                (self.query.split("&") if self.query else []) if item)]

    def query_params(self):
        out = []
        for item in self.query.split("&") if self.query else []:
            if not item:
                continue
            k, _, v = item.partition("=")
            out.append((urllib.parse.unquote_plus(k), urllib.parse.unquote_plus(v)))
        return dict(out)

    @staticmethod
    def qs_error(kind, detail):
        return json_errors(400, "Invalid %s parameters" % kind,
                           "Failed to deserialize query string: " + detail, detail, detail)

    def pagination(self, q):
        page = {}
        for key in ("page[first]", "page[last]"):
            if key in q:
                v = q[key]
                if not re.fullmatch(r"\+?\d+", v):
                    raise self.qs_error("pagination", "%s: invalid digit found in string" % key)
                n = int(v)
                if n == 0:
                    raise self.qs_error(
                        "pagination",
                        "%s: invalid value: integer `0`, expected a nonzero usize" % key)
                page[key] = n
        for key in ("page[before]", "page[after]"):
            if key in q:
                err = ulid_error(q[key])
                if err:
                    raise self.qs_error("pagination", "%s: %s" % (key, err))
                page[key] = q[key].upper()
        count = q.get("count", "true")
        if count not in ("true", "false", "only"):
            raise self.qs_error(
                "pagination",
                "count: unknown variant `%s`, expected one of `true`, `false`, `only`" % count)
        if "page[first]" in page and "page[last]" in page:
            raise json_errors(400, "Cannot specify both `page[first]` and `page[last]` parameters")
        return page, count

    def bool_filter(self, q, name):
        if name not in q:
            return None
        v = q[name]
        if v not in ("true", "false"):
            raise self.qs_error("filter", "%s: provided string was not `true` or `false`" % name)
        return v == "true"

    def paginate(self, base, filters, items, page, count):
        """items: [(id, resource)] ordered by id. filters: [(key, value)] as spelled in links."""
        fq = "&".join("%s=%s" % kv for kv in filters)
        pre = fq + "&" if fq else ""
        cq = "" if count == "true" else "count=%s&" % count
        if count == "only":
            self_q = pre + "count=only"
            return {"meta": {"count": len(items)}, "links": {"self": "%s?%s" % (base, self_q)}}
        before, after = page.get("page[before]"), page.get("page[after]")
        sel = [it for it in items if (after is None or it[0] > after)
               and (before is None or it[0] < before)]
        backward = "page[last]" in page
        size = page.get("page[last]") if backward else page.get("page[first]", 10)
        if backward:
            more = len(sel) > size
            sel = sel[-size:] if size else []
        else:
            more = len(sel) > size
            sel = sel[:size]
        pq = ""
        if before:
            pq += "page[before]=%s&" % before
        if after:
            pq += "page[after]=%s&" % after
        pq += "page[last]=%d" % size if backward else "page[first]=%d" % size
        links = {
            "self": "%s?%s%s%s" % (base, pre, cq, pq),
            "first": "%s?%s%spage[first]=%d" % (base, pre, cq, size),
            "last": "%s?%s%spage[last]=%d" % (base, pre, cq, size),
        }
        if more and sel and not backward:
            links["next"] = "%s?%s%spage[after]=%s&page[first]=%d" % (base, pre, cq, sel[-1][0], size)
        if more and sel and backward:
            links["prev"] = "%s?%s%spage[before]=%s&page[last]=%d" % (base, pre, cq, sel[0][0], size)
        data = []
        for rid, res in sel:
            res = dict(res)
            res["meta"] = {"page": {"cursor": rid}}
            data.append(res)
        body = {}
        if count == "true":
            body["meta"] = {"count": len(items)}
        body["data"] = data
        body["links"] = links
        return body

    def single(self, status, resource, self_link=None):
        self.send(status, JSON_CT, {"data": resource,
                                    "links": {"self": self_link or resource["links"]["self"]}})

    # -------- admin API: site config

    def site_config(self):
        self.send(200, JSON_CT, {
            "server_name": self.cfg.server_name,
            "password_login_enabled": self.cfg.password_login,
            "password_registration_enabled": False,
            "password_registration_email_required": True,
            "password_registration_token_required": False,
            "registration_token_required": False,
            "email_change_allowed": True,
            "displayname_change_allowed": True,
            "password_change_allowed": self.cfg.password_login,
            "account_recovery_allowed": False,
            "account_deactivation_allowed": True,
            "captcha_enabled": False,
            "minimum_password_complexity": self.cfg.minimum_complexity,
        })

    # -------- admin API: users

    def users_root(self, method):
        self.auth()
        if method == "POST":
            return self.user_create()
        q = self.query_params()
        page, count = self.pagination(q)
        filters = []
        admin = self.bool_filter(q, "filter[admin]")
        if admin is not None:
            filters.append(("filter[admin]", q["filter[admin]"]))
        guest = self.bool_filter(q, "filter[legacy-guest]")
        if guest is not None:
            filters.append(("filter[legacy-guest]", q["filter[legacy-guest]"]))
        search = q.get("filter[search]")
        if search is not None:
            filters.append(("filter[search]", search))
        status = q.get("filter[status]")
        if status is not None:
            if status not in ("active", "locked", "deactivated"):
                raise self.qs_error(
                    "filter", "filter[status]: unknown variant `%s`, expected one of `active`, "
                    "`locked`, `deactivated`" % status)
            filters.append(("filter[status]", status))
        # The fake has no users with OAuth 2.0 sessions (only client_credentials tokens), so
        # filter[active-oauth2-client] (after MAS's 404 for an unknown client) and
        # filter[has-active-oauth2-session]=true match nobody.
        clients = [v for k, v in self.query_pairs() if k == "filter[active-oauth2-client]"]
        for c in clients:
            err = ulid_error(c)
            if err:
                raise self.qs_error("filter", "filter[active-oauth2-client]: %s" % err)
            filters.append(("filter[active-oauth2-client]", c.upper()))
        known = {k.upper() for k in self.server.clients}
        for c in clients:
            if c.upper() not in known:
                raise json_errors(404, "Client ID %s not found" % c.upper())
        has_oauth2 = self.bool_filter(q, "filter[has-active-oauth2-session]")
        if has_oauth2 is not None:
            filters.append(("filter[has-active-oauth2-session]",
                            q["filter[has-active-oauth2-session]"]))
        has_compat = self.bool_filter(q, "filter[has-active-compat-session]")
        if has_compat is not None:
            filters.append(("filter[has-active-compat-session]",
                            q["filter[has-active-compat-session]"]))
        like = None if search is None else ilike_regex(search)
        with self.st.lock:
            users = sorted(self.st.users.values(), key=lambda u: u["id"])
        sel = []
        for u in users:
            if admin is not None and u["admin"] != admin:
                continue
            if guest is True or clients or has_oauth2 is True:
                continue
            if like is not None and not like.fullmatch(u["username"]):
                continue
            if has_compat is not None and self.has_active_compat_session(u["id"]) != has_compat:
                continue
            if status == "active" and (u["locked_at"] or u["deactivated_at"]):
                continue
            if status == "locked" and not u["locked_at"]:
                continue
            if status == "deactivated" and not u["deactivated_at"]:
                continue
            sel.append((u["id"], user_resource(u)))
        self.send(200, JSON_CT, self.paginate("/api/admin/v1/users", filters, sel, page, count))

    def homeserver_check(self, username):
        """None if the homeserver would accept the localpart, else its (errcode, error)."""
        if self.cfg.homeserver_url:
            if not username.isascii():
                return ("M_INVALID_USERNAME", "not ASCII", 400)
            try:
                status, body = self.hs_call(
                    "GET", "_synapse/mas/is_localpart_available?localpart="
                    + urllib.parse.quote(username, safe=""))
            except OSError as e:
                raise json_errors(500, "Failed to query localpart availability from Synapse",
                                  "Failed to check localpart availability from Synapse",
                                  str(e))
            if status == 200:
                return None
            err = (body.get("errcode", "M_UNKNOWN"), body.get("error", ""), status)
            if err[0] in ("M_INVALID_USERNAME", "M_USER_IN_USE", "M_EXCLUSIVE"):
                return err
            raise json_errors(500, "Failed to query localpart availability from Synapse",
                              "%s: %s" % (err[0], err[1]))
        if len("@%s:%s" % (username, self.cfg.server_name)) > 255:
            return ("M_INVALID_USERNAME", "User ID may not be longer than 255 characters", 400)
        with self.st.lock:
            taken = username in self.st.hs_users
        if taken:
            return ("M_USER_IN_USE", "User ID already taken.", 400)
        if re.fullmatch(r"\d+", username):
            return ("M_INVALID_USERNAME", "Numeric user IDs are reserved for guest users.", 400)
        return None

    def hs_url(self, path):
        base = self.cfg.homeserver_url or "http://127.0.0.1:8008/"
        return base.rstrip("/") + "/" + path

    def hs_call(self, method, path, body=None):
        """A call to the linked homeserver's /_synapse/mas API: (status, parsed body)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.hs_url(path), data=data, method=method)
        req.add_header("Authorization", "Bearer " + (self.server.homeserver_secret or ""))
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            try:
                return e.code, json.loads(e.read() or b"{}")
            except ValueError:
                return e.code, {}

    def provision(self, username, displayname, avatar_url):
        """Provisions the user on the homeserver; raises MAS's 500 if the homeserver refuses."""
        if self.cfg.homeserver_url:
            body = {"localpart": username, "locked": False}
            if displayname is not None:
                body["set_displayname"] = displayname
            if avatar_url is not None:
                body["set_avatar_url"] = avatar_url
            try:
                status, resp = self.hs_call("POST", "_synapse/mas/provision_user", body)
            except OSError as e:
                raise json_errors(500, "Failed to provision user in Synapse", str(e))
            err = None if status in (200, 201) else (resp.get("errcode", "M_UNKNOWN"),
                                                     resp.get("error", ""), status)
        else:
            err = self.homeserver_check(username)
            if err and err[0] == "M_USER_IN_USE":
                err = None  # provisioning an existing homeserver account updates it
        if err:
            raise self.hs_error("provisioning user", "_synapse/mas/provision_user", err)
        with self.st.lock:
            self.st.hs_users.add(username)

    def hs_error(self, doing, path, err):
        """MAS's 500 for a homeserver call that answered an error: the context, the Matrix
        error, reqwest's status line."""
        reason = {400: "Bad Request", 403: "Forbidden", 404: "Not Found",
                  500: "Internal Server Error"}.get(err[2], "")
        kind = "client" if 400 <= err[2] < 500 else "server"
        return json_errors(
            500, "Unexpected HTTP response while %s in Synapse" % doing,
            "%s: %s" % (err[0], err[1]),
            "HTTP status %s error (%d %s) for url (%s)" % (kind, err[2], reason, self.hs_url(path)))

    def hs_best_effort(self, path, body):
        """Homeserver syncs that a real MAS runs as background jobs: failures do not change
        the admin API's answer."""
        if not self.cfg.homeserver_url:
            return
        try:
            self.hs_call("POST", path, body)
        except Exception:  # noqa: BLE001
            pass

    def user_create(self):
        body = self.json_body({"username": ("string", True, False),
                               "skip_homeserver_check": ("bool", False, False),
                               "displayname": ("string", False, True),
                               "avatar_url": ("string", False, True)})
        username = body["username"]
        if self.st.user_by_name(username) is not None:
            raise json_errors(409, "User already exists")
        if not USERNAME_RE.match(username) or username.startswith("_"):
            raise json_errors(400, "Username is not valid")
        if not body.get("skip_homeserver_check"):
            if self.homeserver_check(username) is not None:
                raise json_errors(409, "Username is reserved by the homeserver")
        self.provision(username, body.get("displayname"), body.get("avatar_url"))
        with self.st.lock:
            if self.st.user_by_name(username) is not None:
                raise json_errors(409, "User already exists")
            u = {"id": self.st.ulids.new(), "username": username, "created_at": now_ns(),
                 "locked_at": None, "deactivated_at": None, "admin": False, "password": None}
            self.st.users[u["id"]] = u
        self.single(201, user_resource(u, fresh=("created_at",)))

    def find_user(self, uid):
        with self.st.lock:
            u = self.st.users.get(uid)
        if u is None:
            raise json_errors(404, "User ID %s not found" % uid)
        return u

    def user_by_username(self, name):
        self.auth()
        with self.st.lock:
            u = self.st.user_by_name(name)
        if u is None:
            raise json_errors(404, "User with username %s not found" % json.dumps(name))
        self.single(200, user_resource(u), "/api/admin/v1/users/by-username/%s" % name)

    def user_get(self, raw):
        self.auth()
        uid = self.path_ulid(raw)
        self.single(200, user_resource(self.find_user(uid)))

    def body_for_log(self):
        """' ctype=.. body=..' for the log of a request whose body has no secret: its content
        type, and the body itself only when it is a JSON object of booleans (as `skip_erase`);
        otherwise its length. Lets tests see what exactly a client sent to the lifecycle actions."""
        ctype = self.headers.get("Content-Type") or "-"
        if not self.body:
            shown = "-"
        else:
            try:
                v = json.loads(self.body.decode("utf-8"))
            except ValueError:
                v = None
            if isinstance(v, dict) and all(isinstance(x, bool) for x in v.values()):
                shown = json.dumps(v, separators=(",", ":"))
            else:
                shown = "<%d bytes>" % len(self.body)
        return " ctype=%s body=%s" % (ctype.replace(" ", ""), shown)

    def user_action(self, raw, action):
        if action in ("lock", "unlock", "deactivate", "reactivate"):
            self.log_extra = self.body_for_log()
        self.auth()
        uid = self.path_ulid(raw)
        link = "/api/admin/v1/users/%s/%s" % (uid, action)
        if action == "set-password":
            body = self.json_body({"password": ("string", True, False),
                                   "skip_password_check": ("bool", False, True)})
            if not self.cfg.password_login:
                raise json_errors(403, "Password auth is disabled")
            u = self.find_user(uid)
            if not body.get("skip_password_check") and \
                    password_score(body["password"]) < self.cfg.minimum_complexity:
                raise json_errors(400, "Password is too weak")
            salt = secrets.token_bytes(16)
            with self.st.lock:
                # A salted hash, for the compatibility login; never the password itself.
                u["password"] = (salt, hash_password(body["password"], salt))
            return self.send(204)
        if action == "set-admin":
            body = self.json_body({"admin": ("bool", True, False)})
            u = self.find_user(uid)
            with self.st.lock:
                u["admin"] = body["admin"]
            return self.single(200, user_resource(u), link)
        if action == "deactivate":
            body = self.json_body({"skip_erase": ("bool", False, False)}, optional=True)
            u = self.find_user(uid)
            fresh = ()
            with self.st.lock:
                if u["deactivated_at"] is None:
                    u["deactivated_at"] = now_ns()
                    fresh = ("deactivated_at",)
            # MAS's DeactivateUserJob, run on every call: it ends all the user's sessions,
            # removes all the user's email addresses, then deactivates the user on the
            # homeserver (erasing unless skip_erase).
            self.finish_compat_sessions(u["id"])
            with self.st.lock:
                for eid in [e["id"] for e in self.st.emails.values() if e["user_id"] == uid]:
                    del self.st.emails[eid]
            self.hs_best_effort("_synapse/mas/delete_user",
                                {"localpart": u["username"],
                                 "erase": not body.get("skip_erase", False)})
            return self.single(200, user_resource(u, fresh), link)
        u = self.find_user(uid)
        if action == "reactivate" and self.cfg.homeserver_url:
            # MAS calls the homeserver synchronously, on every call (also for a user who was
            # never deactivated), and reactivates its own record only if that worked.
            path = "_synapse/mas/reactivate_user"
            try:
                status, resp = self.hs_call("POST", path, {"localpart": u["username"]})
            except OSError as e:
                raise json_errors(500, "Failed to reactivate user in Synapse", str(e))
            if status != 200:
                raise self.hs_error("reactivating user", path,
                                    (resp.get("errcode", "M_UNKNOWN"), resp.get("error", ""),
                                     status))
        fresh = ()
        with self.st.lock:
            if action == "lock":
                if u["locked_at"] is None:
                    u["locked_at"] = now_ns()
                    fresh = ("locked_at",)
            elif action == "unlock":
                u["locked_at"] = None
            elif action == "reactivate":
                u["deactivated_at"] = None
        if action in ("lock", "unlock"):
            self.hs_best_effort("_synapse/mas/provision_user",
                                {"localpart": u["username"], "locked": action == "lock"})
        self.single(200, user_resource(u, fresh), link)

    # -------- admin API: user emails

    def emails_root(self, method):
        self.auth()
        if method == "POST":
            return self.email_add()
        q = self.query_params()
        page, count = self.pagination(q)
        filters = []
        user = q.get("filter[user]")
        if user is not None:
            err = ulid_error(user)
            if err:
                raise self.qs_error("filter", "filter[user]: %s" % err)
            user = user.upper()
            filters.append(("filter[user]", user))
            self.find_user(user)
        email = q.get("filter[email]")
        if email is not None:
            filters.append(("filter[email]", email))
        with self.st.lock:
            emails = sorted(self.st.emails.values(), key=lambda e: e["id"])
        sel = [(e["id"], email_resource(e)) for e in emails
               if (user is None or e["user_id"] == user)
               and (email is None or e["email"].lower() == email.lower())]
        self.send(200, JSON_CT, self.paginate("/api/admin/v1/user-emails", filters, sel, page,
                                              count))

    def email_add(self):
        body = self.json_body({"user_id": ("ulid", True, False), "email": ("string", True, False)})
        u = self.find_user(body["user_id"])
        email = body["email"]
        local, at, domain = email.rpartition("@")
        if not at or not local or not domain or " " in email:
            raise json_errors(400, "Email %s is not valid" % json.dumps(email),
                              "Missing domain or user")
        with self.st.lock:
            if any(e["email"].lower() == email.lower() for e in self.st.emails.values()):
                raise json_errors(409, "User email %s already in use" % json.dumps(email))
            e = {"id": self.st.ulids.new(), "user_id": u["id"], "email": email,
                 "created_at": now_ns()}
            self.st.emails[e["id"]] = e
        self.single(201, email_resource(e, fresh=("created_at",)))

    def email_one(self, method, raw):
        self.auth()
        eid = self.path_ulid(raw)
        with self.st.lock:
            e = self.st.emails.get(eid)
            if e is None:
                raise json_errors(404, "User email ID %s not found" % eid)
            if method == "DELETE":
                del self.st.emails[eid]
        if method == "DELETE":
            return self.send(204)
        self.single(200, email_resource(e))

    # -------- admin API: registration tokens

    def regtokens_root(self, method):
        self.auth()
        if method == "POST":
            return self.regtoken_add()
        q = self.query_params()
        page, count = self.pagination(q)
        flags = {}
        filters = []
        for name in ("used", "revoked", "expired", "valid"):
            key = "filter[%s]" % name
            v = self.bool_filter(q, key)
            if v is not None:
                flags[name] = v
                filters.append((key, q[key]))
        now = now_ns()
        with self.st.lock:
            toks = sorted(self.st.regtokens.values(), key=lambda t: t["id"])
        sel = []
        for t in toks:
            state = {"used": t["times_used"] > 0,
                     "revoked": t["revoked_at"] is not None,
                     "expired": t["expires_at"] is not None and t["expires_at"] <= now,
                     "valid": regtoken_valid(t, now)}
            if all(state[k] == v for k, v in flags.items()):
                sel.append((t["id"], regtoken_resource(t)))
        self.send(200, JSON_CT, self.paginate("/api/admin/v1/user-registration-tokens", filters,
                                              sel, page, count))

    def regtoken_add(self):
        body = self.json_body({"token": ("string", False, True),
                               "usage_limit": ("u32", False, True),
                               "expires_at": ("datetime", False, True)})
        token = body.get("token")
        if token is None:
            token = "".join(secrets.choice(ALNUM) for _ in range(12))
        with self.st.lock:
            if any(t["token"] == token for t in self.st.regtokens.values()):
                raise json_errors(409, "A registration token with the same token already exists")
            t = {"id": self.st.ulids.new(), "token": token, "usage_limit": body.get("usage_limit"),
                 "times_used": 0, "created_at": now_ns(), "last_used_at": None,
                 "expires_at": body.get("expires_at"), "revoked_at": None}
            self.st.regtokens[t["id"]] = t
        self.single(201, regtoken_resource(t, fresh=("created_at",)))

    def find_regtoken(self, tid):
        with self.st.lock:
            t = self.st.regtokens.get(tid)
        if t is None:
            raise json_errors(404, "Registration token with ID %s not found" % tid)
        return t

    def regtoken_one(self, method, raw):
        self.auth()
        tid = self.path_ulid(raw)
        if method == "PUT":
            body = self.json_body({"expires_at": ("datetime", False, True),
                                   "usage_limit": ("u32", False, True)})
            t = self.find_regtoken(tid)
            with self.st.lock:
                for k in ("expires_at", "usage_limit"):
                    if k in body:
                        t[k] = body[k]
            return self.single(200, regtoken_resource(t))
        self.single(200, regtoken_resource(self.find_regtoken(tid)))

    def regtoken_action(self, raw, action):
        self.auth()
        tid = self.path_ulid(raw)
        t = self.find_regtoken(tid)
        fresh = ()
        with self.st.lock:
            if action == "revoke":
                if t["revoked_at"] is not None:
                    raise json_errors(400, "Registration token with ID %s is already revoked" % tid)
                t["revoked_at"] = now_ns()
                fresh = ("revoked_at",)
            else:
                if t["revoked_at"] is None:
                    raise json_errors(400, "Registration token with ID %s is not revoked" % tid)
                t["revoked_at"] = None
        self.single(200, regtoken_resource(t, fresh),
                    "/api/admin/v1/user-registration-tokens/%s/%s" % (tid, action))


# ---------------------------------------------------------------- main


def read_secret(state_dir, name, required=True):
    path = os.path.join(state_dir, name)
    if not os.path.exists(path):
        if required:
            sys.exit("fake_mas.py: %s is missing" % path)
        return None
    with open(path, encoding="utf-8") as f:
        return f.read().strip()


def main():
    env = os.environ.get
    p = argparse.ArgumentParser(description="A FAKE Matrix Authentication Service for tests.")
    p.add_argument("--state-dir", required=True)
    p.add_argument("--port", type=int, default=int(env("FAKE_MAS_PORT", "0")))
    p.add_argument("--token-ttl", type=int, default=int(env("FAKE_MAS_TOKEN_TTL", "300")))
    p.add_argument("--minimum-complexity", type=int,
                   default=int(env("FAKE_MAS_MINIMUM_COMPLEXITY", "3")))
    p.add_argument("--password-login-disabled", action="store_true",
                   default=env("FAKE_MAS_PASSWORD_LOGIN", "1") in ("0", "false", "no"))
    p.add_argument("--reserved", default=env("FAKE_MAS_RESERVED", ""),
                   help="comma-separated localparts the emulated homeserver already has")
    p.add_argument("--server-name", default=env("FAKE_MAS_SERVER_NAME", "localhost"))
    p.add_argument("--homeserver-url", default=env("FAKE_MAS_HOMESERVER_URL", ""),
                   help="a real Synapse to provision users on through /_synapse/mas")
    p.add_argument("--policy", choices=("real", "stand-in"),
                   default=env("FAKE_MAS_POLICY", "real"))
    a = p.parse_args()

    class Cfg:
        pass

    cfg = Cfg()
    cfg.token_ttl = a.token_ttl
    cfg.minimum_complexity = a.minimum_complexity
    cfg.password_login = not a.password_login_disabled
    cfg.reserved = [r for r in a.reserved.split(",") if r]
    cfg.server_name = a.server_name
    cfg.homeserver_url = a.homeserver_url
    cfg.policy = a.policy

    server = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    server.daemon_threads = True
    server.state = State(cfg)
    d = a.state_dir
    admin_id = read_secret(d, "admin-client-id")
    server.clients = {admin_id: read_secret(d, "admin-client-secret")}
    plain_id = read_secret(d, "client-id", required=False)
    if plain_id:
        server.clients[plain_id] = read_secret(d, "client-secret")
    server.admin_clients = {admin_id}
    server.homeserver_secret = read_secret(d, "homeserver-secret", required=False)
    server.log_path = os.path.join(d, "fake-mas.log")
    server.log_lock = threading.Lock()
    with open(os.path.join(d, "port"), "w", encoding="utf-8") as f:
        f.write("%d\n" % server.server_address[1])
    print("fake MAS (not a real MAS) listening on http://127.0.0.1:%d/" % server.server_address[1],
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
