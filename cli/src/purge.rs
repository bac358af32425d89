//! `wynctl purge URL... | --prefix P | --all`: the edge's admin purge.

use anyhow::Context;
use serde_json::json;

/// What to purge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// These URLs (or paths).
    Urls(Vec<String>),
    /// Everything under a path prefix.
    Prefix(String),
    /// Everything.
    All,
}

/// The admin API's request body.
pub fn body(target: &Target) -> serde_json::Value {
    match target {
        Target::Urls(urls) => json!({ "urls": urls }),
        Target::Prefix(p) => json!({ "prefix": p }),
        Target::All => json!({ "all": true }),
    }
}

/// Sends the purge; exit 0 when the edge took it.
pub async fn run(
    client: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    target: &Target,
    json_out: bool,
) -> anyhow::Result<u8> {
    let token = token.context("purging needs the admin token: --token or WYN_ADMIN_TOKEN")?;
    let url = format!("{}/__edge/purge", base.trim_end_matches('/'));
    let resp = client
        .post(&url)
        .bearer_auth(token)
        .json(&body(target))
        .send()
        .await
        .with_context(|| format!("cannot reach the edge at {url}"))?;
    let status = resp.status();
    let text = resp.text().await?;
    anyhow::ensure!(
        status.is_success(),
        "the edge refused the purge ({status}): {text}"
    );
    if json_out {
        println!("{text}");
    } else {
        println!("purged: {text}");
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies() {
        assert_eq!(body(&Target::All).to_string(), r#"{"all":true}"#);
        assert_eq!(
            body(&Target::Prefix("/venues/".into())).to_string(),
            r#"{"prefix":"/venues/"}"#
        );
        assert_eq!(
            body(&Target::Urls(vec!["https://wyn.app/a".into()])).to_string(),
            r#"{"urls":["https://wyn.app/a"]}"#
        );
    }
}
