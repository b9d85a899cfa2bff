//! Tests of the client: URLs, retries, refusals, connection errors.
use super::*;
use reqwest::StatusCode;
use serde_json::json;

#[test]
fn segments_cannot_escape_the_path() {
    assert_eq!(
        encode_segment("@alice:example.org"),
        "%40alice%3Aexample.org"
    );
    assert_eq!(encode_segment("../admin"), "..%2Fadmin");
    assert_eq!(encode_segment(".."), "%2E%2E");
    assert_eq!(encode_segment("a%2Fb"), "a%252Fb");
    assert_eq!(encode_segment("x?y#z"), "x%3Fy%23z");
    assert_eq!(
        encode_segment("TalentSpecialDenmark"),
        "TalentSpecialDenmark"
    );
}

#[test]
fn base_urls_are_checked() {
    assert!(parse_base_url("homeserver_url", "http://127.0.0.1:8008").is_ok());
    assert!(parse_base_url("api_url", "https://m.example.com/matrix-registration").is_ok());
    let e = parse_base_url("homeserver_url", "ftp://x").unwrap_err();
    assert!(e.0.contains("homeserver_url must start with http"), "{e}");
    let e = parse_base_url("homeserver_url", "not a url").unwrap_err();
    assert!(e.0.contains("homeserver_url is not a valid URL"), "{e}");
    let e = parse_base_url("homeserver_url", "http://u:pw-secret@host").unwrap_err();
    assert!(
        !e.0.contains("pw-secret") && e.0.contains("credentials"),
        "{e}"
    );
    let e = parse_base_url("homeserver_url", "http://host/?access_token=x").unwrap_err();
    assert!(e.0.contains("query"), "{e}");
}

#[test]
fn urls_keep_a_path_prefix() {
    let conn = Connection {
        base: parse_base_url("api_url", "https://m.example.com/matrix-registration/").unwrap(),
        url_option: "homeserver_url".into(),
        validate_certs: true,
        ca_path: None,
        timeout: Duration::from_secs(5),
        retries: 0,
    };
    let c = Client::new(conn).unwrap();
    assert_eq!(
        c.url("/api/token"),
        "https://m.example.com/matrix-registration/api/token"
    );
}

fn resp(status: u16, body: Value) -> Response {
    Response {
        status: StatusCode::from_u16(status).unwrap(),
        body,
        text: String::new(),
        content_type: "application/json".into(),
        len: 2,
        request: "GET http://127.0.0.1:8008/x".into(),
        url_option: "homeserver_url".into(),
    }
}

#[test]
fn basic_credentials_are_base64_of_id_and_secret() {
    // RFC 7617's example.
    assert_eq!(
        basic_credentials("Aladdin", "open sesame"),
        "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    );
    assert_eq!(basic_credentials("a", "b"), "YTpi");
    assert_eq!(basic_credentials("ab", "c"), "YWI6Yw==");
}

#[test]
fn retry_policy() {
    let r = resp(
        429,
        json!({"errcode": "M_LIMIT_EXCEEDED", "retry_after_ms": 1234}),
    );
    assert_eq!(
        retry_delay_for_status(&r, false, 0),
        Some(Duration::from_millis(1234))
    );
    assert!(retry_delay_for_status(&resp(500, Value::Null), true, 0).is_some());
    assert!(retry_delay_for_status(&resp(500, Value::Null), false, 0).is_none());
    assert!(retry_delay_for_status(&resp(503, Value::Null), false, 0).is_some());
    assert!(retry_delay_for_status(&resp(400, Value::Null), true, 0).is_none());
    assert!(retry_delay_for_status(&resp(200, Value::Null), true, 0).is_none());
    assert!(backoff(1) > backoff(0));
}

#[test]
fn refusals_are_typed() {
    assert_eq!(resp(200, json!({})).refusal(), None);
    assert_eq!(
        resp(429, json!({"errcode": "M_LIMIT_EXCEEDED"})).refusal(),
        Some(Refusal::RateLimited)
    );
    assert_eq!(
        resp(401, json!({"errcode": "M_UNKNOWN_TOKEN"})).refusal(),
        Some(Refusal::Unauthorized)
    );
    assert_eq!(
        resp(403, json!({"errcode": "M_FORBIDDEN"})).refusal(),
        Some(Refusal::Forbidden)
    );
    assert_eq!(
        resp(404, json!({"errcode": "M_NOT_FOUND"})).refusal(),
        Some(Refusal::NotFound)
    );
    // A 404 that is not a Matrix "no such thing": the endpoint itself is missing.
    for r in [
        resp(404, json!({"errcode": "M_UNRECOGNIZED"})),
        resp(404, Value::Null),
        resp(405, Value::Null),
    ] {
        assert_eq!(r.refusal(), Some(Refusal::NotServed));
    }
    assert_eq!(resp(500, Value::Null).refusal(), Some(Refusal::Other));
}

#[test]
fn matrix_errors_are_described() {
    let r = resp(
        403,
        json!({"errcode": "M_FORBIDDEN", "error": "You are not a server admin"}),
    );
    assert_eq!(
        r.summary(),
        "HTTP 403 M_FORBIDDEN: You are not a server admin"
    );
    let mut r = resp(502, Value::Null);
    r.text = "Bad Gateway".into();
    assert_eq!(r.summary(), "HTTP 502: Bad Gateway");
}

#[test]
fn connection_refused_is_a_clear_error_after_retries() {
    // A port nobody listens on: bind, learn the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conn = Connection {
        base: parse_base_url("homeserver_url", &format!("http://127.0.0.1:{port}")).unwrap(),
        url_option: "homeserver_url".into(),
        validate_certs: true,
        ca_path: None,
        timeout: Duration::from_secs(5),
        retries: 2,
    };
    let started = Instant::now();
    let e = Client::new(conn)
        .unwrap()
        .send(Method::GET, "/health", Auth::None, Body::Empty, true)
        .unwrap_err();
    assert!(e.0.contains("connection refused"), "{e}");
    assert!(e.0.contains("after 3 attempts"), "{e}");
    assert!(
        started.elapsed() >= Duration::from_millis(750),
        "backoff must have slept"
    );
}
