//! Base URLs and path segments: what may go into a URL (never a secret, never a query string).

use crate::ansible::Result;
use crate::fail;
use reqwest::Url;

/// Checks a base URL: http(s), a host, no credentials, query or fragment.
pub fn parse_base_url(option: &str, url: &str) -> Result<Url> {
    let parsed = Url::parse(url.trim()).map_err(|e| {
        fail!("{option} is not a valid URL ({e}): expected e.g. http://127.0.0.1:8008")
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(fail!(
            "{option} must start with http:// or https://, got scheme '{}'",
            parsed.scheme()
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(fail!("{option} has no host name"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        // Never echo the URL here: it holds credentials.
        return Err(fail!(
            "{option} must not contain credentials; use the module's secret options instead"
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(fail!("{option} must not have a query string or fragment"));
    }
    Ok(parsed)
}

/// Percent-encodes one URL path segment (user IDs, token names): everything but RFC 3986
/// unreserved characters, so `/`, `..`, `?` and `%` can never change the path.
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    // A segment of only dots would still be a dot-segment: encode them too.
    if !out.is_empty() && out.bytes().all(|b| b == b'.') {
        out = out.replace('.', "%2E");
    }
    out
}

/// Whether the URL names this very host.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}
