//! Matrix identifiers and the shared-secret registration MAC, independent of any server.

use crate::ansible::Result;
use crate::fail;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The longest user ID the spec allows, in bytes, `@` and `:server` included.
pub const MAX_USER_ID_LEN: usize = 255;

/// A user: a localpart, and the server name when it is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub localpart: String,
    pub server_name: Option<String>,
    /// Whether `server_name` is the homeserver's own name as learnt from the operator's
    /// `server_name` or from the server itself, not only what a full user ID claims. Only a
    /// confirmed ID may be looked up: a look-up of another server's user makes the homeserver
    /// contact that server.
    pub confirmed: bool,
}

/// Where a server name was learnt, for messages: the operator's option, or the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameSource {
    /// The `server_name` option.
    Option,
    /// The user ID of the admin credentials (`whoami`).
    Whoami,
    /// The homeserver's signing keys (`/_matrix/key/v2/server`).
    ServerKeys,
    /// Matrix Authentication Service's site config (the homeserver it serves).
    MasSiteConfig,
}

impl NameSource {
    fn explain(self, name: &str) -> String {
        match self {
            NameSource::Option => format!("server_name is '{name}'"),
            NameSource::Whoami => {
                format!("the homeserver's name is '{name}' (from the admin credentials' user ID)")
            }
            NameSource::ServerKeys => {
                format!("the homeserver's name is '{name}' (from its /_matrix/key/v2/server)")
            }
            NameSource::MasSiteConfig => {
                format!("the homeserver's name is '{name}' (from MAS's site-config)")
            }
        }
    }
}

impl User {
    /// Like [`User::parse`], with the server name's origin for messages: a full ID on another
    /// server is refused before anything is done, naming where the server's name came from.
    pub fn parse_on(option: &str, value: &str, server: Option<(&str, NameSource)>) -> Result<User> {
        if let (Some((name, source)), Some(rest)) = (server, value.strip_prefix('@')) {
            if let Some((l, s)) = rest.split_once(':') {
                if s != name {
                    validate_localpart(option, l)?;
                    return Err(fail!(
                        "{option} '{}' is on server '{}', but {}: that account is not on this homeserver, so nothing was done. Give a localpart, or a user ID ending in ':{name}'",
                        crate::ansible::escape_text(value),
                        crate::ansible::escape_text(s),
                        source.explain(name)
                    ));
                }
            }
        }
        User::parse(option, value, server.map(|(n, _)| n))
    }

    /// Parses `option`'s value: a bare localpart (`alice`) or a full ID (`@alice:example.org`).
    /// `server_name` fills in the server for a bare localpart; a full ID must agree with it.
    ///
    /// Localparts follow the spec's grammar for new accounts (`a-z 0-9 . _ = - +`). The spec also
    /// allows `/`, but it is refused here: it is rare in real accounts, and a user name that looks
    /// like a path is far more often a mistake or an injection attempt.
    pub fn parse(option: &str, value: &str, server_name: Option<&str>) -> Result<User> {
        let (localpart, server) = match value.strip_prefix('@') {
            Some(rest) => match rest.split_once(':') {
                Some((l, s)) => (l, Some(s)),
                None => {
                    return Err(fail!(
                        "{option} '{value}' starts with '@' but has no ':server' part; give a localpart such as 'alice' or a full ID such as '@alice:example.org'"
                    ))
                }
            },
            None => (value, None),
        };
        validate_localpart(option, localpart)?;
        // A bad server part of a full ID is the user name's fault, not server_name's.
        let server_option = if server.is_some() {
            option
        } else {
            "server_name"
        };
        let server = match (server, server_name) {
            (Some(s), Some(n)) if s != n => {
                return Err(fail!(
                    "{option} '{}' is on server '{}', but server_name is '{n}': that account is not on this homeserver, so nothing was done",
                    crate::ansible::escape_text(value),
                    crate::ansible::escape_text(s)
                ))
            }
            (Some(s), _) => Some(s),
            (None, n) => n,
        };
        if let Some(s) = server {
            if server_option == option {
                validate_server_name(option, s).map_err(|_| {
                    fail!(
                        "{option} '{}' has no valid server part after the ':' ('{}' is not a valid server name): a full user ID looks like @alice:example.org",
                        crate::ansible::escape_text(value),
                        crate::ansible::escape_text(s)
                    )
                })?;
            }
            validate_server_name("server_name", s)?;
            let len = localpart.len() + s.len() + 2;
            if len > MAX_USER_ID_LEN {
                return Err(fail!(
                    "{option} '{value}' is too long: the user ID @{localpart}:{s} would be {len} bytes, at most {MAX_USER_ID_LEN} are allowed"
                ));
            }
        }
        Ok(User {
            localpart: localpart.to_string(),
            server_name: server.map(str::to_string),
            confirmed: server_name.is_some(),
        })
    }

    /// `@localpart:server`, when the server is known (or claimed by a full ID).
    pub fn id(&self) -> Option<String> {
        self.server_name
            .as_ref()
            .map(|s| format!("@{}:{s}", self.localpart))
    }

    /// The user ID only when its server is confirmed to be the homeserver's (see
    /// [`User::confirmed`]): the one a look-up may use.
    pub fn confirmed_id(&self) -> Option<String> {
        self.id().filter(|_| self.confirmed)
    }

    /// Checks that a server's answer names this user: a registration answer for another
    /// account (another server's name included) fails.
    pub fn check_answer(&self, option: &str, answered: &str) -> Result<()> {
        let named = answered
            .strip_prefix('@')
            .and_then(|r| r.split_once(':'))
            .is_some_and(|(l, s)| {
                l == self.localpart && self.server_name.as_deref().is_none_or(|n| n == s)
            });
        if named {
            return Ok(());
        }
        let asked = self.display();
        Err(fail!(
            "{option} '{asked}' was asked for, but the homeserver answered with the account '{}': its server name is not the one in {option}. Nothing more was done; give a localpart, or set server_name to the homeserver's name",
            crate::ansible::escape_text(answered)
        ))
    }

    /// The user ID if known, else the localpart: for messages.
    pub fn display(&self) -> String {
        self.id().unwrap_or_else(|| self.localpart.clone())
    }
}

fn validate_localpart(option: &str, l: &str) -> Result<()> {
    if l.is_empty() {
        return Err(fail!("{option} is empty"));
    }
    if l.len() > MAX_USER_ID_LEN - 3 {
        return Err(fail!(
            "{option} is too long: {} bytes, a user ID is at most {MAX_USER_ID_LEN} bytes",
            l.len()
        ));
    }
    if let Some(c) = l
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._=-+".contains(*c)))
    {
        let shown = if c.is_whitespace() || c.is_control() {
            format!("{:?}", c)
        } else {
            format!("'{c}'")
        };
        return Err(fail!(
            "{option} '{}' contains the character {shown}; a user name may only contain a-z, 0-9 and . _ = - +",
            l.escape_debug()
        ));
    }
    if let Some(c) = l.chars().find(|c| c.is_ascii_uppercase()) {
        return Err(fail!(
            "{option} '{l}' contains the upper-case letter '{c}': Matrix user IDs are lower case (try '{}')",
            l.to_ascii_lowercase()
        ));
    }
    if l.contains("..") || l == "." {
        return Err(fail!(
            "{option} '{l}' contains '..' or is '.'; that is not a user name"
        ));
    }
    if l.bytes().all(|b| b.is_ascii_digit()) {
        return Err(fail!(
            "{option} '{l}' is purely numeric; Matrix servers reserve numeric user IDs for guests"
        ));
    }
    Ok(())
}

/// A server name: a host name or IP literal, optionally with a port.
pub fn validate_server_name(option: &str, s: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.len() <= MAX_USER_ID_LEN
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c));
    if ok {
        Ok(())
    } else {
        Err(fail!(
            "{option} '{}' is not a valid server name (a host name such as example.org, optionally with :port)",
            s.escape_debug()
        ))
    }
}

/// The MAC Synapse's `/_synapse/admin/v1/register` checks:
/// lowercase hex of HMAC-SHA1(secret, nonce \0 username \0 password \0 admin|notadmin [\0 user_type]).
pub fn registration_mac(
    shared_secret: &str,
    nonce: &str,
    username: &str,
    password: &str,
    admin: bool,
    user_type: Option<&str>,
) -> String {
    // HMAC takes keys of any length, so new_from_slice cannot fail here.
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(shared_secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(nonce.as_bytes());
    mac.update(b"\x00");
    mac.update(username.as_bytes());
    mac.update(b"\x00");
    mac.update(password.as_bytes());
    mac.update(b"\x00");
    mac.update(if admin { b"admin" } else { b"notadmin" });
    if let Some(t) = user_type.filter(|t| !t.is_empty()) {
        mac.update(b"\x00");
        mac.update(t.as_bytes());
    }
    to_hex(&mac.finalize().into_bytes())
}

fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors from the reference notes (checked against Python's hmac and openssl).
    #[test]
    fn mac_matches_synapse_vectors() {
        let s = "shared-secret-12345";
        let n = "thenonce0123456789abcdef";
        assert_eq!(
            registration_mac(s, n, "alice", "p4ssw0rd!", false, None),
            "44e0ec50d52aaa4029731dfcfe7e22123fa4c53e"
        );
        assert_eq!(
            registration_mac(s, n, "alice", "p4ssw0rd!", true, None),
            "7774d6962a728b48ca7cd41e99a5149a93ff1ec5"
        );
        assert_eq!(
            registration_mac(s, n, "alice", "p4ssw0rd!", true, Some("bot")),
            "10f12d86c7210410ee777edadf655033b8f36008"
        );
        assert_eq!(
            registration_mac("s3cr3t~^&*", "abc123", "Bob", "pässwörd", false, None),
            "077b54a552fc418438eefb185887f923b398ac82"
        );
        assert_eq!(
            registration_mac(
                "s3cr3t~^&*",
                "abc123",
                "Bob",
                "pässwörd",
                false,
                Some("support")
            ),
            "7df58bbf1fc9fbf3c2597c3b6a68bd458eb4dd4b"
        );
    }

    #[test]
    fn localparts_and_full_ids_parse() {
        let u = User::parse("username", "alice", None).unwrap();
        assert_eq!(u.id(), None);
        assert_eq!(u.display(), "alice");
        let u = User::parse("username", "alice", Some("example.org")).unwrap();
        assert_eq!(u.id().as_deref(), Some("@alice:example.org"));
        let u = User::parse(
            "username",
            "@bob.smith=1_+x-y:matrix.example.org:8448",
            None,
        )
        .unwrap();
        assert_eq!(u.localpart, "bob.smith=1_+x-y");
        assert_eq!(u.server_name.as_deref(), Some("matrix.example.org:8448"));
        // A full ID alone only claims its server: it is not looked up before it is confirmed.
        assert!(!u.confirmed && u.confirmed_id().is_none());
        let u = User::parse("username", "@eve:localhost", Some("localhost")).unwrap();
        assert_eq!(u.confirmed_id().as_deref(), Some("@eve:localhost"));
    }

    #[test]
    fn answers_must_name_the_user_asked_for() {
        let u = User::parse("username", "@john:localhost:8448", None).unwrap();
        assert!(u.check_answer("username", "@john:localhost:8448").is_ok());
        let e = u.check_answer("username", "@john:localhost").unwrap_err();
        assert!(e.0.contains("'@john:localhost'"), "{e}");
        let u = User::parse("username", "john", None).unwrap();
        assert!(u.check_answer("username", "@john:anything").is_ok());
        assert!(u.check_answer("username", "@eve:anything").is_err());
        assert!(u.check_answer("username", "john").is_err());
    }

    #[test]
    fn bad_user_names_fail_clearly() {
        let cases = [
            ("", "is empty"),
            ("Alice", "upper-case letter 'A'"),
            ("al ice", "' '"),
            ("a/b", "'/'"),
            ("../etc", "'/'"),
            ("a..b", "'..'"),
            ("%2Fadmin", "'%'"),
            ("al\u{0}ice", "'\\0'"),
            ("12345", "purely numeric"),
            ("@alice", "no ':server' part"),
            ("ünï", "'ü'"),
        ];
        for (input, want) in cases {
            let e = User::parse("username", input, None).unwrap_err();
            assert!(e.0.starts_with("username"), "{input:?}: {e}");
            assert!(e.0.contains(want), "{input:?}: {e}");
        }
        let long = "a".repeat(300);
        assert!(User::parse("username", &long, None)
            .unwrap_err()
            .0
            .contains("too long"));
        let e = User::parse("username", &"a".repeat(250), Some("example.org")).unwrap_err();
        assert!(e.0.contains("too long"), "{e}");
        let e = User::parse("username", "@a:x.org", Some("y.org")).unwrap_err();
        assert!(e.0.contains("server_name is 'y.org'"), "{e}");
        let e = User::parse_on("username", "@a:x.org", Some(("y.org", NameSource::Whoami)))
            .unwrap_err();
        assert!(
            e.0.contains("homeserver's name is 'y.org'") && !e.0.contains("server_name is"),
            "{e}"
        );
        let e = User::parse("username", "@a:x/y", None).unwrap_err();
        assert!(e.0.contains("not a valid server name"), "{e}");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// Any string is either refused with a message naming the option, or is a user name that
        /// cannot change a URL path or escape the grammar.
        #[test]
        fn user_names_are_safe_or_refused(s in "\\PC{0,40}|@[a-z0-9._=+/-]{0,10}:[a-z.:]{0,10}", server in prop::option::of("[a-z.]{1,12}")) {
            match User::parse("username", &s, server.as_deref()) {
                Ok(u) => {
                    prop_assert!(!u.localpart.is_empty());
                    prop_assert!(u.localpart.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._=-+".contains(c)));
                    prop_assert!(!u.localpart.contains(".."));
                }
                Err(e) => prop_assert!(e.0.starts_with("username") || e.0.starts_with("server_name"), "{}", e),
            }
        }
    }
}
