//! `wynctl deployments` (recent deployments with their traffic split) and `wynctl rollback`.

use std::collections::BTreeMap;
use std::io::IsTerminal;

use anyhow::bail;

use crate::wrangler::{Deployment, Version, Wrangler};

/// The table: newest deployment first, each version with its share, number and message.
pub fn render(deployments: &[Deployment], versions: &[Version]) -> String {
    let by_id: BTreeMap<&str, &Version> = versions.iter().map(|v| (v.id.as_str(), v)).collect();
    let mut out = format!(
        "{:<24} {:<10} {:<22} {}\n",
        "created", "source", "author", "versions (share, number, message)"
    );
    for d in deployments.iter().rev() {
        let created: String = d.created_on.chars().take(19).collect();
        out.push_str(&format!(
            "{:<24} {:<10} {:<22} {}\n",
            created,
            d.source,
            d.author_email,
            d.message().unwrap_or("-")
        ));
        for t in &d.versions {
            let v = by_id.get(t.version_id.as_str());
            out.push_str(&format!(
                "{:<24} {:>9}% {}{}{}\n",
                "",
                t.percentage,
                t.version_id,
                v.and_then(|v| v.number)
                    .map_or(String::new(), |n| format!(" #{n}")),
                v.and_then(|v| v.annotations.get("workers/message"))
                    .map_or(String::new(), |m| format!(" \"{m}\"")),
            ));
        }
    }
    out
}

/// `wynctl deployments`: exit 0, or an error when wrangler cannot answer.
pub fn list(wrangler: &Wrangler, json: bool) -> anyhow::Result<u8> {
    let deployments = wrangler.deployments()?;
    let versions = wrangler.versions()?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "deployments": deployments,
                "versions": versions,
            }))?
        );
    } else {
        print!("{}", render(&deployments, &versions));
    }
    Ok(0)
}

/// `wynctl rollback [VERSION] [-m MESSAGE]`: puts a version back on all traffic (without one,
/// the previous stable version wrangler picks). Exit 0 done, 1 declined.
pub fn rollback(
    wrangler: &Wrangler,
    version: Option<&str>,
    message: Option<&str>,
    yes: bool,
    json: bool,
) -> anyhow::Result<u8> {
    let current = wrangler.status()?;
    if !yes {
        if !std::io::stdin().is_terminal() {
            bail!("no terminal to confirm on: pass --yes to roll back");
        }
        eprint!(
            "Now serving {}. Put {} on all traffic? [y/N] ",
            current.split(),
            version.unwrap_or("the previous stable version")
        );
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        if !matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
            eprintln!("wynctl: nothing changed");
            return Ok(1);
        }
    }
    let message = message.unwrap_or("wynctl rollback");
    let now = wrangler.rollback(version, message)?;
    if let Some(v) = version
        && now.sole_version() != Some(v)
    {
        bail!(
            "asked to put {v} on all traffic, but the deployment now serves {}",
            now.split()
        );
    }
    if json {
        println!(
            "{}",
            serde_json::json!({"before": current, "after": now, "message": message})
        );
    } else {
        println!("rolled back: was {}, now {}", current.split(), now.split());
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_puts_the_newest_deployment_first_with_its_split() {
        let deployments: Vec<Deployment> = serde_json::from_str(
            r#"[{"id":"d1","source":"wrangler","author_email":"ops@wyn.app","created_on":"2026-11-26T09:00:00.000000Z","annotations":{},"versions":[{"version_id":"v1","percentage":100}]},
                {"id":"d2","source":"wrangler","author_email":"ops@wyn.app","created_on":"2026-11-27T10:00:00.000000Z","annotations":{"workers/message":"step 1/3"},"versions":[{"version_id":"v2","percentage":10},{"version_id":"v1","percentage":90}]}]"#,
        )
        .unwrap();
        let versions: Vec<Version> = serde_json::from_str(
            r#"[{"id":"v1","number":7,"metadata":{},"annotations":{"workers/message":"menu search"}},{"id":"v2","number":8,"metadata":{}}]"#,
        )
        .unwrap();
        let text = render(&deployments, &versions);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].starts_with("2026-11-27T10:00:00"), "{text}");
        assert!(lines[1].ends_with("step 1/3"), "{text}");
        assert!(lines[2].trim_start().starts_with("10% v2 #8"), "{text}");
        assert!(lines[3].contains("90% v1 #7 \"menu search\""), "{text}");
        assert!(lines[4].starts_with("2026-11-26T09:00:00"), "{text}");
    }
}
