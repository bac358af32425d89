//! Request ids: honour a well-formed `X-Request-Id` from the client, else make one.
//!
//! A well-formed id is 1 to 128 characters from `[A-Za-z0-9._:-]`: enough for UUIDs, ULIDs and
//! trace ids, and nothing that could break a log line or a header.
//!
//! ```
//! use wyn_edge::request_id::accept;
//! assert_eq!(accept(Some("3f2a-77")), Some("3f2a-77"));
//! assert_eq!(accept(Some("bad id\r\nx: y")), None);
//! ```

/// Longest id the edge passes on.
pub const MAX_LEN: usize = 128;

/// The client's id, if it is well formed.
pub fn accept(incoming: Option<&str>) -> Option<&str> {
    incoming.filter(|id| is_well_formed(id))
}

/// Whether `id` may be used as a request id.
pub fn is_well_formed(id: &str) -> bool {
    (1..=MAX_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_common_id_shapes() {
        for id in [
            "a",
            "0f8fad5b-d9cb-469f-a165-70867728950e",
            "01ARZ3NDEKTSV4RRFFQ69G5FAV",
            "trace:span.1_2",
        ] {
            assert_eq!(accept(Some(id)), Some(id));
        }
    }

    #[test]
    fn refuses_malformed_ids() {
        let long = "x".repeat(MAX_LEN + 1);
        for id in [
            "",
            " ",
            "a b",
            "a\tb",
            "é",
            "a/b",
            "<script>",
            "a,b",
            long.as_str(),
        ] {
            assert_eq!(accept(Some(id)), None, "{id:?}");
        }
        assert_eq!(accept(None), None);
        assert!(is_well_formed(&"x".repeat(MAX_LEN)));
    }
}
