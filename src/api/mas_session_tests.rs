//! Tests of the MAS session against a scripted stand-in (not MAS): token renewal, discovery.
use super::*;
use crate::client::{parse_base_url, Connection};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

/// A FAKE MAS for one scripted exchange, on 127.0.0.1: it answers each request with the next
/// of `answers` (status, JSON body), as the real MAS answered in the recording
/// (tests/data/mas/transcripts.jsonl), and hands back what it was sent: method, path,
/// Authorization header and body, one request per connection.
/// What the fake was sent: method, path, Authorization header, body.
type Seen = Vec<(String, String, String, String)>;

fn scripted_fake_mas(answers: Vec<(u16, String)>) -> (String, std::thread::JoinHandle<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let base = url.clone();
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for (status, body) in answers {
            let (mut stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut parts = line.split_whitespace();
            let (method, path) = (
                parts.next().unwrap_or("").to_string(),
                parts.next().unwrap_or("").to_string(),
            );
            let (mut auth, mut length) = (String::new(), 0usize);
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                let (k, v) = h.split_once(':').unwrap();
                match k.to_ascii_lowercase().as_str() {
                    "authorization" => auth = v.trim().to_string(),
                    "content-length" => length = v.trim().parse().unwrap(),
                    _ => {}
                }
            }
            let mut req_body = vec![0; length];
            reader.read_exact(&mut req_body).unwrap();
            let body = body.replace("{base}", &base);
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(body.as_bytes()).unwrap();
            seen.push((method, path, auth, String::from_utf8(req_body).unwrap()));
        }
        seen
    });
    (url, handle)
}

fn client(url: &str) -> Client {
    Connection {
        base: parse_base_url("api_url", url).unwrap(),
        url_option: "api_url".into(),
        validate_certs: true,
        ca_path: None,
        timeout: Duration::from_secs(10),
        retries: 0,
    }
    .client()
    .unwrap()
}

/// A token MAS calls expired before the session expected it (its clock, a slow answer) is
/// renewed and the request sent again; both tokens are revoked at the end.
#[test]
fn a_token_mas_calls_expired_is_renewed_and_the_call_repeated() {
    let token = |t: &str| {
        (
            200,
            format!(
                r#"{{"access_token":"{t}","token_type":"Bearer","expires_in":300,"scope":"urn:mas:admin"}}"#
            ),
        )
    };
    let (url, fake) = scripted_fake_mas(vec![
        // discovery-openid-configuration
        (
            200,
            r#"{"issuer":"{base}/","token_endpoint":"{base}/oauth2/token","revocation_endpoint":"{base}/oauth2/revoke"}"#.into(),
        ),
        token("mat_first"),
        // admin-expired-token
        (401, r#"{"errors":[{"title":"Access token expired"}]}"#.into()),
        token("mat_second"),
        // admin-site-config
        (200, r#"{"server_name":"localhost","password_login_enabled":true}"#.into()),
        (200, String::new()),
        (200, String::new()),
    ]);
    let c = client(&url);
    let session = MasSession::open(
        c.clone(),
        &MasCredentials::Client {
            id: "01JADM1N0000000000000000AA".into(),
            secret: "s3cret".into(),
        },
    )
    .unwrap();
    let r = session
        .call(Method::GET, "/api/admin/v1/site-config", Body::Empty, true)
        .unwrap();
    assert_eq!(r.status.as_u16(), 200);
    session.close().unwrap();
    let seen = fake.join().unwrap();
    let calls: Vec<(&str, &str, &str)> = seen
        .iter()
        .map(|(m, p, a, _)| (m.as_str(), p.as_str(), a.as_str()))
        .collect();
    let basic = "Basic MDFKQURNMU4wMDAwMDAwMDAwMDAwMDAwQUE6czNjcmV0";
    assert_eq!(
        calls,
        [
            ("GET", "/.well-known/openid-configuration", ""),
            ("POST", "/oauth2/token", basic),
            ("GET", "/api/admin/v1/site-config", "Bearer mat_first"),
            ("POST", "/oauth2/token", basic),
            ("GET", "/api/admin/v1/site-config", "Bearer mat_second"),
            ("POST", "/oauth2/revoke", basic),
            ("POST", "/oauth2/revoke", basic),
        ]
    );
    assert_eq!(
        seen[1].3,
        "grant_type=client_credentials&scope=urn%3Amas%3Aadmin"
    );
    assert_eq!(seen[5].3, "token=mat_first&token_type_hint=access_token");
    assert_eq!(seen[6].3, "token=mat_second&token_type_hint=access_token");
}

#[test]
fn endpoints_are_taken_relative_to_the_issuer() {
    assert_eq!(
        endpoint_path(
            "https://auth.example.org/",
            "https://auth.example.org/oauth2/token"
        )
        .unwrap(),
        "/oauth2/token"
    );
    assert_eq!(
        endpoint_path(
            "https://example.org/auth/",
            "https://example.org/auth/oauth2/token"
        )
        .unwrap(),
        "/oauth2/token"
    );
}

#[test]
fn client_ids_are_ulids() {
    assert!(is_ulid("01M83PX7NDQB6KXCB3W5STR3DY"));
    assert!(is_ulid("01m83px7ndqb6kxcb3w5str3dy"));
    assert!(!is_ulid("my-client"));
    assert!(!is_ulid("01M83PX7NDQB6KXCB3W5STR3DU"));
}
