//! Which paths a rule covers, matched on a normalised path so that `/api//chat`, `/api/chat/`,
//! `/API/Chat` and `/api/%63hat` cannot slip past a rule written for `/api/chat`.
//!
//! Patterns: an exact path (`/api/chat`); `*` as a whole segment matches one segment
//! (`/api/*/items`); a trailing `/*` matches the prefix and everything below it (`/venues/*`,
//! `/*`). Matching errs towards covering more, never less.
//!
//! ```
//! use wyn_edge::rate_limit::path_pattern::{normalize, PathPattern};
//! let p = PathPattern::new("/api/chat");
//! assert!(p.matches(&normalize("/API//chat/")));
//! assert!(PathPattern::new("/venues/*").matches(&normalize("/venues/12/menu")));
//! ```

use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Any,
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    segments: Vec<Segment>,
    /// A trailing `/*`: the prefix and anything below it.
    subtree: bool,
}

impl PathPattern {
    /// Compiles a validated pattern (see `shared::config::rate_limit::is_path_pattern`).
    pub fn new(pattern: &str) -> Self {
        let normalized = normalize(pattern);
        let mut segments: Vec<Segment> = normalized
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                if s == "*" {
                    Segment::Any
                } else {
                    Segment::Literal(s.to_owned())
                }
            })
            .collect();
        let subtree = segments.last() == Some(&Segment::Any);
        if subtree {
            segments.pop();
        }
        Self { segments, subtree }
    }

    /// Whether a path, normalised by [`normalize`], is covered.
    pub fn matches(&self, normalized_path: &str) -> bool {
        let mut parts = normalized_path.split('/').filter(|s| !s.is_empty());
        for segment in &self.segments {
            match (segment, parts.next()) {
                (_, None) => return false,
                (Segment::Any, Some(_)) => {}
                (Segment::Literal(lit), Some(part)) if lit == part => {}
                _ => return false,
            }
        }
        self.subtree || parts.next().is_none()
    }
}

/// Lower-cases, decodes percent-escaped unreserved characters, collapses repeated slashes and
/// drops a trailing slash. Borrows when nothing changes (the common case).
pub fn normalize(path: &str) -> Cow<'_, str> {
    let clean = path.len() == 1
        || (!path.ends_with('/')
            && !path.contains("//")
            && !path.bytes().any(|b| b.is_ascii_uppercase() || b == b'%'));
    if clean {
        return Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len());
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let mut b = bytes[i];
        if b == b'%'
            && let Some(decoded) = bytes.get(i + 1..i + 3).and_then(hex_pair)
            && (decoded.is_ascii_alphanumeric() || b"-._~".contains(&decoded))
        {
            b = decoded;
            i += 2;
        }
        i += 1;
        if b == b'/' && out.ends_with('/') {
            continue;
        }
        out.push(b.to_ascii_lowercase() as char);
    }
    while out.len() > 1 && out.ends_with('/') {
        out.pop();
    }
    if out.is_empty() {
        out.push('/');
    }
    Cow::Owned(out)
}

fn hex_pair(pair: &[u8]) -> Option<u8> {
    let hex = |c: u8| (c as char).to_digit(16);
    Some((hex(pair[0])? * 16 + hex(pair[1])?) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation() {
        assert_eq!(normalize("/api/chat"), "/api/chat");
        assert!(matches!(normalize("/api/chat"), Cow::Borrowed(_)));
        assert_eq!(normalize("/API//Chat/"), "/api/chat");
        assert_eq!(normalize("/api/%63hat"), "/api/chat");
        assert_eq!(normalize("/api/%2Fchat"), "/api/%2fchat");
        assert_eq!(normalize("/api/%zz"), "/api/%zz");
        assert_eq!(normalize("/api/%6"), "/api/%6");
        assert_eq!(normalize("//"), "/");
        assert_eq!(normalize("/"), "/");
        assert_eq!(normalize("/%C3%A9"), "/%c3%a9");
    }

    #[test]
    fn exact_patterns() {
        let p = PathPattern::new("/api/chat");
        for path in [
            "/api/chat",
            "/API/chat",
            "/api//chat",
            "/api/chat/",
            "/api/%63hat",
            "//api/chat",
        ] {
            assert!(p.matches(&normalize(path)), "{path}");
        }
        for path in [
            "/api/chats",
            "/api/chat/x",
            "/api",
            "/",
            "/apichat",
            "/x/api/chat",
        ] {
            assert!(!p.matches(&normalize(path)), "{path}");
        }
    }

    #[test]
    fn subtree_patterns() {
        let p = PathPattern::new("/venues/*");
        for path in ["/venues", "/venues/", "/venues/1", "/venues/1/menu"] {
            assert!(p.matches(&normalize(path)), "{path}");
        }
        assert!(!p.matches(&normalize("/venuesx/1")));
        let all = PathPattern::new("/*");
        for path in ["/", "/a", "/a/b/c"] {
            assert!(all.matches(&normalize(path)), "{path}");
        }
    }

    #[test]
    fn one_segment_wildcards() {
        let p = PathPattern::new("/api/*/items");
        assert!(p.matches("/api/v1/items"));
        assert!(!p.matches("/api/items"));
        assert!(!p.matches("/api/v1/x/items"));
        assert!(!p.matches("/api/v1/items/2"));
    }
}
