//! Strong ETags computed from the response body, and `If-None-Match` matching.

use sha2::{Digest, Sha256};

/// `"<sha256 hex of body>"`: equal bodies give equal tags.
pub(crate) fn compute(body: &[u8]) -> String {
    format!("\"{:x}\"", Sha256::digest(body))
}

/// Whether an `If-None-Match` value (a list of tags, possibly weak, or `*`) matches `etag`.
/// `If-None-Match` uses the weak comparison (RFC 9110 §13.1.2), so `W/"x"` matches `"x"`.
pub(crate) fn matches(if_none_match: &str, etag: &str) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_string();
    let etag = strip(etag);
    if_none_match
        .split(',')
        .map(strip)
        .any(|candidate| candidate == "*" || candidate == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_body_same_tag_and_weak_match() {
        let a = compute(b"[1]");
        assert_eq!(a, compute(b"[1]"));
        assert_ne!(a, compute(b"[2]"));
        assert!(a.starts_with('"') && a.ends_with('"') && a.len() == 66);
        assert!(matches(&a, &a));
        assert!(matches(&format!("W/{a}"), &a));
        assert!(matches(&format!("\"nope\", {a}"), &a));
        assert!(matches("*", &a));
        assert!(!matches("\"nope\"", &a));
    }
}
