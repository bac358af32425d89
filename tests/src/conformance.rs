//! Scoring a run of the cache-tests.fyi suite (npm `http-cache-tests`), which `make conformance`
//! drives through the edge.
//!
//! The suite's client prints one entry per test id: `true` when it passed, else
//! `[error name, message]`. What an entry means depends on the test's definition: its `kind`
//! (`required` or none, `optimal`, `check`) and the tests it `depends_on`. [`score`] judges every
//! test the way the suite's own results page does (`lib/display.mjs`, `determineTestResult`):
//!
//! ```
//! use wyn_edge_tests::conformance::{parse_definitions, parse_results, score};
//! let defs = parse_definitions(r#"[{"id": "a"}, {"id": "b", "kind": "optimal"}]"#).unwrap();
//! let results = parse_results(r#"{"a": true, "b": ["Assertion", "Response 2 comes from cache"]}"#).unwrap();
//! let score = score(&defs, &results).unwrap();
//! assert_eq!(score.report(), "conformance: required passed 1 / 1\nconformance: optional passed 0 / 1\n");
//! ```

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// The suite's version, pinned in package.json.
pub const SUITE_VERSION: &str = "0.4.5";

/// What a test asks of a cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The specification's requirement (`kind: 'required'`, or no kind).
    Required,
    /// Better behaviour that the specification allows but does not require (`kind: 'optimal'`).
    Optimal,
    /// A question about how the cache behaves, neither right nor wrong (`kind: 'check'`).
    Check,
}

/// One test's definition, as far as scoring needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestDef {
    pub id: String,
    pub kind: Kind,
    /// Tests that must pass (or answer "yes") for this one's result to count.
    pub depends_on: Vec<String>,
    /// Run only against browser caches; the command-line client skips it.
    pub browser_only: bool,
}

#[derive(Deserialize)]
struct RawDef {
    id: String,
    kind: Option<String>,
    #[serde(default)]
    depends_on: Vec<String>,
    #[serde(default)]
    browser_only: bool,
}

/// Reads the definitions `[{id, kind?, depends_on?, browser_only?}, ...]` dumped from the suite's
/// test modules.
pub fn parse_definitions(json: &str) -> Result<Vec<TestDef>> {
    let raw: Vec<RawDef> = serde_json::from_str(json).context("the suite's test definitions")?;
    let defs = raw
        .into_iter()
        .map(|d| {
            let kind = match d.kind.as_deref() {
                None | Some("required") => Kind::Required,
                Some("optimal") => Kind::Optimal,
                Some("check") => Kind::Check,
                Some(other) => bail!(
                    "test {}: kind: expected required, optimal or check, found {other:?}",
                    d.id
                ),
            };
            Ok(TestDef {
                id: d.id,
                kind,
                depends_on: d.depends_on,
                browser_only: d.browser_only,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let ids: HashMap<&str, ()> = defs.iter().map(|d| (d.id.as_str(), ())).collect();
    for def in &defs {
        if let Some(missing) = def
            .depends_on
            .iter()
            .find(|d| !ids.contains_key(d.as_str()))
        {
            bail!("test {} depends on {missing}, which is not defined", def.id);
        }
    }
    Ok(defs)
}

/// What the client reported for one test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Outcome {
    Passed,
    /// The error the test ended with: `Assertion` (the cache misbehaved), `Setup` (the test could
    /// not get to its point), or a transport error such as `FetchError`.
    Failed {
        name: String,
        message: String,
    },
}

/// Reads the client's JSON output: `{"test-id": true | ["Name", "message"], ...}`.
pub fn parse_results(json: &str) -> Result<BTreeMap<String, Outcome>> {
    let raw: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(json).context("the client's results")?;
    raw.into_iter()
        .map(|(id, value)| {
            let outcome = match &value {
                serde_json::Value::Bool(true) => Outcome::Passed,
                serde_json::Value::Array(parts) => match parts.as_slice() {
                    [name, message, ..] => Outcome::Failed {
                        name: name.as_str().unwrap_or_default().to_owned(),
                        message: message.as_str().unwrap_or_default().to_owned(),
                    },
                    _ => bail!("result of {id}: expected [name, message], found {value}"),
                },
                _ => bail!("result of {id}: expected true or [name, message], found {value}"),
            };
            Ok((id, outcome))
        })
        .collect()
}

/// A test's result as the suite's results page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    /// A required test failed: a conformance problem.
    Fail,
    /// An optimal test failed: the cache could have done better.
    OptionalFail,
    /// A check answered yes.
    Yes,
    /// A check answered no.
    No,
    /// The test could not get to its point (often: something between client and origin
    /// interfered with the set-up requests).
    SetupFail,
    /// The cache retried a request; the result needs reading by hand.
    Retry,
    /// A test this one depends on did not pass, so this one's result does not count.
    DependencyFail,
    /// The client reported nothing for it.
    Untested,
}

/// Passed out of run, for one kind of test.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub passed: usize,
    pub total: usize,
}

/// One test's verdict and the client's error, for the record written next to the results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Judged {
    pub kind: Kind,
    pub verdict: Verdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Outcome>,
}

/// The score of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Score {
    pub required: Tally,
    pub optional: Tally,
    /// Checks that answered yes, out of those run (informational, in no score).
    pub checks_yes: Tally,
    /// Required tests that did not pass, by id.
    pub failing_required: Vec<String>,
    /// Every test the command-line client runs, by id.
    pub tests: BTreeMap<String, Judged>,
}

impl Score {
    /// The lines `make conformance` prints: the two score lines, then one `  fail: ID` line per
    /// required test that did not pass.
    pub fn report(&self) -> String {
        let mut out = format!(
            "conformance: required passed {} / {}\nconformance: optional passed {} / {}\n",
            self.required.passed, self.required.total, self.optional.passed, self.optional.total
        );
        for id in &self.failing_required {
            out.push_str(&format!("  fail: {id}\n"));
        }
        out
    }
}

/// Judges every test the command-line client runs (those not `browser_only`); a test missing from
/// `results` counts as run and not passed. Fails on results for tests that are not defined.
pub fn score(defs: &[TestDef], results: &BTreeMap<String, Outcome>) -> Result<Score> {
    let by_id: HashMap<&str, &TestDef> = defs.iter().map(|d| (d.id.as_str(), d)).collect();
    if let Some(unknown) = results.keys().find(|id| !by_id.contains_key(id.as_str())) {
        bail!("the client reported {unknown}, which the suite does not define");
    }
    let mut score = Score {
        required: Tally::default(),
        optional: Tally::default(),
        checks_yes: Tally::default(),
        failing_required: Vec::new(),
        tests: BTreeMap::new(),
    };
    for def in defs.iter().filter(|d| !d.browser_only) {
        let verdict = judge(&by_id, results, def, 0);
        let tally = match def.kind {
            Kind::Required => &mut score.required,
            Kind::Optimal => &mut score.optional,
            Kind::Check => &mut score.checks_yes,
        };
        tally.total += 1;
        if matches!(verdict, Verdict::Pass | Verdict::Yes) {
            tally.passed += 1;
        } else if def.kind == Kind::Required {
            score.failing_required.push(def.id.clone());
        }
        let error = results
            .get(&def.id)
            .filter(|o| **o != Outcome::Passed)
            .cloned();
        score.tests.insert(
            def.id.clone(),
            Judged {
                kind: def.kind,
                verdict,
                error,
            },
        );
    }
    score.failing_required.sort();
    Ok(score)
}

/// `determineTestResult` of the suite's `lib/display.mjs`, with dependencies honoured.
fn judge(
    by_id: &HashMap<&str, &TestDef>,
    results: &BTreeMap<String, Outcome>,
    def: &TestDef,
    depth: usize,
) -> Verdict {
    let Some(outcome) = results.get(&def.id) else {
        return Verdict::Untested;
    };
    // Dependency chains in the suite are a step or two long; the bound only stops a cycle.
    if depth > 16 {
        return Verdict::DependencyFail;
    }
    let dependency_failed = def.depends_on.iter().any(|dep| {
        by_id.get(dep.as_str()).is_none_or(|d| {
            !matches!(
                judge(by_id, results, d, depth + 1),
                Verdict::Pass | Verdict::Yes
            )
        })
    });
    if dependency_failed {
        return Verdict::DependencyFail;
    }
    let passed = match outcome {
        Outcome::Passed => true,
        Outcome::Failed { name, message } if name == "Setup" => {
            return if message == "retry" {
                Verdict::Retry
            } else {
                Verdict::SetupFail
            };
        }
        Outcome::Failed { .. } => false,
    };
    match (def.kind, passed) {
        (Kind::Required | Kind::Optimal, true) => Verdict::Pass,
        (Kind::Required, false) => Verdict::Fail,
        (Kind::Optimal, false) => Verdict::OptionalFail,
        (Kind::Check, true) => Verdict::Yes,
        (Kind::Check, false) => Verdict::No,
    }
}

/// The `EDGE` policy for a conformance run, as JSON: the committed `wrangler.toml`'s
/// `[vars.EDGE]` without `rate_limits` (the suite sends about 1,500 requests a minute from one
/// address) and without `cors`; everything else, a `cache` table included, as committed.
pub fn edge_policy(wrangler_toml: &str) -> Result<String> {
    let doc: toml::Table = toml::from_str(wrangler_toml).context("wrangler.toml")?;
    let mut edge = doc
        .get("vars")
        .and_then(|v| v.get("EDGE"))
        .and_then(|e| e.as_table())
        .cloned()
        .context("wrangler.toml: expected a [vars.EDGE] table, found none")?;
    edge.remove("rate_limits");
    edge.remove("cors");
    Ok(serde_json::to_string(&edge)?)
}

#[cfg(test)]
mod tests;
