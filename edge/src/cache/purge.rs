//! Purges without listing the cache: the Cache API deletes by exact URL only, so every key carries
//! a *generation*, and a purge raises the generation of what it covers. Old entries are never
//! found again and expire on their own.
//!
//! The generations (one for everything, one per purged path or prefix) live in a Durable Object;
//! each isolate re-reads them every `cache.purge_refresh`, so a purge reaches every isolate within
//! that time. At most [`MAX_RULES`] path rules are kept: past that, they collapse into one purge
//! of everything, which is always correct, only colder.
//!
//! ```
//! use wyn_edge::cache::purge::Purges;
//! let mut p = Purges::default();
//! let before = p.generation("/venues/1");
//! p.purge_prefix("/venues/");
//! assert!(p.generation("/venues/1") > before);
//! assert_eq!(p.generation("/api/venues"), before);
//! ```

use serde::{Deserialize, Serialize};

/// Most path rules kept before they collapse into a purge of everything.
pub const MAX_RULES: usize = 256;

/// A purge of one path, or of every path starting with a prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeRule {
    /// The path (normalised) or prefix.
    pub path: String,
    /// Whether `path` is a prefix.
    pub prefix: bool,
    /// The generation it set.
    pub generation: u64,
}

/// The purge generations.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Purges {
    /// The generation of everything.
    pub all: u64,
    /// The last generation handed out.
    pub last: u64,
    /// Path and prefix purges newer than `all`.
    pub rules: Vec<PurgeRule>,
}

/// A purge request, as the admin API takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Purge {
    /// These URLs' paths (any query).
    Urls(Vec<String>),
    /// Every path under this prefix.
    Prefix(String),
    /// Everything.
    All(bool),
}

impl Purges {
    /// The generation a (normalised) path's keys are stored under.
    pub fn generation(&self, path: &str) -> u64 {
        self.rules
            .iter()
            .filter(|r| {
                if r.prefix {
                    path.starts_with(&r.path)
                } else {
                    path == r.path
                }
            })
            .map(|r| r.generation)
            .fold(self.all, u64::max)
    }

    fn next(&mut self) -> u64 {
        self.last += 1;
        self.last
    }

    /// Purges everything.
    pub fn purge_all(&mut self) {
        self.all = self.next();
        self.rules.clear();
    }

    /// Purges one path.
    pub fn purge_path(&mut self, path: &str) {
        self.add(path, false);
    }

    /// Purges every path starting with `prefix`.
    pub fn purge_prefix(&mut self, prefix: &str) {
        self.add(prefix, true);
    }

    fn add(&mut self, path: &str, prefix: bool) {
        let generation = self.next();
        self.rules
            .retain(|r| !(r.path == path && r.prefix == prefix));
        self.rules.push(PurgeRule {
            path: path.to_owned(),
            prefix,
            generation,
        });
        if self.rules.len() > MAX_RULES {
            self.purge_all();
        }
    }

    /// Applies a purge request; `normalize` turns a URL or path into the normalised path.
    pub fn apply(
        &mut self,
        purge: &Purge,
        normalize: impl Fn(&str) -> Option<String>,
    ) -> Result<usize, String> {
        match purge {
            Purge::All(true) => self.purge_all(),
            Purge::All(false) => return Err("\"all\" must be true".into()),
            Purge::Prefix(p) if p.starts_with('/') => {
                self.purge_prefix(&normalize(p).unwrap_or_else(|| p.clone()))
            }
            Purge::Prefix(p) => return Err(format!("a prefix starts with \"/\", found {p:?}")),
            Purge::Urls(urls) if urls.is_empty() || urls.len() > 100 => {
                return Err("expected 1 to 100 URLs".into());
            }
            Purge::Urls(urls) => {
                let paths: Vec<String> = urls
                    .iter()
                    .map(|u| normalize(u).ok_or_else(|| format!("not a URL or path: {u:?}")))
                    .collect::<Result<_, _>>()?;
                for p in &paths {
                    self.purge_path(p);
                }
                return Ok(paths.len());
            }
        }
        Ok(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> Option<String> {
        let path = s
            .split_once("://")
            .map_or(s, |(_, rest)| rest.find('/').map_or("/", |i| &rest[i..]));
        let path = path.split('?').next().unwrap_or(path);
        path.starts_with('/').then(|| path.to_owned())
    }

    #[test]
    fn paths_prefixes_and_everything() {
        let mut p = Purges::default();
        assert_eq!(p.generation("/a"), 0);
        p.apply(
            &Purge::Urls(vec!["https://wyn.app/venues/1?x=1".into()]),
            norm,
        )
        .unwrap();
        assert_eq!(p.generation("/venues/1"), 1);
        assert_eq!(p.generation("/venues/2"), 0);
        p.apply(&Purge::Prefix("/venues/".into()), norm).unwrap();
        assert_eq!(p.generation("/venues/2"), 2);
        assert_eq!(p.generation("/venues/1"), 2);
        assert_eq!(p.generation("/api/x"), 0);
        p.apply(&Purge::All(true), norm).unwrap();
        assert!(p.rules.is_empty());
        assert_eq!(p.generation("/api/x"), 3);
        assert_eq!(p.generation("/venues/1"), 3);
    }

    #[test]
    fn rules_are_bounded() {
        let mut p = Purges::default();
        for i in 0..=MAX_RULES {
            p.purge_path(&format!("/p/{i}"));
        }
        assert!(p.rules.is_empty());
        assert_eq!(p.generation("/anything"), p.last);
        // Purging the same path twice keeps one rule.
        p.purge_path("/x");
        p.purge_path("/x");
        assert_eq!(p.rules.len(), 1);
    }

    #[test]
    fn bad_requests_say_why() {
        let mut p = Purges::default();
        assert!(
            p.apply(&Purge::Prefix("venues".into()), norm)
                .unwrap_err()
                .contains("starts with")
        );
        assert!(p.apply(&Purge::Urls(vec![]), norm).is_err());
        assert!(
            p.apply(&Purge::Urls(vec!["nonsense".into()]), norm)
                .unwrap_err()
                .contains("nonsense")
        );
        assert!(p.apply(&Purge::All(false), norm).is_err());
        let parsed: Purge = serde_json::from_str(r#"{"prefix":"/venues/"}"#).unwrap();
        assert_eq!(parsed, Purge::Prefix("/venues/".into()));
        assert_eq!(
            serde_json::from_str::<Purge>(r#"{"all":true}"#).unwrap(),
            Purge::All(true)
        );
    }
}
