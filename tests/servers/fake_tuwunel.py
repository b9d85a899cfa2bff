#!/usr/bin/env python3
"""A FAKE tuwunel homeserver for tests. Not tuwunel.

No registry these machines reach ships tuwunel (matrix-construct/tuwunel) and building it needs
git-hosted forks cargo cannot fetch here, so tests run this stand-in. It answers what a
user-management backend asks tuwunel v1.9.0 (commit 5b36691, the version MDAD deploys) the way
that source does: Synapse shared-secret registration, the Synapse admin API subset for users and
registration tokens, password login, logout, whoami, MSC4323 lock/suspend and the version routes.
It refuses what tuwunel refuses, with tuwunel's statuses, errcodes and "M_CODE: message" texts.
Every behaviour names its source as `path:line` (at v1.9.0); docs/tuwunel.md has the full trace.
Routes tuwunel serves that this fake does not answer 501 naming the FAKE; unknown routes answer as
tuwunel's router does (404/405 M_UNRECOGNIZED).

    fake_tuwunel.py --state-dir DIR [--port N] [--server-name NAME] [--nonce-ttl S]
                    [--nonce-cap N] [--no-shared-secret] [--no-federation]

Environment: FAKE_TUWUNEL_PORT, FAKE_TUWUNEL_SERVER_NAME, FAKE_TUWUNEL_NONCE_TTL,
FAKE_TUWUNEL_NONCE_CAP, FAKE_TUWUNEL_SHARED_SECRET=0, FAKE_TUWUNEL_FEDERATION=0.
Files in DIR (never argv): registration-shared-secret (registration_shared_secret_file, re-read at
each use), registration-token (config `registration_token`), registration-token-file (config
`registration_token_file`, re-read at each use), seed.json (see fake_matrix.load_seed). Requests
are logged (method, path, status; secret query values redacted) to DIR/fake-tuwunel.log.
"""

import argparse
import hashlib
import hmac
import json
import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the checkout
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fake_matrix as fm  # noqa: E402
from fake_tuwunel_api import (BOOL, STR, AdminApi, bad_json, check, rq)  # noqa: E402

VERSION = "1.9.0 (FAKE)"  # src/core/info/version.rs:42-52 "{semantic} ({extra})"
BRANDING = "Tuwunel"  # src/core/info/version.rs:10
# src/api/client/versions.rs:54-82
VERSIONS = ["r0.0.1", "r0.1.0", "r0.2.0", "r0.3.0", "r0.4.0", "r0.5.0", "r0.6.0", "r0.6.1"] + [
    "v1.%d" % i for i in range(1, 20)]


class Tuwunel:
    """State beyond accounts: nonces, registration tokens, admin-room membership."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.nonces = {}  # nonce -> monotonic issue time
        self.db_tokens = {}  # token -> {"uses", "max_uses", "max_age_ms"}
        self.admin_membership = {}  # user_id -> "join" | "leave"

    # src/service/admin/register.rs:30-59
    def issue_nonce(self):
        nonce = fm.random_string(32)  # :26 NONCE_LENGTH
        now = time.monotonic()
        self.nonces = {k: t for k, t in self.nonces.items() if now - t < self.cfg.nonce_ttl}
        if len(self.nonces) >= self.cfg.nonce_cap:  # :39-41 drop_oldest at NONCE_CAP 2048
            del self.nonces[min(self.nonces, key=self.nonces.get)]
        self.nonces[nonce] = now
        return nonce

    def consume_nonce(self, nonce):
        issued = self.nonces.pop(nonce, None)  # :56-58 removed either way
        return issued is not None and time.monotonic() - issued < self.cfg.nonce_ttl

    def shared_secret(self):
        """src/core/utils/secret.rs:35-47: the file, trimmed, re-read at each use; blank = none."""
        if not self.cfg.shared_secret_enabled:
            return None
        s = fm.read_secret(self.cfg.state_dir, "registration-shared-secret")
        return s.strip() or None if s is not None else None

    def config_tokens(self):
        """src/service/registration_tokens/mod.rs:123-141: registration_token_file (whitespace
        separated, read at each call) plus registration_token."""
        toks = set()
        f = fm.read_secret(self.cfg.state_dir, "registration-token-file")
        if f is not None:
            toks.update(f.split())
        t = fm.read_secret(self.cfg.state_dir, "registration-token")
        if t is not None and t.strip():
            toks.add(t.strip())
        return toks


class Handler(AdminApi, fm.BaseHandler):
    FLAVOR = "FAKE-tuwunel"

    @property
    def tw(self):
        return self.server.tw

    def route(self):
        s, m, n = self.segs, self.command, len(self.segs)
        if m == "HEAD":
            m = "GET"
        if self.raw_path == "/":  # src/router/router.rs:14,29
            return self.allow(m, "GET") or self.send(200, "hewwo from tuwunel woof!",
                                                     "text/plain; charset=utf-8")
        if self.raw_path == "/_matrix/client/versions":
            return self.allow(m, "GET") or self.versions()
        if self.raw_path == "/_tuwunel/server_version":  # src/api/client/tuwunel.rs:14-19
            return self.allow(m, "GET") or self.send(200, {"name": BRANDING, "version": VERSION})
        if s[:2] == ["_matrix", "federation"] or s[:2] == ["_matrix", "key"]:
            return self.federation(m)
        if n >= 4 and s[:2] == ["_matrix", "client"] and s[2] in ("r0", "v3"):
            rest = s[3:]
            if rest == ["login"]:
                return self.allow(m, "GET", "POST") or self.login(m)
            if rest == ["logout"] or rest == ["logout", "all"]:
                return self.allow(m, "POST") or self.logout(len(rest) == 2)
            if rest == ["account", "whoami"]:
                return self.allow(m, "GET") or self.whoami()
            if rest[0] in ("register", "account", "profile", "devices", "sync", "rooms"):
                return self.not_implemented()
        if s[:2] == ["_matrix", "client"] and n >= 6 and s[-2] in ("lock", "suspend") and (
                (n == 6 and s[2:4] == ["v1", "admin"])
                or (n == 7 and s[2:5] == ["unstable", "uk.timedout.msc4323", "admin"])):
            return self.allow(m, "GET", "PUT") or self.msc4323(m, s[-2], s[-1])
        if s[:2] == ["_synapse", "admin"] and n >= 4:
            return self.synapse_admin(m, s[2], s[3:])
        raise rq("M_UNRECOGNIZED", "Not Found", 404)  # src/router/router.rs:15,22-24

    def allow(self, method, *methods):
        if method in methods:
            return None
        # src/router/router.rs:16,27 + src/router/request.rs:179-186
        raise rq("M_UNRECOGNIZED", "Method Not Allowed", 405)

    def synapse_admin(self, m, ver, rest):
        n = len(rest)
        if ver == "v1" and rest == ["register"]:  # src/api/router.rs:136-137
            return self.allow(m, "GET", "POST") or (self.nonce() if m == "GET" else self.register())
        if ver == "v1" and rest == ["server_version"]:  # misc/server_version.rs:9-13
            return self.allow(m, "GET") or self.send(200, {"server_version": VERSION})
        if ver in ("v2", "v3") and rest == ["users"]:  # users/list_users.rs:48,76
            return self.allow(m, "GET") or self.list_users(ver)
        if ver == "v2" and n == 2 and rest[0] == "users":
            return self.allow(m, "GET", "PUT") or self.user_v2(m, rest[1])
        if ver == "v1" and n == 2 and rest[0] in ("deactivate", "reset_password"):
            return self.allow(m, "POST") or (self.deactivate(rest[1]) if rest[0] == "deactivate"
                                             else self.reset_password(rest[1]))
        if ver == "v1" and n == 3 and rest[0] == "users" and rest[2] == "admin":
            # only GET is routed (src/api/router.rs:139); PUT answers 405, not 404
            return self.allow(m, "GET") or self.is_admin(rest[1])
        if ver == "v1" and n == 2 and rest[0] == "suspend":
            return self.allow(m, "PUT") or self.admin_suspend(rest[1])
        if ver == "v1" and rest == ["username_available"]:
            return self.allow(m, "GET") or self.username_available()
        if ver == "v1" and rest[0] == "registration_tokens":  # src/api/router.rs:156-167
            if n == 1:
                return self.allow(m, "GET") or self.tokens_list()
            if n == 2 and rest[1] == "new":
                return self.allow(m, "POST") or self.token_create()
            if n == 2:
                return self.allow(m, "GET", "PUT", "DELETE") or self.token_one(m, rest[1])
        if ver in ("v1", "v2") and rest[0] in ("users", "rooms", "media", "whois", "join",
                                              "federation", "send_server_notice", "user"):
            return self.not_implemented()
        raise rq("M_UNRECOGNIZED", "Not Found", 404)

    # -------- request plumbing (src/api/router/args.rs:98-142, auth.rs:68-103)

    def json(self, fields):
        text = self.body.strip()
        if not text:
            return check({}, fields)  # args.rs:106-123: an empty body reads as `{}`
        try:
            body = json.loads(self.body)
        except ValueError:
            raise rq("M_NOT_JSON", "Request body is not valid JSON.")  # args.rs:116-118
        return check(body, fields)

    def json_checked_early(self):
        """args.rs:108-118: an unparsable body is refused before authentication."""
        if self.command in ("POST", "PUT", "DELETE", "PATCH") and self.body.strip():
            try:
                json.loads(self.body)
            except ValueError:
                raise rq("M_NOT_JSON", "Request body is not valid JSON.")

    def auth(self, logout=False):
        """An access token is required: src/api/router/auth/dispatch.rs:98-123, 235-240; locked
        accounts are refused on every route but logout (src/api/router/auth.rs:105-121)."""
        self.json_checked_early()
        token, bad = self.bearer()
        if bad:  # a non-Bearer header is ignored: the query token counts (auth.rs:74-80)
            token = self.query().get("access_token")
        if token is None:
            raise rq("M_MISSING_TOKEN", "Missing access token.")
        found = self.store.tokens.get(token)
        if found is None:
            raise rq("M_UNKNOWN_TOKEN", "Unknown access token.")
        user_id, device_id = found
        if not logout and self.store.accounts[user_id].locked:
            # src/service/users/mod.rs:240-245; ruma adds soft_logout for M_USER_LOCKED
            raise rq("M_USER_LOCKED", "This account has been locked.", soft_logout=True)
        return user_id, device_id

    def is_admin_user(self, user_id):
        """src/service/admin/mod.rs:211-224: the server user, or joined to the admin room."""
        return user_id == self.store.user_id("conduit") or \
            self.tw.admin_membership.get(user_id) == "join"

    def need_admin(self, user_id):
        if not self.is_admin_user(user_id):  # src/api/client/admin/mod.rs:66-75
            raise rq("M_FORBIDDEN", "Only server administrators can use this endpoint")

    def path_user(self, raw):
        if fm.parse_user_id(raw) is None:  # ruma OwnedUserId path parameter
            raise bad_json("invalid user id %s" % json.dumps(raw))
        return raw

    def account(self, user_id):
        return self.store.accounts.get(user_id)

    # -------- versions and federation

    def versions(self):
        # src/api/client/versions.rs:25-52. The MSC4383 `server` object is left out: its JSON
        # key comes from a ruma fork not readable here (docs/tuwunel.md).
        feats = ["org.matrix.e2e_cross_signing", "org.matrix.msc2285.stable",
                 "org.matrix.msc3814", "org.matrix.msc3916.stable", "org.matrix.msc3861",
                 "net.zemos.msc4383", "org.matrix.msc4380.stable"]
        self.send(200, {"versions": VERSIONS, "unstable_features": {f: True for f in feats}})

    def federation(self, m):
        if not self.cfg.federation:  # src/api/router.rs:519-523, 596-598
            raise rq("M_FORBIDDEN", "Federation is disabled.")
        if self.raw_path == "/_matrix/federation/v1/version":  # src/api/server/version.rs:9-20
            return self.allow(m, "GET") or self.send(
                200, {"server": {"name": BRANDING, "version": VERSION}})
        return self.not_implemented()

    # -------- shared-secret registration

    def nonce(self):
        # src/api/client/admin/get_nonce.rs:10-20; register.rs:61-71 (is_set: no file read)
        if not self.cfg.shared_secret_enabled:
            raise rq("M_UNKNOWN", "Shared-secret registration is not enabled")
        self.send(200, {"nonce": self.tw.issue_nonce()})

    def register(self):
        """src/api/client/admin/register.rs:20-92 (request struct: synapse-admin-api
        register_users/shared_secret_register/v1.rs)."""
        self.json_checked_early()
        b = self.json({"nonce": (STR, True, None), "username": (STR, True, None),
                       "displayname": (STR, False, None), "password": (STR, True, None),
                       "admin": (BOOL, False, False), "user_type": (STR, False, None),
                       "mac": (STR, True, None), "inhibit_login": (BOOL, False, False),
                       "refresh_token": (BOOL, False, False), "device_id": (STR, False, None),
                       "initial_device_display_name": (STR, False, None)})
        secret = self.tw.shared_secret()
        if secret is None:  # :25-27
            raise rq("M_UNKNOWN", "Shared-secret registration is not enabled")
        if not self.tw.consume_nonce(b["nonce"]):  # :29-31, before any other check
            raise rq("M_INVALID_PARAM", "Unrecognised or expired nonce")
        for label, v in (("Username", b["username"]), ("Password", b["password"])):  # :94-108
            if not v:
                raise rq("M_INVALID_PARAM", "%s must not be empty" % label)
            if len(v.encode()) > 512:
                raise rq("M_INVALID_PARAM", "%s must not exceed 512 bytes" % label)
            if "\0" in v:
                raise rq("M_INVALID_PARAM", "%s must not contain a null byte" % label)
        # :110-132: NUL-joined nonce, username, password, admin|notadmin[, user_type] (a
        # present user_type is always appended, even ""); hex of either case
        parts = [b["nonce"], b["username"], b["password"], "admin" if b["admin"] else "notadmin"]
        if b["user_type"] is not None:
            parts.append(b["user_type"])
        want = hmac.new(secret.encode(), "\0".join(parts).encode(), hashlib.sha1).digest()
        try:
            got = bytes.fromhex(b["mac"]) if len(b["mac"]) % 2 == 0 else None
        except ValueError:
            got = None
        if got is None or not hmac.compare_digest(want, got):
            raise rq("M_FORBIDDEN", "HMAC check failed")  # :36-37
        user_id = self.resolve_local_user_id(b["username"])  # :154-173
        if user_id in self.store.accounts:  # :41-43
            raise rq("M_USER_IN_USE", "User ID is not available")
        acc = self.store.create(user_id, fm.hash_password(b["password"]))  # :45-54
        acc.displayname = b["displayname"] if b["displayname"] is not None else \
            user_id[1:].split(":")[0]  # src/service/users/register.rs:70-81 (MDAD suffix "")
        if b["admin"]:
            self.tw.admin_membership[user_id] = "join"  # :56-58, grant.rs:220-257 force join
        out = {"user_id": user_id, "home_server": self.store.server_name}
        if not b["inhibit_login"]:  # :62-91
            device_id, token = self.store.new_device(user_id)
            out.update(access_token=token, device_id=device_id)
        self.send(200, out)

    def resolve_local_user_id(self, username):
        name = username.lower()
        if name.startswith("@"):
            parsed = fm.parse_user_id(name)
            if parsed is None:
                raise rq("M_INVALID_PARAM", "Invalid user id")
            local, server = parsed
        else:
            if ":" in name:
                raise rq("M_INVALID_PARAM", "Invalid user id")
            local, server = name, self.store.server_name
        user_id = "@%s:%s" % (local, server)
        if not fm.STRICT_LOCALPART.match(local) or len(user_id) > 255:
            raise rq("M_INVALID_USERNAME", "Username contains disallowed characters or spaces")
        if server != self.store.server_name:
            raise rq("M_INVALID_PARAM", "User is not local to this server")
        return user_id

    # -------- login, logout, whoami

    def login(self, m):
        if m == "GET":  # src/api/client/session/mod.rs:45-101
            return self.send(200, {"flows": [{"type": "m.login.application_service"},
                                             {"type": "m.login.token", "get_login_token": True},
                                             {"type": "m.login.password"}]})
        self.json_checked_early()
        b = self.json({"type": (STR, True, None)})
        if b["type"] != "m.login.password":  # session/mod.rs:124-139 (token/appservice: fake)
            if b["type"] in ("m.login.token", "m.login.application_service"):
                return self.not_implemented()
            raise rq("M_UNKNOWN", "Invalid or unsupported login type")
        body = json.loads(self.body)
        p = check(body, {"password": (STR, True, None), "user": (STR, False, None),
                         "device_id": (STR, False, None),
                         "initial_device_display_name": (STR, False, None)})
        ident = body.get("identifier")
        user = ident.get("user") if isinstance(ident, dict) and \
            ident.get("type") == "m.id.user" else p["user"]
        if not isinstance(user, str):  # session/password.rs:23-37
            raise rq("M_UNKNOWN", "Valid identifier or username was not provided (invalid or "
                     "unsupported login type?)")
        parsed = fm.parse_user_id(user) if user.startswith("@") else (user, self.store.server_name)
        if parsed is None:
            raise rq("M_INVALID_USERNAME", "Username is invalid")
        if parsed[1] != self.store.server_name:  # :44-51
            raise rq("M_UNKNOWN", "User ID does not belong to this homeserver")
        acc = self.account("@%s:%s" % parsed) or self.account(
            "@%s:%s" % (parsed[0].lower(), parsed[1]))
        if acc is None:  # :83-94
            raise rq("M_FORBIDDEN", "Wrong username or password.")
        if acc.password == "":  # :96-98
            raise rq("M_USER_DEACTIVATED", "The user has been deactivated")
        if not fm.verify_password(p["password"], acc.password):  # :100-102 ("*" never matches)
            raise rq("M_FORBIDDEN", "Wrong username or password.")
        if acc.locked:  # session/mod.rs:141, after the password check
            raise rq("M_USER_LOCKED", "This account has been locked.", soft_logout=True)
        device_id, token = self.store.new_device(acc.user_id)  # :143-183
        self.send(200, {"user_id": acc.user_id, "access_token": token, "device_id": device_id,
                        "home_server": self.store.server_name})

    def logout(self, everything):  # src/api/client/session/logout.rs:18-61
        user_id, device_id = self.auth(logout=True)
        if everything:
            self.store.remove_all_devices(user_id)
        else:
            self.store.remove_device(user_id, device_id)
        self.send(200, {})

    def whoami(self):  # src/api/client/account/whoami.rs:12-25 (is_guest = deactivated)
        user_id, device_id = self.auth()
        self.send(200, {"user_id": user_id, "is_guest": self.account(user_id).password == "",
                        "device_id": device_id})


def main():
    env = os.environ.get
    p = argparse.ArgumentParser(description="A FAKE tuwunel homeserver for tests.")
    p.add_argument("--state-dir", required=True)
    p.add_argument("--port", type=int, default=int(env("FAKE_TUWUNEL_PORT", "0")))
    p.add_argument("--server-name", default=env("FAKE_TUWUNEL_SERVER_NAME", "localhost"))
    p.add_argument("--nonce-ttl", type=float, default=float(env("FAKE_TUWUNEL_NONCE_TTL", "60")))
    p.add_argument("--nonce-cap", type=int, default=int(env("FAKE_TUWUNEL_NONCE_CAP", "2048")))
    p.add_argument("--no-shared-secret", action="store_true",
                   default=not fm.env_flag("FAKE_TUWUNEL_SHARED_SECRET", True))
    p.add_argument("--no-federation", action="store_true",
                   default=not fm.env_flag("FAKE_TUWUNEL_FEDERATION", True))
    a = p.parse_args()

    class Cfg:
        pass

    cfg = Cfg()
    cfg.state_dir, cfg.nonce_ttl, cfg.nonce_cap = a.state_dir, a.nonce_ttl, a.nonce_cap
    cfg.shared_secret_enabled = not a.no_shared_secret
    cfg.federation = not a.no_federation
    store = fm.Store(a.server_name)
    tw = Tuwunel(cfg)
    # src/service/admin/create.rs:27-37: the server user, password "" (reads as deactivated)
    server_user = store.create(store.user_id("conduit"), "")
    server_user.displayname = None
    seed = fm.load_seed(a.state_dir)
    for u in seed["users"]:
        acc = store.create(store.user_id(u["username"]), fm.hash_password(u["password"]))
        acc.displayname = u.get("displayname", u["username"])
        acc.locked, acc.suspended = u.get("locked", False), u.get("suspended", False)
        acc.erased = u.get("erased", False)
        if u.get("deactivated"):
            acc.password = ""
        if u.get("admin"):
            tw.admin_membership[acc.user_id] = "join"
    for t in seed["registration_tokens"]:
        tw.db_tokens[t["token"]] = {"uses": t.get("completed", 0),
                                    "max_uses": t.get("uses_allowed"),
                                    "max_age_ms": t.get("expiry_time")}
    fm.serve(Handler, store, cfg, a.state_dir, a.port, "fake-tuwunel",
             "FAKE-tuwunel/%s" % VERSION, tw=tw)


if __name__ == "__main__":
    main()
