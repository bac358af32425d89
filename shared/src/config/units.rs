//! Human units in the config: durations like `"60s"` or `"5m"`, sizes like `"1MB"`.
//!
//! Used as `#[serde(with = "...")]` helpers, so a wrong value is reported with the field's path and
//! what was expected.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;

/// Parses a duration written like `"60s"`, `"5m"`, `"250ms"` or `"1h 30m"`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|_| format!("expected a duration like \"60s\" or \"5m\", found {text:?}"))
}

/// Parses a size written like `"1MB"`, `"512KiB"`, `"1.5 KB"` or `"100 B"`, in bytes.
// parse-size works in integers (a fraction of a byte rounds to the nearest): no float parser
// in the wasm.
pub fn parse_size(text: &str) -> Result<u64, String> {
    parse_size::parse_size(text.trim())
        .map_err(|_| format!("expected a size like \"1MB\" or \"512KiB\", found {text:?}"))
}

/// Formats a duration the way the config writes it.
pub fn format_duration(d: Duration) -> String {
    // Whole days as days: humantime would write a year as "11months 30days 3h 50m 24s".
    let days = d.as_secs() / 86_400;
    let rest = d - Duration::from_secs(days * 86_400);
    match (days, rest.is_zero()) {
        (0, _) => humantime::format_duration(d).to_string(),
        (_, true) => format!("{days}d"),
        (_, false) => format!("{days}d {}", humantime::format_duration(rest)),
    }
}

/// Serde helpers for `Duration` fields.
pub mod duration {
    use super::*;

    /// Serialises as `"60s"`.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*d))
    }

    /// Deserialises from a string like `"60s"`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration like \"60s\" or \"5m\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                parse_duration(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// Serde helpers for optional `Duration` fields.
pub mod opt_duration {
    use super::*;

    /// Serialises as `"60s"`, or nothing.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&format_duration(*d)),
            None => s.serialize_none(),
        }
    }

    /// Deserialises from a string like `"60s"`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        duration::deserialize(d).map(Some)
    }
}

/// Serde helpers for size fields, held as bytes.
pub mod size {
    use super::*;

    /// Serialises exactly, as `"1000000B"`: a rounded `"1.0 MB"` would not read back the same.
    pub fn serialize<S: Serializer>(bytes: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{bytes}B"))
    }

    /// Deserialises from a string like `"1MB"`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = u64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size like \"1MB\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
                parse_size(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration(" 1h 30m "), Ok(Duration::from_secs(5400)));
        let err = parse_duration("sixty").unwrap_err();
        assert_eq!(
            err,
            "expected a duration like \"60s\" or \"5m\", found \"sixty\""
        );
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-5s").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1MB"), Ok(1_000_000));
        assert_eq!(parse_size("1MiB"), Ok(1_048_576));
        assert_eq!(parse_size("512 KiB"), Ok(524_288));
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("100 B"), Ok(100));
        assert_eq!(parse_size("1.5 KB"), Ok(1_500));
        assert_eq!(parse_size("10mb"), Ok(10_000_000));
        assert_eq!(parse_size("2k"), Ok(2_000));
        assert_eq!(parse_size("2ki"), Ok(2_048));
        assert!(parse_size("").is_err());
        assert!(parse_size("-1MB").is_err());
        assert!(parse_size("lots").unwrap_err().contains("found \"lots\""));
    }

    #[test]
    fn sizes_round_trip_exactly() {
        for bytes in [1u64, 1_000, 1_048_576, 100_000_000, 100_034_150] {
            let text = serde_json::to_string(&Wrap(bytes)).unwrap();
            assert_eq!(
                serde_json::from_str::<Wrap>(&text).unwrap().0,
                bytes,
                "{text}"
            );
        }
    }

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Wrap(#[serde(with = "size")] u64);

    #[test]
    fn durations_round_trip_through_their_format() {
        for secs in [1, 59, 60, 3600, 86_400, 90_061, 365 * 86_400] {
            let d = Duration::from_secs(secs);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
        assert_eq!(format_duration(Duration::from_secs(365 * 86_400)), "365d");
        assert_eq!(format_duration(Duration::from_secs(90_061)), "1d 1h 1m 1s");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
    }
}
