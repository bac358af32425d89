//! The rate-limit fields of draft-ietf-httpapi-ratelimit-headers-11, serialised as RFC 9651
//! structured fields with `sfv`:
//!
//! ```text
//! RateLimit-Policy: "chat";q=30;w=60
//! RateLimit: "chat";r=12;t=3
//! ```
//!
//! ```
//! use wyn_edge::rate_limit::headers::{policy, remaining};
//! assert_eq!(policy("chat", 30, 60).as_deref(), Some(r#""chat";q=30;w=60"#));
//! assert_eq!(remaining("chat", 12, 3).as_deref(), Some(r#""chat";r=12;t=3"#));
//! ```

use sfv::{Integer, ItemSerializer, KeyRef, StringRef};

/// The `RateLimit-Policy` field: quota `q` per window `w` seconds.
pub fn policy(name: &str, quota: u32, window_secs: u64) -> Option<String> {
    item(name, [("q", u64::from(quota)), ("w", window_secs)])
}

/// The `RateLimit` field: `r` units remaining, `t` seconds until the quota is whole again.
pub fn remaining(name: &str, remaining: u32, reset_secs: u64) -> Option<String> {
    item(name, [("r", u64::from(remaining)), ("t", reset_secs)])
}

/// `Retry-After` in whole seconds: rounded up, never 0, so a client that waits exactly this long
/// never arrives early.
pub fn retry_after_secs(wait: std::time::Duration) -> u64 {
    wait.as_nanos().div_ceil(1_000_000_000).max(1) as u64
}

/// Whole seconds, rounded up.
pub fn ceil_secs(d: std::time::Duration) -> u64 {
    d.as_nanos().div_ceil(1_000_000_000) as u64
}

fn item<const N: usize>(name: &str, params: [(&str, u64); N]) -> Option<String> {
    let mut ser = ItemSerializer::new().bare_item(StringRef::from_str(name).ok()?);
    for (key, value) in params {
        let value = Integer::try_from(i64::try_from(value).ok()?).ok()?;
        ser = ser.parameter(KeyRef::from_str(key).ok()?, value);
    }
    Some(ser.finish())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sfv::{BareItem, Item, Parser};

    use super::*;

    #[test]
    fn fields_parse_back_as_structured_items() {
        let text = policy("api-v2_x", 600, 60).unwrap();
        let item: Item = Parser::new(&text).parse().unwrap();
        assert_eq!(
            item.bare_item,
            BareItem::String(StringRef::from_str("api-v2_x").unwrap().to_owned())
        );
        assert_eq!(
            item.params
                .get("q")
                .and_then(BareItem::as_integer)
                .map(i64::from),
            Some(600)
        );
        assert_eq!(
            item.params
                .get("w")
                .and_then(BareItem::as_integer)
                .map(i64::from),
            Some(60)
        );
        assert_eq!(
            remaining("chat", 0, 120).as_deref(),
            Some(r#""chat";r=0;t=120"#)
        );
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_nanos(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1_000)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1_001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(59)), 59);
        assert_eq!(ceil_secs(Duration::ZERO), 0);
        assert_eq!(ceil_secs(Duration::from_millis(1)), 1);
    }

    #[test]
    fn unserialisable_names_give_no_field() {
        assert_eq!(policy("bad\u{7f}", 1, 1), None);
    }
}
