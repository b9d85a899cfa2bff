//! Which recorded values a server generates (ULIDs, access tokens, timestamps).

pub(super) fn is_ulid(s: &str) -> bool {
    s.len() == 26
        && s.bytes()
            .all(|b| b"0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(&b))
}

pub(super) fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// MAS access token format: `mat_<30 alphanumerics>_<base62 CRC32 of the rest, 6 chars>`.
pub(super) fn is_mas_access_token(s: &str) -> bool {
    const B62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let parts: Vec<&str> = s.split('_').collect();
    if parts.len() != 3
        || parts[0] != "mat"
        || parts[1].len() != 30
        || !parts[1].bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return false;
    }
    let mut n = crc32(format!("mat_{}", parts[1]).as_bytes());
    let mut crc = String::new();
    while n > 0 {
        crc.push(B62[(n % 62) as usize] as char);
        n /= 62;
    }
    while crc.len() < 6 {
        crc.push('0');
    }
    crc == parts[2]
}

pub(super) fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() >= 20
        && s.ends_with('Z')
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && (s.len() == 20
            || (b[19] == b'.' && s[20..s.len() - 1].bytes().all(|c| c.is_ascii_digit())))
}

/// A timestamp cut to microseconds (what MAS stores), as the identity of a generated instant.
pub(super) fn micros(s: &str) -> String {
    match s.find('.') {
        Some(i) => {
            let frac = &s[i + 1..s.len() - 1];
            format!("{}.{:0<6.6}Z", &s[..i], frac)
        }
        None => s.to_string(),
    }
}

/// Keys whose values the server generates at the time of a request.
pub(super) const GENERATED_TIMES: &[&str] = &[
    "created_at",
    "locked_at",
    "deactivated_at",
    "revoked_at",
    "last_used_at",
];
