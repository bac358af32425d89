//! The four rows both benchmark tools measure: what is sent, from which clients, and what
//! answer is expected.

use crate::load::Clients;

/// Where the two workers run, every row: raw workerd, each with `bench/cache/cache.js` as its
/// Cache API (in its own process).
pub const RUNTIME: &str = "raw workerd (Cache API: bench/cache, in memory)";

/// The answer a row must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Miss,
    Hit,
    Preflight,
    Refused,
}

impl Expect {
    /// The status the row's answers have.
    pub fn status(self) -> u16 {
        match self {
            Self::Miss | Self::Hit => 200,
            Self::Preflight => 204,
            Self::Refused => 429,
        }
    }

    /// The smallest share of a run's answers that must have [`Expect::status`]: all but one in a
    /// thousand, except on the 429 row, where the limiters keep letting their rate through (10 a
    /// second for the shipped `api` rule) and a fixed window (Hono's) lets a whole limit through
    /// when it turns ({200: 600, 429: 43,473} in one 5 s run).
    pub fn min_share(self) -> f64 {
        match self {
            Self::Refused => 0.9,
            Self::Miss | Self::Hit | Self::Preflight => 0.999,
        }
    }
}

/// One request shape to measure.
pub struct Row {
    pub title: &'static str,
    pub method: &'static str,
    pub path: &'static str,
    pub headers: Vec<(String, String)>,
    pub clients: Clients,
    pub expect: Expect,
}

/// An origin the shipped CORS policy allows.
pub const ALLOWED_ORIGIN: &str = "https://wyn.app";
/// The client the 429 row hammers (TEST-NET-2).
pub const LIMITED_CLIENT: &str = "198.51.100.7";

/// The rows, with `clients` rotating client addresses where a row rotates them.
pub fn rows(clients: u32) -> Vec<Row> {
    let origin = ("origin".to_owned(), ALLOWED_ORIGIN.to_owned());
    vec![
        Row {
            title: "1. proxied miss",
            method: "GET",
            path: "/api/health",
            headers: vec![origin.clone()],
            clients: Clients::Rotate(clients),
            expect: Expect::Miss,
        },
        Row {
            title: "2. cache hit",
            method: "GET",
            path: "/static/app.css",
            headers: vec![],
            clients: Clients::Rotate(clients),
            expect: Expect::Hit,
        },
        Row {
            title: "3. CORS preflight",
            method: "OPTIONS",
            path: "/api/venues",
            headers: vec![
                origin.clone(),
                ("access-control-request-method".into(), "POST".into()),
                (
                    "access-control-request-headers".into(),
                    "content-type".into(),
                ),
            ],
            clients: Clients::Rotate(clients),
            expect: Expect::Preflight,
        },
        Row {
            title: "4. rate-limited (429)",
            method: "GET",
            path: "/api/health",
            headers: vec![origin],
            clients: Clients::Fixed(LIMITED_CLIENT.to_owned()),
            expect: Expect::Refused,
        },
    ]
}

impl Row {
    /// The request as the report prints it.
    pub fn request_line(&self) -> String {
        let mut line = format!("{} {}", self.method, self.path);
        for (name, value) in &self.headers {
            line.push_str(&format!(", {name}: {value}"));
        }
        line
    }
}
