#!/usr/bin/env python3
"""A FAKE continuwuity homeserver for tests. Not continuwuity.

No registry these machines reach ships continuwuity (continuwuity/continuwuity), so tests run this
stand-in. It answers what a user-management backend can ask continuwuity v26.7.3 (the version MDAD
deploys) the way that source does: client-server registration with the user-interactive
`m.login.registration_token` stage (static `registration_token`, `registration_token_file`, tokens
from the database, the first-run token), username availability, token validity, password login,
logout, whoami, MSC4323 lock/suspend (with v26.7.3's lock-that-suspends, or the fix of commit
82149397 with --lock-fixed) and the version routes. There is no Synapse admin API and no
shared-secret registration: those paths answer continuwuity's 404. Every behaviour names its source
as `path:line` (at v26.7.3); docs/continuwuity.md has the full trace. Routes continuwuity serves
that this fake does not answer 501 naming the FAKE.

    fake_continuwuity.py --state-dir DIR [--port N] [--server-name NAME]
                         [--registration-disabled] [--suspend-on-register] [--lock-fixed]
                         [--no-federation]

Environment: FAKE_CONTINUWUITY_PORT, _SERVER_NAME, _ALLOW_REGISTRATION=0,
_SUSPEND_ON_REGISTER=1, _LOCK_FIXED=1, _FEDERATION=0 (each prefixed FAKE_CONTINUWUITY).
Files in DIR (never argv): registration-token (config `registration_token`),
registration-token-file (config `registration_token_file`, read once at start, one per line),
seed.json (fake_matrix.load_seed; no seeded users = first-run mode, whose one-time token is
written to DIR/first-account-token). Requests are logged (method, path, status; secret query
values redacted) to DIR/fake-continuwuity.log.
"""

import argparse
import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the checkout
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fake_matrix as fm  # noqa: E402
from fake_matrix import Reject  # noqa: E402

VERSION = "26.7.3 (FAKE)"  # src/core/info/version.rs:43-46 "{SEMANTIC} ({extra})"
BRANDING = "continuwuity"  # src/core/info/version.rs:10
VERSIONS = ["r0.0.1", "r0.1.0", "r0.2.0", "r0.3.0", "r0.4.0", "r0.5.0", "r0.6.0", "r0.6.1",
            "v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.8", "v1.11", "v1.12", "v1.13", "v1.14",
            "v1.15", "v1.16", "v1.17", "v1.18"]  # src/core/matrix/versions.rs:4-30
UNSTABLE = ["uk.half-shot.msc2666.query_mutual_rooms",
            "uk.half-shot.msc2666.query_mutual_rooms.stable", "org.matrix.simplified_msc3575",
            "org.matrix.msc4155", "computer.gingershaped.msc4466"]  # versions.rs:32-46
# src/core/error/response.rs:66-94 (bad_request_code)
STATUS = {"M_LIMIT_EXCEEDED": 429, "M_TOO_LARGE": 413, "M_UNRECOGNIZED": 404, "M_NOT_FOUND": 404,
          "M_GUEST_ACCESS_FORBIDDEN": 403, "M_USER_DEACTIVATED": 403, "M_USER_SUSPENDED": 403,
          "M_FORBIDDEN": 403, "M_UNKNOWN_TOKEN": 401, "M_MISSING_TOKEN": 401,
          "M_UNAUTHORIZED": 401, "M_USER_LOCKED": 401}
TOKEN_STAGE = "m.login.registration_token"


def rq(errcode, message, status=None, **extra):
    """Request errors carry the plain message (src/core/error/mod.rs:159-166)."""
    body = {"errcode": errcode, "error": message}
    body.update(extra)
    return Reject(status or STATUS.get(errcode, 400), body)


def field(body, name, kind, default=None):
    """serde for one field of a ruma request struct: absent -> default; null only where the
    field is an Option; a wrong type -> M_BAD_JSON (src/api/router/args.rs:95-97)."""
    if name not in body:
        return default
    v = body[name]
    if v is None and default is None:
        return None
    if isinstance(v, kind) and (kind is bool or not isinstance(v, bool)):
        return v
    raise rq("M_BAD_JSON", "deserialization failed: invalid type for `%s`" % name)


class Handler(fm.BaseHandler):
    FLAVOR = "FAKE-continuwuity"

    @property
    def cw(self):
        return self.server.cw

    def route(self):
        s, m, n = self.segs, self.command, len(self.segs)
        if m == "HEAD":
            m = "GET"
        if self.raw_path == "/_matrix/client/versions":  # src/api/client/unversioned.rs:23-30
            return self.allow(m, "GET") or self.send(200, {
                "versions": VERSIONS, "unstable_features": {f: True for f in UNSTABLE}})
        if self.raw_path == "/_continuwuity/server_version":  # unversioned.rs:36-41
            return self.allow(m, "GET") or self.send(200, {"name": BRANDING, "version": VERSION})
        if s[:2] in (["_matrix", "federation"], ["_matrix", "key"]):
            if not self.cfg.federation:  # src/api/router.rs:233-238, 303-305
                raise rq("M_FORBIDDEN", "Federation is disabled.")
            if self.raw_path == "/_matrix/federation/v1/version":  # src/api/server/version.rs
                return self.allow(m, "GET") or self.send(
                    200, {"server": {"name": BRANDING, "version": VERSION}})
            return self.not_implemented()
        if n >= 4 and s[:2] == ["_matrix", "client"] and s[2] in ("r0", "v3"):
            rest = s[3:]
            if rest == ["register"]:
                return self.allow(m, "POST") or self.register()
            if rest == ["register", "available"]:
                return self.allow(m, "GET") or self.available()
            if rest == ["login"]:
                return self.allow(m, "GET", "POST") or self.login(m)
            if rest in (["logout"], ["logout", "all"]):
                return self.allow(m, "POST") or self.logout(len(rest) == 2)
            if rest == ["account", "whoami"]:
                return self.allow(m, "GET") or self.whoami()
            if rest == ["devices"]:
                return self.allow(m, "GET") or self.devices()
            if rest[0] in ("account", "profile", "devices", "sync", "rooms", "register"):
                return self.not_implemented()
        if self.raw_path in ("/_matrix/client/v1/register/m.login.registration_token/validity",
                             "/_matrix/client/unstable/org.matrix.msc3231/register/"
                             "org.matrix.msc3231.login.registration_token/validity"):
            return self.allow(m, "GET") or self.validity()
        if s[:2] == ["_matrix", "client"] and n >= 6 and s[-2] in ("lock", "suspend") and (
                (n == 6 and s[2:4] == ["v1", "admin"])
                or (n == 7 and s[2:5] == ["unstable", "uk.timedout.msc4323", "admin"])):
            return self.allow(m, "GET", "PUT") or self.msc4323(m, s[-2], s[-1])
        raise rq("M_UNRECOGNIZED", "not found :(", 404)  # src/router/router.rs:14,20-22

    def allow(self, method, *methods):
        if method in methods:
            return None
        raise rq("M_UNRECOGNIZED", "Method not allowed", 405)  # src/router/request.rs:114-118

    def json(self):
        """The body as a JSON object; ruma reads an empty body as `{}`. Not JSON, or not an
        object: M_BAD_JSON after authentication (src/api/router/args.rs:80-97)."""
        if not self.body.strip():
            return {}
        try:
            body = json.loads(self.body)
        except ValueError:
            raise rq("M_BAD_JSON", "deserialization failed: expected value")
        if not isinstance(body, dict):
            raise rq("M_BAD_JSON", "deserialization failed: invalid type, expected struct")
        return body

    def auth(self, logout=False):
        """src/api/router/auth.rs:80-100, 160-258 (ruma ExtractTokenError texts)."""
        token, bad_scheme = self.bearer()
        if bad_scheme:
            raise rq("M_UNAUTHORIZED", "Failed to extract authorization: invalid authorization "
                     "header scheme")
        if token is None:
            raise rq("M_UNAUTHORIZED", "Failed to extract authorization: no access token found,"
                     " but this endpoint requires one")
        if token == "":
            raise rq("M_UNAUTHORIZED", "Missing access token.")
        found = self.store.tokens.get(token)
        if found is None:
            raise rq("M_UNKNOWN_TOKEN", "Invalid token")
        if not logout and self.store.accounts[found[0]].locked:  # auth.rs:187-199
            raise rq("M_USER_LOCKED", "Your account is locked.", soft_logout=True)
        return found

    def is_admin(self, user_id):
        """src/service/admin/mod.rs:411-437: the server user, admins_list, or the admin room."""
        return user_id == self.store.user_id("conduit") or user_id in self.cw.admins

    def status(self, user_id):
        """src/service/users/account.rs:509-521."""
        acc = self.store.accounts.get(user_id)
        if acc is None or not self.store.is_local(user_id):
            return "not_found", None
        return ("deactivated" if acc.deactivated else "active"), acc

    def ensure_active(self, user_id):
        st, acc = self.status(user_id)  # account.rs:52-58
        if st == "deactivated":
            raise rq("M_USER_DEACTIVATED", "This account is deactivated.")
        if st == "not_found":
            raise rq("M_NOT_FOUND", "This account does not exist.")
        return acc

    # -------- registration (src/api/client/account/register.rs:35-148)

    def flows(self):
        """register.rs:152-257; first run: only the first-account token (firstrun/mod.rs)."""
        if self.cw.first_run or self.valid_tokens_exist():
            return [{"stages": [TOKEN_STAGE]}]
        raise rq("M_FORBIDDEN", "This server is not accepting registrations at this time.")

    def valid_tokens_exist(self):
        return bool(self.cw.static_tokens()) or any(
            t.valid() for t in self.cw.db_tokens.values())

    def register(self):
        body = self.json()
        if self.query().get("kind", "user") not in ("user", "guest"):
            raise rq("M_BAD_JSON", "deserialization failed: unknown variant for `kind`")
        username = field(body, "username", str)
        password = field(body, "password", str)
        inhibit = field(body, "inhibit_login", bool, False)
        auth = field(body, "auth", dict)
        if auth is not None and "type" in auth and auth["type"] == TOKEN_STAGE and \
                not isinstance(auth.get("token"), str):
            raise rq("M_BAD_JSON", "deserialization failed: missing field `token`")
        if self.query().get("kind") == "guest":  # :40-42
            raise rq("M_GUEST_ACCESS_FORBIDDEN", "Guests may not register on this server.")
        if not (self.cfg.allow_registration or self.cw.first_run):  # :46-59
            raise rq("M_FORBIDDEN", "This server is not accepting registrations at this time.")
        if body.get("type") == "m.login.application_service":  # :61-66
            raise rq("M_FORBIDDEN", "Only appservices can use the appservice login type.")
        flows = self.flows()
        self.uiaa(auth, flows)  # :78-83: completed before any username check
        if password is None:  # :85-89
            raise rq("M_INVALID_PARAM", "A password must be provided.")
        user_id = self.registration_user_id(username)  # :91-94
        acc = self.store.create(user_id, fm.hash_password(password))  # account.rs:137-292
        if self.cw.first_run:  # account.rs:214-215, firstrun/mod.rs:123-158
            self.cw.first_run = False
            self.cw.admins.add(user_id)
        elif self.cfg.suspend_on_register:  # account.rs:217-236
            acc.suspended = True
        out = {"user_id": user_id}
        if not inhibit:  # :110-138
            device_id, token = self.store.new_device(user_id)
            out.update(access_token=token, device_id=device_id)
        self.send(200, out)

    def uiaa(self, auth, flows):
        """src/service/uiaa/mod.rs:210-245 authenticate, 272-358 create_session,
        361-447 continue_session, 595-615 the registration-token stage."""
        sessions = self.cw.sessions
        if auth is None:
            session = fm.random_string(32)  # uiaa/mod.rs:206, 280
            sessions[session] = {"flows": flows, "completed": []}
            raise Reject(401, {"flows": flows, "params": {}, "session": session})
        session = auth.get("session")
        if session is None:  # :227-236 an auth dict without a session starts one
            session = fm.random_string(32)
            sessions[session] = {"flows": flows, "completed": []}
        info = sessions.get(session)
        if info is None:
            raise rq("M_INVALID_PARAM", "Invalid session")  # :370-372
        stage = auth.get("type")
        if stage is None:  # :374-383 fallback acknowledgement: not completed
            raise Reject(401, self.uiaa_body(session, info))
        if not any(stage in f["stages"] for f in info["flows"]):  # :409-415
            raise rq("M_INVALID_PARAM", "No flows include the supplied stage")
        if stage not in info["completed"]:  # :417-430
            if self.try_token(auth["token"].strip()):
                info.pop("error", None)
                info["completed"].append(stage)
            else:
                info["error"] = {"errcode": "M_FORBIDDEN", "error": "Invalid registration token"}
        if any(set(f["stages"]) <= set(info["completed"]) for f in info["flows"]):
            del sessions[session]  # :438-442 a completed session is gone
            return
        raise Reject(401, self.uiaa_body(session, info))

    @staticmethod
    def uiaa_body(session, info):
        out = {"flows": info["flows"], "params": {}, "session": session}
        if info["completed"]:
            out["completed"] = list(info["completed"])
        out.update(info.get("error", {}))
        return out

    def try_token(self, token):
        """src/service/registration_tokens/mod.rs:144-188: validate, then count a use."""
        if self.cw.first_run:
            return token == self.cw.first_account_token
        if token in self.cw.static_tokens():
            return True
        t = self.cw.db_tokens.get(token)
        if t is not None and t.valid():
            t.uses += 1
            return True
        return False

    def registration_user_id(self, username):
        """src/service/users/account.rs:294-394."""
        if username is None:
            while True:
                user_id = self.store.user_id(fm.random_string(10).lower())
                if user_id not in self.store.accounts:
                    return user_id
        if username.startswith("@"):
            parsed = fm.parse_user_id(username)
        else:
            parsed = (username, self.store.server_name) if username and ":" not in username \
                else None
        if parsed is None:
            raise rq("M_INVALID_USERNAME", "Username %s is not valid" % username)
        user_id = "@%s:%s" % parsed
        if not fm.STRICT_LOCALPART.match(parsed[0]) or len(user_id) > 255:
            raise rq("M_INVALID_USERNAME", "Username %s contains disallowed characters or "
                     "spaces" % username)
        if parsed[1] != self.store.server_name:
            raise rq("M_INVALID_USERNAME", "Username %s is not local to this server" % username)
        if user_id in self.store.accounts:
            raise rq("M_USER_IN_USE", "Username is not available.")
        return user_id

    def available(self):  # src/api/client/account/mod.rs:45-61 (no registration check)
        q = self.query()
        if "username" not in q:
            raise rq("M_BAD_JSON", "deserialization failed: missing field `username`")
        self.registration_user_id(q["username"])
        self.send(200, {"available": True})

    def validity(self):  # src/api/client/account/mod.rs:302-315 (does not count a use)
        q = self.query()
        if "token" not in q:
            raise rq("M_BAD_JSON", "deserialization failed: missing field `token`")
        token = q["token"]
        valid = token == self.cw.first_account_token if self.cw.first_run else (
            token in self.cw.static_tokens()
            or (token in self.cw.db_tokens and self.cw.db_tokens[token].valid()))
        self.send(200, {"valid": valid})

    # -------- login, logout, whoami (src/api/client/session.rs, account/mod.rs)

    def login(self, m):
        if m == "GET":  # session.rs:40-57
            return self.send(200, {"flows": [{"type": "m.login.password"},
                                             {"type": "m.login.application_service"},
                                             {"type": "m.login.token",
                                              "get_login_token": True}]})
        body = self.json()
        kind = field(body, "type", str)
        if kind is None:
            raise rq("M_BAD_JSON", "deserialization failed: missing field `type`")
        if kind != "m.login.password":  # session.rs:139-189
            if kind in ("m.login.token", "m.login.application_service"):
                return self.not_implemented()
            raise rq("M_UNKNOWN", "Invalid or unsupported login type")
        password = field(body, "password", str)
        if password is None:
            raise rq("M_BAD_JSON", "deserialization failed: missing field `password`")
        ident, user = body.get("identifier"), field(body, "user", str)
        if isinstance(ident, dict) and ident.get("type") == "m.id.user":  # session.rs:59-83
            user = ident.get("user")
        elif isinstance(ident, dict) and ident.get("type") == "m.id.thirdparty":
            raise rq("M_FORBIDDEN", "Invalid identifier or password")  # no e-mails here
        elif ident is not None or user is None:
            raise rq("M_INVALID_PARAM", "Identifier type not recognized")
        parsed = fm.parse_user_id(user) if user.startswith("@") else (
            (user, self.store.server_name) if user and ":" not in user else None)
        if parsed is None:
            raise rq("M_INVALID_USERNAME", "User ID is malformed")
        user_id = "@%s:%s" % parsed
        acc = self.store.accounts.get(user_id)
        if acc is not None and acc.locked:  # session.rs:89-91, before the password
            raise rq("M_USER_LOCKED", "This account has been locked.", soft_logout=True)
        if self.status(user_id)[0] == "not_found" and \
                self.status("@%s:%s" % (parsed[0].lower(), parsed[1]))[0] != "not_found":
            user_id = "@%s:%s" % (parsed[0].lower(), parsed[1])  # account.rs:625-642
        acc = self.ensure_active(user_id)  # account.rs:622-623
        if acc.password == "":  # account.rs:644-647 shadow account
            raise rq("M_FORBIDDEN", "This user cannot log in with a password.")
        if not fm.verify_password(password, acc.password):
            raise rq("M_FORBIDDEN", "Invalid identifier or password.")
        device_id, token = self.store.new_device(user_id)  # session.rs:191-242
        self.send(200, {"user_id": user_id, "access_token": token, "device_id": device_id,
                        "home_server": self.store.server_name})

    def logout(self, everything):  # session.rs:287-353
        user_id, device_id = self.auth(logout=True)
        if everything:
            self.store.remove_all_devices(user_id)
        else:
            self.store.remove_device(user_id, device_id)
        self.send(200, {})

    def whoami(self):  # src/api/client/account/mod.rs:225-234
        user_id, device_id = self.auth()
        self.send(200, {"user_id": user_id, "is_guest": False, "device_id": device_id})

    def devices(self):
        """src/api/client/device.rs get_devices_route: every device of the sender (ruma's
        Device leaves out the display name, IP and time it does not have)."""
        user_id, _ = self.auth()
        with self.store.lock:
            ids = sorted(self.store.accounts[user_id].devices)
        self.send(200, {"devices": [{"device_id": d} for d in ids]})

    # -------- MSC4323 (src/api/client/admin/lock.rs, suspend.rs at v26.7.3)

    def msc4323(self, m, what, raw):
        sender, _ = self.auth()
        body = self.json() if m == "PUT" else None
        if fm.parse_user_id(raw) is None:
            raise rq("M_BAD_JSON", "deserialization failed: invalid user id")
        key = "locked" if what == "lock" else "suspended"
        if m == "PUT" and not isinstance(body.get(key), bool):
            raise rq("M_BAD_JSON", "deserialization failed: missing field `%s`" % key)
        verb = "lock" if what == "lock" else "suspend"
        if not self.is_admin(sender):  # lock.rs:21-23, 48-50
            raise rq("M_FORBIDDEN", "Only server administrators can use this endpoint")
        if self.cfg.lock_fixed:  # commit 82149397 (after v26.7.3), lock.rs:14-39, 53-76
            if m == "PUT" and raw == sender:
                raise rq("M_FORBIDDEN", "You cannot %s yourself" % verb)
            if raw != sender and self.is_admin(raw):
                raise rq("M_FORBIDDEN", ("You cannot %s another server administrator" % verb)
                         if m == "PUT" else "You cannot view the %s status of another server "
                         "administrator" % ("lock" if verb == "lock" else "suspension"))
            if not self.store.is_local(raw):
                raise rq("M_INVALID_PARAM", "User does not belong to the local server")
            if self.status(raw)[0] != "active":
                raise rq("M_NOT_FOUND", "This account does not exist")
            acc = self.store.accounts[raw]
            if m == "PUT" and getattr(acc, key) != body[key]:
                setattr(acc, key, body[key])
            return self.send(200, {key: getattr(acc, key)})
        acc = self.ensure_active(raw)  # lock.rs:25, 52
        if m == "GET":
            return self.send(200, {key: getattr(acc, key)})  # lock.rs:27-29
        if raw == sender:  # lock.rs:54-56
            raise rq("M_FORBIDDEN", "You cannot %s yourself" % verb)
        if self.is_admin(raw):  # lock.rs:58-60
            raise rq("M_FORBIDDEN", "You cannot %s another server administrator" % verb)
        if getattr(acc, key) != body[key]:  # lock.rs:62-65 compares the lock ...
            acc.suspended = body[key]  # ... lock.rs:67-76 but writes the suspension
        self.send(200, {key: body[key]})


class Continuwuity:
    def __init__(self, cfg):
        self.cfg = cfg
        self.sessions = {}  # UIAA sessions, in memory, never expire (uiaa/mod.rs:36, 355)
        self.db_tokens = {}
        self.admins = set()
        self.first_run = False
        self.first_account_token = None
        # registration_token_file: read once at start, one token per line
        # (src/service/registration_tokens/mod.rs:74-98)
        f = fm.read_secret(cfg.state_dir, "registration-token-file")
        self.file_tokens = f.splitlines() if f is not None else []

    def static_tokens(self):
        """registration_tokens/mod.rs:126-141 (config token, then the file's lines)."""
        t = fm.read_secret(self.cfg.state_dir, "registration-token")
        return ({t.strip()} if t and t.strip() else set()) | set(self.file_tokens)


class DbToken:
    """src/service/registration_tokens/data.rs (uses; expires: max_uses / max_age)."""

    def __init__(self, uses, max_uses, max_age_ms):
        self.uses, self.max_uses, self.max_age_ms = uses, max_uses, max_age_ms

    def valid(self):
        if self.max_uses is not None and self.uses >= self.max_uses:
            return False
        return self.max_age_ms is None or fm.now_ms() <= self.max_age_ms


def main():
    env, flag = os.environ.get, fm.env_flag
    p = argparse.ArgumentParser(description="A FAKE continuwuity homeserver for tests.")
    p.add_argument("--state-dir", required=True)
    p.add_argument("--port", type=int, default=int(env("FAKE_CONTINUWUITY_PORT", "0")))
    p.add_argument("--server-name", default=env("FAKE_CONTINUWUITY_SERVER_NAME", "localhost"))
    p.add_argument("--registration-disabled", action="store_true",
                   default=not flag("FAKE_CONTINUWUITY_ALLOW_REGISTRATION", True))
    p.add_argument("--suspend-on-register", action="store_true",
                   default=flag("FAKE_CONTINUWUITY_SUSPEND_ON_REGISTER", False))
    p.add_argument("--lock-fixed", action="store_true",
                   default=flag("FAKE_CONTINUWUITY_LOCK_FIXED", False))
    p.add_argument("--no-federation", action="store_true",
                   default=not flag("FAKE_CONTINUWUITY_FEDERATION", True))
    a = p.parse_args()

    class Cfg:
        pass

    cfg = Cfg()
    cfg.state_dir, cfg.allow_registration = a.state_dir, not a.registration_disabled
    cfg.suspend_on_register, cfg.lock_fixed = a.suspend_on_register, a.lock_fixed
    cfg.federation = not a.no_federation
    store = fm.Store(a.server_name)
    cw = Continuwuity(cfg)
    store.create(store.user_id("conduit"), "").displayname = None  # the server user (shadow)
    seed = fm.load_seed(a.state_dir)
    for u in seed["users"]:
        acc = store.create(store.user_id(u["username"]), fm.hash_password(u["password"]))
        acc.displayname = u.get("displayname", u["username"])
        acc.locked, acc.suspended = u.get("locked", False), u.get("suspended", False)
        acc.deactivated = u.get("deactivated", False)
        if u.get("admin"):
            cw.admins.add(acc.user_id)
    for t in seed["registration_tokens"]:
        cw.db_tokens[t["token"]] = DbToken(t.get("completed", 0), t.get("uses_allowed"),
                                           t.get("expiry_time"))
    if not seed["users"]:  # firstrun/mod.rs:69-93: no local user but the server user
        cw.first_run = True
        cw.first_account_token = fm.random_string(16)  # registration_tokens/mod.rs:105-109
        path = os.path.join(a.state_dir, "first-account-token")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(cw.first_account_token + "\n")
    fm.serve(Handler, store, cfg, a.state_dir, a.port, "fake-continuwuity",
             "FAKE-continuwuity/%s" % VERSION, cw=cw)


if __name__ == "__main__":
    main()
