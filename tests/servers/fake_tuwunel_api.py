"""The Synapse admin API of the FAKE tuwunel (tests/servers/fake_tuwunel.py): users, registration
tokens and MSC4323 lock/suspend, as tuwunel v1.9.0 serves them. Not tuwunel.

Each behaviour names its source `path:line` in matrix-construct/tuwunel at v1.9.0 (docs/tuwunel.md).
Request handling order follows src/api/router/args.rs:98-142: an unparsable body (M_NOT_JSON),
then authentication, then the request struct (path, query, body: M_BAD_JSON), then the handler
(which checks that the caller is an admin).
"""

import json

import fake_matrix as fm
from fake_matrix import Reject

# src/core/error/response.rs:95-133 (bad_request_code): the status of each errcode.
STATUS = {"M_NOT_FOUND": 404, "M_UNRECOGNIZED": 404, "M_FORBIDDEN": 403,
          "M_USER_DEACTIVATED": 403, "M_UNKNOWN_TOKEN": 401, "M_MISSING_TOKEN": 401,
          "M_UNAUTHORIZED": 401, "M_USER_LOCKED": 401, "M_LIMIT_EXCEEDED": 429}
BOOL, STR, UINT, LIST = "a boolean", "a string", "u64", "a sequence"


def rq(errcode, message, status=None, **extra):
    """A Request error: status from the errcode, body message "M_CODE: message"
    (src/core/error/mod.rs:464 `#[error("{0}: {1}")]`, src/core/error/response.rs:81-85)."""
    body = {"errcode": errcode, "error": "%s: %s" % (errcode, message)}
    body.update(extra)
    return Reject(status or STATUS.get(errcode, 400), body)


def bad_json(detail):
    # src/api/router/args.rs:156-157: ruma deserialization failure -> M_BAD_JSON
    return rq("M_BAD_JSON", "deserialization failed: " + detail)


def check(body, fields):
    """serde for a request struct: fields = {name: (kind, required, default)}. Unknown keys are
    ignored; a wrong type or a missing required field is M_BAD_JSON."""
    if not isinstance(body, dict):
        raise bad_json("invalid type: %s, expected struct" % type(body).__name__)
    out = {}
    for name, (kind, required, default) in fields.items():
        if name not in body:
            if required:
                raise bad_json("missing field `%s`" % name)
            out[name] = default
            continue
        v = body[name]
        if v is None and not required and default is not True and default is not False:
            out[name] = None
            continue
        ok = ((kind is BOOL and isinstance(v, bool)) or (kind is STR and isinstance(v, str))
              or (kind is LIST and isinstance(v, list))
              or (kind is UINT and isinstance(v, int) and not isinstance(v, bool)
                  and 0 <= v < 2 ** 53))
        if not ok:
            raise bad_json("invalid type: %s, expected %s" % (json.dumps(v), kind))
        out[name] = v
    return out


def token_valid(info):
    """src/service/registration_tokens/data.rs:35-51."""
    if info["max_uses"] is not None and info["uses"] >= info["max_uses"]:
        return False
    return not (info["max_age_ms"] is not None and fm.now_ms() > info["max_age_ms"])


def token_obj(token, info):
    """src/api/client/admin/tokens/mod.rs:23-47; config tokens read as unlimited and unused."""
    if info is None:
        return {"token": token, "uses_allowed": None, "pending": 0, "completed": 0,
                "expiry_time": None}
    return {"token": token, "uses_allowed": info["max_uses"], "pending": 0,
            "completed": info["uses"], "expiry_time": info["max_age_ms"]}


def query_bool(q, name):
    if name not in q:
        return None
    if q[name] not in ("true", "false"):  # serde_html_form bool
        raise bad_json("invalid type: string %s, expected a boolean" % json.dumps(q[name]))
    return q[name] == "true"


def query_uint(q, name):
    if name not in q:
        return None
    if not q[name].isdigit():
        raise bad_json("invalid digit found in string")
    return int(q[name])


class AdminApi:
    """Mixed into the handler of fake_tuwunel.py."""

    def details(self, acc):
        """src/api/client/admin/users/mod.rs:55-101 (UserDetails, synapse-admin-api users.rs)."""
        return {"name": acc.user_id, "is_guest": False, "admin": self.is_admin_user(acc.user_id),
                "deactivated": acc.password == "", "locked": acc.locked, "shadow_banned": False,
                "suspended": acc.suspended, "erased": acc.erased, "consent_ts": None,
                "creation_ts": 0, "last_seen_ts": acc.last_seen, "displayname": acc.displayname,
                **({"avatar_url": acc.avatar_url} if acc.avatar_url else {}),
                **({"threepids": [{"medium": "email", "address": a, "added_at": 0,
                                   "validated_at": 0} for a in acc.emails]}
                   if acc.emails else {})}

    def list_users(self, ver):
        """src/api/client/admin/users/list_users.rs:48-231 (query: list_users/v2.rs, v3.rs)."""
        sender, _ = self.auth()
        q = self.query()
        p = {k: query_bool(q, k) for k in ("admins", "locked", "deactivated", "guests")}
        frm = query_uint(q, "from") or 0
        limit = query_uint(q, "limit")
        limit = 100 if limit is None else limit
        if q.get("dir", "f") not in ("f", "b"):
            raise bad_json("unknown variant `%s`, expected `f` or `b`" % q["dir"])
        self.need_admin(sender)
        names = sorted(self.store.accounts)
        if q.get("dir") == "b":
            names.reverse()
        matched = []
        for name in names:
            acc = self.store.accounts[name]
            if "user_id" in q and "name" not in q and q["user_id"] not in name:  # :160-164
                continue
            if "name" in q and q["name"] not in name[1:].split(":")[0] and \
                    q["name"] not in (acc.displayname or ""):  # :166-175
                continue
            admin = self.is_admin_user(name)
            if p["admins"] is not None and p["admins"] != admin:
                continue
            if acc.locked and not p["locked"]:  # :184-187
                continue
            deact = acc.password == ""
            d = p["deactivated"]
            if ver == "v2" and not d and deact:  # :54-57 v2 absent/false excludes
                continue
            if ver == "v3" and d is not None and d != deact:  # :82-86
                continue
            matched.append({"name": name, "is_guest": False, "admin": admin,
                            "deactivated": deact, "shadow_banned": False,
                            "displayname": acc.displayname, "creation_ts": 0,  # :228-229
                            "erased": acc.erased, "last_seen_ts": acc.last_seen,
                            "locked": acc.locked,
                            **({"avatar_url": acc.avatar_url} if acc.avatar_url else {})})
        page = matched[frm:frm + limit]
        end = frm + len(page)  # :142-143: next_token present only before the end
        self.send(200, {"users": page, "next_token": str(end) if end < len(matched) else None,
                        "total": len(matched)})

    def user_v2(self, m, raw):
        sender, _ = self.auth()
        user_id = self.path_user(raw)
        if m == "GET":  # src/api/client/admin/users/get_details.rs:9-26
            self.need_admin(sender)
            if not self.store.is_local(user_id):
                raise rq("M_INVALID_PARAM", "Can only look up local users")
            acc = self.account(user_id)
            if acc is None:
                raise rq("M_NOT_FOUND", "User not found")
            return self.send(200, self.details(acc))
        # PUT: src/api/client/admin/users/create_or_modify.rs:20-128
        b = self.json({"password": (STR, False, None), "logout_devices": (BOOL, False, True),
                       "displayname": (STR, False, None), "threepids": (LIST, False, None),
                       "external_ids": (LIST, False, None), "avatar_url": (STR, False, None),
                       "admin": (BOOL, False, None), "deactivated": (BOOL, False, None),
                       "locked": (BOOL, False, None), "user_type": (STR, False, None),
                       "approved": (BOOL, False, None)})
        self.need_admin(sender)
        if not self.store.is_local(user_id):
            raise rq("M_INVALID_PARAM", "Can only create or modify local users")
        if b["deactivated"] is True and b["locked"] is True:
            raise rq("M_INVALID_PARAM", "An account cannot be deactivated and locked")
        if b["admin"] is False and sender == user_id:
            raise rq("M_INVALID_PARAM", "You may not demote yourself.")
        acc = self.account(user_id)
        if acc is None:  # :42-48 create(): no displayname; no password = "" = deactivated
            acc = self.store.create(user_id, fm.hash_password(b["password"])
                                    if b["password"] is not None else "")
            acc.displayname = None
        elif b["password"] is not None:  # :49-67; a password re-activates (mod.rs:381-424)
            acc.password = fm.hash_password(b["password"])
            if b["logout_devices"]:
                self.store.remove_all_devices(user_id)
        if b["displayname"] is not None:
            acc.displayname = b["displayname"] or None
        if b["avatar_url"] is not None:
            acc.avatar_url = b["avatar_url"] or None
        if b["admin"] is True:  # src/service/admin/grant.rs:24-127
            self.tw.admin_membership[user_id] = "join"
        elif b["admin"] is False:  # src/service/admin/grant.rs:279-310: errors are 500 M_UNKNOWN
            state = self.tw.admin_membership.get(user_id)
            if state is None:
                raise Reject(500, {"errcode": "M_UNKNOWN",
                                   "error": "%s was never an admin." % user_id})
            if state != "join":
                raise Reject(500, {"errcode": "M_UNKNOWN", "error": "Cannot revoke %s in "
                                   "membership state Leave." % user_id})
            self.tw.admin_membership[user_id] = "leave"
        if b["deactivated"] is True:  # src/service/users/mod.rs:164-184
            self.deactivate_account(acc)
        elif b["deactivated"] is False and acc.password == "" and b["password"] is None:
            acc.password = "*"  # :94-113 PASSWORD_SENTINEL: active, no password login
        if b["locked"] is not None:
            acc.locked = b["locked"]
        if b["threepids"] is not None:
            acc.emails = sorted({t.get("address", "").lower() for t in b["threepids"]
                                 if isinstance(t, dict) and t.get("medium") == "email"})
        self.send(200, self.details(acc))  # always 200: ruma drops Synapse's 201

    def deactivate_account(self, acc):
        self.store.remove_all_devices(acc.user_id)
        acc.password = ""

    def deactivate(self, raw):  # src/api/client/admin/users/deactivate_account.rs:8-32
        sender, _ = self.auth()
        user_id = self.path_user(raw)
        b = self.json({"erase": (BOOL, False, False)})
        self.need_admin(sender)
        if not self.store.is_local(user_id):
            raise rq("M_INVALID_PARAM", "Can only deactivate local users")
        acc = self.account(user_id)
        if acc is None:
            raise rq("M_NOT_FOUND", "User not found")
        self.deactivate_account(acc)  # rooms are not left; the admin room keeps its member
        if b["erase"]:
            acc.erased = True
        self.send(200, {"id_server_unbind_result": "success"})

    def reset_password(self, raw):  # src/api/client/admin/users/reset_password.rs:9-39
        sender, _ = self.auth()
        user_id = self.path_user(raw)
        b = self.json({"new_password": (STR, True, None), "logout_devices": (BOOL, False, True)})
        self.need_admin(sender)
        acc = self.account(user_id)
        if acc is None:
            raise rq("M_NOT_FOUND", "User not found")
        acc.password = fm.hash_password(b["new_password"])  # re-activates a deactivated account
        if b["logout_devices"]:
            self.store.remove_all_devices(user_id)
        self.send(200, {})

    def is_admin(self, raw):  # src/api/client/admin/users/is_user_admin.rs:8-21
        sender, _ = self.auth()
        user_id = self.path_user(raw)
        self.need_admin(sender)
        if not self.store.is_local(user_id):
            raise rq("M_INVALID_PARAM", "Can only look up local users")
        self.send(200, {"admin": self.is_admin_user(user_id)})  # false for unknown users

    def admin_suspend(self, raw):  # src/api/client/admin/users/suspend.rs:11-39
        sender, _ = self.auth()
        user_id = self.path_user(raw)
        b = self.json({"suspend": (BOOL, True, None)})
        self.need_admin(sender)
        if not self.store.is_local(user_id):
            raise rq("M_INVALID_PARAM", "Can only suspend local users")
        acc = self.account(user_id)
        if acc is None:
            raise rq("M_NOT_FOUND", "User not found")
        acc.suspended = b["suspend"]
        self.send(200, {"user_%s_suspended" % user_id: b["suspend"]})

    def username_available(self):  # src/api/client/admin/users/username_available.rs:12-46
        sender, _ = self.auth()
        q = self.query()
        if "username" not in q:
            raise bad_json("missing field `username`")
        self.need_admin(sender)
        name = q["username"]
        local = name[1:].split(":")[0] if name.startswith("@") else name
        if not local or not fm.STRICT_LOCALPART.match(local):
            raise rq("M_INVALID_USERNAME", "Username contains disallowed characters")
        if self.store.user_id(local) in self.store.accounts:
            raise rq("M_USER_IN_USE", "Username is not available")
        self.send(200, {"available": True})

    # -------- MSC4323 (src/api/client/admin/lock_user.rs, is_user_locked.rs, suspend_user.rs)

    def msc4323(self, m, what, raw):
        caller, _ = self.auth()
        user_id = self.path_user(raw)
        field = "locked" if what == "lock" else "suspended"
        b = self.json({field: (BOOL, True, None)}) if m == "PUT" else None
        # src/api/client/admin/mod.rs:29-60: checked before any account lookup
        if caller == user_id:
            raise rq("M_FORBIDDEN", "You cannot suspend or lock your own account")
        if not self.store.is_local(user_id):
            raise rq("M_INVALID_PARAM", "User is not local to this server")
        if not self.is_admin_user(caller):
            raise rq("M_FORBIDDEN", "Only server administrators can use this endpoint")
        acc = self.account(user_id)
        if acc is None or acc.password == "":
            raise rq("M_NOT_FOUND", "Unknown user")
        if self.is_admin_user(user_id):
            raise rq("M_FORBIDDEN", "You cannot suspend or lock another server administrator")
        if m == "PUT":
            setattr(acc, field, b[field])
        self.send(200, {field: getattr(acc, field)})

    # -------- registration tokens (src/api/client/admin/tokens/*.rs)

    def tokens_list(self):  # list.rs:13-32
        sender, _ = self.auth()
        valid = query_bool(self.query(), "valid")
        self.need_admin(sender)
        if valid is False:
            return self.send(200, {"registration_tokens": []})
        out = [token_obj(t, None) for t in sorted(self.tw.config_tokens())]
        for t in list(self.tw.db_tokens):  # data.rs:204-219: invalid tokens deleted
            if token_valid(self.tw.db_tokens[t]):
                out.append(token_obj(t, self.tw.db_tokens[t]))
            else:
                del self.tw.db_tokens[t]
        self.send(200, {"registration_tokens": out})

    def token_create(self):  # create.rs:11-32, registration_tokens/mod.rs:70-85
        sender, _ = self.auth()
        b = self.json({"token": (STR, False, None), "length": (UINT, False, None),
                       "uses_allowed": (UINT, False, None), "expiry_time": (UINT, False, None)})
        self.need_admin(sender)
        token = b["token"] if b["token"] is not None else fm.random_string(
            b["length"] if b["length"] is not None else 16)
        if token in self.tw.db_tokens:  # data.rs:110-130 (no check of characters or expiry)
            raise rq("M_INVALID_PARAM", "Registration token already exists")
        info = {"uses": 0, "max_uses": b["uses_allowed"], "max_age_ms": b["expiry_time"]}
        self.tw.db_tokens[token] = info
        self.send(200, token_obj(token, info))

    def token_one(self, m, token):
        sender, _ = self.auth()
        raw = None
        if m == "PUT":  # update.rs:16-47: omitted = unchanged, null = cleared
            raw = json.loads(self.body) if self.body.strip() else {}
            check(raw, {"uses_allowed": (UINT, False, None), "expiry_time": (UINT, False, None)})
        self.need_admin(sender)
        if m == "GET":  # get.rs:9-25, mod.rs:87-97: an invalid token is not cleaned here
            if token in self.tw.config_tokens():
                return self.send(200, token_obj(token, None))
            if token not in self.tw.db_tokens:
                raise rq("M_NOT_FOUND", "Registration token not found")
            return self.send(200, token_obj(token, self.tw.db_tokens[token]))
        if m == "PUT":
            if token in self.tw.config_tokens():
                raise rq("M_FORBIDDEN", "Tokens set in the config file can't be updated")
            info = self.tw.db_tokens.get(token)
            if info is None:
                raise rq("M_NOT_FOUND", "Registration token not found")
            if "uses_allowed" in raw:
                info["max_uses"] = raw["uses_allowed"]
            if "expiry_time" in raw:
                info["max_age_ms"] = raw["expiry_time"]
            return self.send(200, token_obj(token, info))
        # DELETE: delete.rs:8-20, registration_tokens/mod.rs:160-169, data.rs:133-146
        if token in self.tw.config_tokens():
            raise rq("M_FORBIDDEN", "The token set in the config file cannot be revoked. Edit "
                     "the config file to change it.")
        if self.tw.db_tokens.pop(token, None) is None:
            raise rq("M_NOT_FOUND", "Registration token not found")
        self.send(200, {})
