"""Compatibility sessions of the FAKE MAS (tests/servers/fake_mas.py). Not MAS.

What a real MAS 1.22 does with the sessions of a user whose account changes state, from its
source (crates/handlers/src/compat/login.rs, oauth2/introspection.rs, crates/tasks/src/user.rs,
crates/data-model/src/users.rs), so that tests can check that a deactivated or locked account
really stops working:

- POST /_matrix/client/v3/login (m.login.password) starts a compatibility session with an
  `mct_` access token that does not expire. A deactivated user is looked up as if absent (403
  M_FORBIDDEN "Invalid username/password"); a locked user gets 401 M_USER_LOCKED "User account
  has been locked" before the password is checked. A requested device_id ends the user's other
  sessions on that device.
- /oauth2/introspect answers `{"active": false}` for a compatibility token whose session is
  finished or whose user is locked or deactivated (User::is_valid), and otherwise the fields
  MAS sends for one: scope (the C-S API scopes, plus the device scopes unless the caller sends
  `X-MAS-Supports-Device-Id: 1`, as Synapse does), client_id "legacy", username, token_type,
  iat, nbf, sub, device_id. No exp/expires_in: these tokens do not expire.
- Deactivation finishes every session of the user (the DeactivateUserJob); a later reactivation
  does not bring them back. Locking finishes nothing: the tokens are inactive while the user is
  locked and active again after unlocking.
"""

import json
import secrets
import string

JSON_CT = "application/json"
DEVICE_SCOPE_PREFIXES = ("urn:matrix:client:device:", "urn:matrix:org.matrix.msc2967.client:device:")


def user_is_valid(u):
    return u["locked_at"] is None and u["deactivated_at"] is None


class CompatSessions:
    """Mixin for the fake's request handler (uses its st, cfg, send, json_body, hs_best_effort,
    and fake_mas's Reject / new_access_token / hash_password / now_ns, passed in by the
    handler as class attributes to avoid a circular import)."""

    def compat_login(self, method):
        reject, matrix_error = self.Reject, self.matrix_error
        flows = [{"type": "m.login.sso",
                  "org.matrix.msc3824.delegated_oidc_compatibility": True},
                 {"type": "m.login.token"}]
        if self.cfg.password_login:
            flows.insert(0, {"type": "m.login.password"})
        if method == "GET":
            return self.send(200, JSON_CT, {"flows": flows})
        body = self.json_body({"type": ("string", True, False)})
        data = json.loads(self.body)
        if not self.cfg.password_login or body["type"] != "m.login.password":
            raise matrix_error(400, "M_UNKNOWN", "Invalid login type")
        password = data.get("password")
        if not isinstance(password, str):
            raise matrix_error(400, "M_UNKNOWN", "Invalid login type")
        # The deprecated top-level `user` wins over `identifier`, as in Synapse and MAS.
        ident = data.get("identifier")
        if isinstance(data.get("user"), str):
            name = data["user"]
        elif isinstance(ident, dict) and ident.get("type") == "m.id.user" \
                and isinstance(ident.get("user"), str):
            name = ident["user"]
        elif ident is not None:
            raise matrix_error(400, "M_UNKNOWN", "Unsupported login identifier")
        else:
            raise matrix_error(400, "M_BAD_JSON", "Missing property 'identifier")
        suffix = ":" + self.cfg.server_name
        if name.startswith("@") and name.endswith(suffix):
            name = name[1:-len(suffix)]
        with self.st.lock:
            u = self.st.user_by_name(name)
        if u is None or u["deactivated_at"] is not None:
            raise matrix_error(403, "M_FORBIDDEN", "Invalid username/password")
        if u["locked_at"] is not None:
            raise reject(401, JSON_CT, {"errcode": "M_USER_LOCKED",
                                        "error": "User account has been locked"})
        if u["password"] is None or not secrets.compare_digest(
                self.hash_password(password, u["password"][0]), u["password"][1]):
            raise matrix_error(403, "M_FORBIDDEN", "Invalid username/password")
        device = data.get("device_id")
        if not isinstance(device, str) or not device:
            device = "".join(secrets.choice(string.ascii_uppercase) for _ in range(10))
        token = self.new_access_token("mct")
        with self.st.lock:
            now = self.now_ns()
            for s in self.st.compat.values():
                if s["user_id"] == u["id"] and s["device"] == device and s["finished"] is None:
                    s["finished"] = now
            self.st.compat[token] = {"id": self.st.ulids.new(), "user_id": u["id"],
                                     "device": device, "created": now, "finished": None}
        self.hs_best_effort("_synapse/mas/upsert_device",
                            {"localpart": u["username"], "device_id": device})
        self.send(200, JSON_CT, {"access_token": token, "device_id": device,
                                 "user_id": "@%s:%s" % (u["username"], self.cfg.server_name)})

    def introspect_compat(self, token):
        """The introspection answer for a compatibility access token."""
        with self.st.lock:
            s = self.st.compat.get(token)
            u = self.st.users.get(s["user_id"]) if s else None
        if s is None or s["finished"] is not None or u is None or not user_is_valid(u):
            return {"active": False}
        scope = {"urn:matrix:client:api:*", "urn:matrix:org.matrix.msc2967.client:api:*"}
        if self.headers.get("X-MAS-Supports-Device-Id") != "1":
            scope.update(p + s["device"] for p in DEVICE_SCOPE_PREFIXES)
        secs = s["created"] // 1_000_000_000
        return {"active": True, "scope": " ".join(sorted(scope)), "client_id": "legacy",
                "username": u["username"], "token_type": "access_token", "iat": secs,
                "nbf": secs, "sub": u["id"], "device_id": s["device"]}

    def finish_compat_sessions(self, user_id):
        """Ends every active compatibility session of the user (deactivation)."""
        with self.st.lock:
            now = self.now_ns()
            for s in self.st.compat.values():
                if s["user_id"] == user_id and s["finished"] is None:
                    s["finished"] = now

    def has_active_compat_session(self, user_id):
        with self.st.lock:
            return any(s["user_id"] == user_id and s["finished"] is None
                       for s in self.st.compat.values())
