//! The one place wynctl talks to Cloudflare: through the `wrangler` CLI. Everything it runs and
//! everything it reads back (machine-readable output, `--json` listings) goes through here.
//!
//! Which wrangler: `$WYN_WRANGLER` when set, else `wrangler` on `PATH`, else the project's
//! `node_modules/.bin/wrangler`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// A worker version's id.
pub type VersionId = String;

/// One version's share of traffic in a deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Traffic {
    /// The version.
    pub version_id: VersionId,
    /// Its share, 0 to 100.
    pub percentage: f64,
}

/// A deployment as `wrangler deployments list --json` and `status --json` print it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deployment {
    /// Deployment id.
    #[serde(default)]
    pub id: String,
    /// When it was made (RFC 3339).
    #[serde(default)]
    pub created_on: String,
    /// What made it (`wrangler`, `api`, `dash`...).
    #[serde(default)]
    pub source: String,
    /// Who made it.
    #[serde(default)]
    pub author_email: String,
    /// `workers/message`, `workers/triggered_by`...
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The versions it serves and their shares.
    pub versions: Vec<Traffic>,
}

/// Wrangler's own notation, `VERSION@PERCENTAGE%`.
impl std::fmt::Display for Traffic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}%", self.version_id, self.percentage)
    }
}

impl Deployment {
    /// Its split in wrangler's notation: `new@10% old@90%`.
    pub fn split(&self) -> String {
        self.versions
            .iter()
            .map(Traffic::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    }
    /// The version serving all traffic, if one does.
    pub fn sole_version(&self) -> Option<&str> {
        match self.versions.as_slice() {
            [only] if only.percentage >= 100.0 => Some(&only.version_id),
            _ => None,
        }
    }
    /// The share of `version`, 0 when it has none.
    pub fn share_of(&self, version: &str) -> f64 {
        self.versions
            .iter()
            .filter(|t| t.version_id == version)
            .map(|t| t.percentage)
            .sum()
    }
    /// The deployment's message, if any.
    pub fn message(&self) -> Option<&str> {
        self.annotations.get("workers/message").map(String::as_str)
    }
}

/// A version as `wrangler versions list --json` prints it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Version {
    /// Version id.
    pub id: VersionId,
    /// Its number, counting up per worker.
    #[serde(default)]
    pub number: Option<u64>,
    /// `created_on`, `author_email`, `source`...
    #[serde(default)]
    pub metadata: BTreeMap<String, serde_json::Value>,
    /// `workers/tag`, `workers/message`...
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// How to run wrangler for one worker environment.
#[derive(Debug, Clone)]
pub struct Wrangler {
    program: PathBuf,
    config: PathBuf,
    env: Option<String>,
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

impl Wrangler {
    /// Wrangler for the worker described by `config` (wrangler.toml) and `env`.
    pub fn new(config: &Path, env: Option<&str>) -> anyhow::Result<Self> {
        let program = std::env::var_os("WYN_WRANGLER")
            .map(PathBuf::from)
            .or_else(|| on_path("wrangler"))
            .or_else(|| {
                let local = PathBuf::from("node_modules/.bin/wrangler");
                local.is_file().then_some(local)
            })
            .context(
                "wrangler not found: set WYN_WRANGLER, put wrangler on PATH or run `make tools`",
            )?;
        Ok(Self {
            program,
            config: config.to_path_buf(),
            env: env.map(str::to_owned),
        })
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(args).arg("--config").arg(&self.config);
        if let Some(env) = &self.env {
            cmd.args(["--env", env]);
        }
        cmd.env("WRANGLER_SEND_METRICS", "false")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs wrangler; its stdout on success, its own words on failure.
    fn run(&self, args: &[&str], output_file: Option<&Path>) -> anyhow::Result<String> {
        let mut cmd = self.command(args);
        if let Some(path) = output_file {
            cmd.env("WRANGLER_OUTPUT_FILE_PATH", path);
        }
        let out = cmd
            .output()
            .with_context(|| format!("running {}", self.program.display()))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            bail!(
                "`wrangler {}` failed ({}):\n{}{}",
                args.join(" "),
                out.status,
                stderr.trim_end(),
                if stdout.trim().is_empty() {
                    String::new()
                } else {
                    format!("\n{}", stdout.trim_end())
                }
            );
        }
        Ok(stdout)
    }

    /// Runs wrangler and parses the JSON document it prints (after any banner line).
    fn json<T: serde::de::DeserializeOwned>(&self, args: &[&str]) -> anyhow::Result<T> {
        let out = self.run(args, None)?;
        let start = out
            .find(['[', '{'])
            .with_context(|| format!("`wrangler {}` printed no JSON: {out}", args.join(" ")))?;
        serde_json::from_str(&out[start..])
            .with_context(|| format!("reading the JSON of `wrangler {}`", args.join(" ")))
    }

    /// The deployment serving now.
    pub fn status(&self) -> anyhow::Result<Deployment> {
        self.json(&["deployments", "status", "--json"])
    }

    /// Recent deployments, oldest first.
    pub fn deployments(&self) -> anyhow::Result<Vec<Deployment>> {
        self.json(&["deployments", "list", "--json"])
    }

    /// Recent versions, oldest first.
    pub fn versions(&self) -> anyhow::Result<Vec<Version>> {
        self.json(&["versions", "list", "--json"])
    }

    /// Uploads the built worker as a new version (serving no traffic); its id, read from
    /// wrangler's machine-readable output.
    pub fn upload(&self, message: &str, scratch: &Path) -> anyhow::Result<VersionId> {
        // One file per wynctl process: two deploys from one directory must not read (or delete)
        // each other's entries.
        let file = scratch.join(format!("wrangler-upload-{}.jsonl", std::process::id()));
        let _ = std::fs::remove_file(&file);
        self.run(&["versions", "upload", "--message", message], Some(&file))?;
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("wrangler wrote no output file at {}", file.display()));
        let _ = std::fs::remove_file(&file);
        version_from_output(&text?)
    }

    /// Splits traffic as given (shares must add up to 100) and checks that the platform now
    /// serves that split.
    pub fn deploy(&self, split: &[Traffic], message: &str) -> anyhow::Result<Deployment> {
        let specs: Vec<String> = split.iter().map(Traffic::to_string).collect();
        let mut args = vec!["versions", "deploy"];
        args.extend(specs.iter().map(String::as_str));
        args.extend(["--message", message, "--yes"]);
        self.run(&args, None)?;
        let now = self.status()?;
        for t in split {
            let share = now.share_of(&t.version_id);
            if (share - t.percentage).abs() > 0.01 {
                bail!(
                    "asked for {} at {}%, but the deployment now serves it at {share}%",
                    t.version_id,
                    t.percentage
                );
            }
        }
        Ok(now)
    }

    /// Puts `version` (or, without one, the previous stable version wrangler picks) back on all
    /// traffic.
    pub fn rollback(&self, version: Option<&str>, message: &str) -> anyhow::Result<Deployment> {
        let mut args = vec!["rollback"];
        args.extend(version);
        args.extend(["--message", message, "--yes"]);
        self.run(&args, None)?;
        self.status()
    }

    /// Bundles the worker as a deploy would, without deploying: `wrangler deploy --dry-run`.
    pub fn dry_run(&self, outdir: &Path) -> anyhow::Result<String> {
        let outdir = outdir.to_string_lossy();
        self.run(&["deploy", "--dry-run", "--outdir", &outdir], None)
    }
}

/// The version id in wrangler's output-file entries (one JSON object per line).
pub fn version_from_output(text: &str) -> anyhow::Result<VersionId> {
    #[derive(Deserialize)]
    struct Entry {
        #[serde(rename = "type")]
        kind: String,
        #[serde(default)]
        version_id: Option<String>,
    }
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| serde_json::from_str::<Entry>(l).ok())
        .filter(|e| e.kind == "version-upload")
        .filter_map(|e| e.version_id)
        .next_back()
        .context("wrangler's output file has no version-upload entry with a version id")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upload_entry_names_the_version() {
        let text = concat!(
            r#"{"version":1,"type":"wrangler-session","wrangler_version":"4.86.0","command_line_args":["versions","upload"],"log_file_path":"/x.log","timestamp":"2026-11-27T10:00:00.000Z"}"#,
            "\n",
            r#"{"version":1,"type":"version-upload","worker_name":"wyn-edge","worker_tag":"abc","version_id":"0e1f2a3b-4c5d-6e7f-8091-a2b3c4d5e6f7","preview_url":null,"timestamp":"2026-11-27T10:00:02.000Z"}"#,
            "\n"
        );
        assert_eq!(
            version_from_output(text).unwrap(),
            "0e1f2a3b-4c5d-6e7f-8091-a2b3c4d5e6f7"
        );
        assert!(version_from_output("{\"type\":\"wrangler-session\"}\nnot json\n").is_err());
    }

    #[test]
    fn deployments_read_as_wrangler_prints_them() {
        let d: Deployment = serde_json::from_str(
            r#"{"id":"d1","source":"wrangler","strategy":"percentage","author_email":"ops@wyn.app","created_on":"2026-11-27T10:00:00Z","annotations":{"workers/message":"step 1"},"versions":[{"version_id":"new","percentage":10},{"version_id":"old","percentage":90}]}"#,
        )
        .unwrap();
        assert_eq!(d.share_of("new"), 10.0);
        assert_eq!(d.share_of("gone"), 0.0);
        assert_eq!(d.sole_version(), None);
        assert_eq!(d.message(), Some("step 1"));
        let whole: Deployment =
            serde_json::from_str(r#"{"versions":[{"version_id":"old","percentage":100}]}"#)
                .unwrap();
        assert_eq!(whole.sole_version(), Some("old"));
    }
}
