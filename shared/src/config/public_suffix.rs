//! Whether a domain is a public suffix (`com`, `co.uk`, `vercel.app`): a pattern like
//! `https://*.vercel.app` would trust every stranger's site under it.
//!
//! With the `psl` feature (wynctl and the native tests) the answer comes from the full Public
//! Suffix List. The worker builds without it: the list costs 260 KB of gzipped wasm, more than the
//! whole worker. There a compact rule answers: one-label domains (TLDs), two-label domains under
//! the usual second-level registries (`co.uk`, `com.au`), and the shared hosting suffixes a web app
//! is likely to name. It can miss an obscure suffix the full list knows, never the reverse, so
//! `wynctl config check` (run before every deploy) is the stricter of the two.
//!
//! ```
//! use wyn_edge_shared::config::public_suffix::is_public_suffix;
//! assert!(is_public_suffix("vercel.app"));
//! assert!(is_public_suffix("com"));
//! assert!(!is_public_suffix("wyn.app"));
//! ```

/// Shared hosting suffixes (from the PSL's private section) that a web app's config may name.
const HOSTING: [&str; 24] = [
    "vercel.app",
    "now.sh",
    "netlify.app",
    "pages.dev",
    "workers.dev",
    "github.io",
    "gitlab.io",
    "herokuapp.com",
    "fly.dev",
    "onrender.com",
    "web.app",
    "firebaseapp.com",
    "appspot.com",
    "azurewebsites.net",
    "azurestaticapps.net",
    "cloudfront.net",
    "amplifyapp.com",
    "railway.app",
    "deno.dev",
    "glitch.me",
    "repl.co",
    "ngrok.io",
    "ngrok-free.app",
    "supabase.co",
];

/// Second-level labels that registries sell under country-code TLDs (`co.uk`, `com.au`).
const SECOND_LEVEL: [&str; 9] = ["co", "com", "net", "org", "gov", "ac", "edu", "ne", "or"];

/// Whether `domain` (lower case, no trailing dot) is a public suffix.
pub fn is_public_suffix(domain: &str) -> bool {
    if domain.is_empty() {
        return true;
    }
    #[cfg(feature = "psl")]
    {
        if psl::suffix_str(domain) == Some(domain) {
            return true;
        }
    }
    let labels: Vec<&str> = domain.split('.').collect();
    match labels.as_slice() {
        [_] => true,
        [second, tld] if tld.len() == 2 && SECOND_LEVEL.contains(second) => true,
        _ => HOSTING.contains(&domain),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_suffixes() {
        for d in [
            "com",
            "app",
            "uk",
            "co.uk",
            "com.au",
            "vercel.app",
            "github.io",
            "pages.dev",
            "workers.dev",
        ] {
            assert!(is_public_suffix(d), "{d}");
        }
    }

    #[test]
    fn registrable_domains() {
        for d in [
            "wyn.app",
            "example.com",
            "example.co.uk",
            "wyn.vercel.app",
            "a.b.example.com",
        ] {
            assert!(!is_public_suffix(d), "{d}");
        }
    }

    #[cfg(feature = "psl")]
    #[test]
    fn the_full_list_knows_more() {
        assert!(is_public_suffix("blogspot.com"));
        assert!(is_public_suffix("s3.amazonaws.com"));
    }
}
