//! The load generator of `make bench-peers`: HTTP/1.1 over keep-alive connections on loopback,
//! with what the peer benchmark needs and oha cannot give it: a different `CF-Connecting-IP` on
//! every request (so that no rate limiter refuses a throughput run), and a fixed-rate mode whose
//! latencies are corrected for coordinated omission.
//!
//! Two modes, each bounded by a duration:
//! - **closed loop** (`rate: None`): every connection sends its next request as soon as the last
//!   one is answered. Gives the highest rate a system sustains (requests/s).
//! - **open loop** (`rate: Some(r)`): request `i` is released at `start + i / r`, whichever
//!   connection is free takes it, and its latency is counted from its release, not from when it
//!   was sent: a stall delays every request due during it, as real clients would see, instead of
//!   pausing the load (the correction oha applies with `-q` and `--latency-correction`).
//!
//! Everything runs on one thread (like `wrk -t1`), leaving the other core to the system measured.
//!
//! ```no_run
//! # fn run() -> anyhow::Result<()> {
//! use std::time::Duration;
//! use wyn_edge_tests::load::{Clients, Spec};
//! let spec = Spec {
//!     addr: "127.0.0.1:8787".parse()?,
//!     method: "GET".into(),
//!     path: "/api/health".into(),
//!     headers: vec![],
//!     clients: Clients::Rotate(32_768),
//!     connections: 16,
//!     duration: Duration::from_secs(5),
//!     rate: None,
//! };
//! let outcome = spec.run()?;
//! println!("{:.0} req/s, p99 {:?}", outcome.rps(), outcome.percentile(99.0));
//! # Ok(())
//! # }
//! ```

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use anyhow::{Context, Result};
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::time::Instant;

/// Where requests say they come from (`CF-Connecting-IP`).
#[derive(Debug, Clone)]
pub enum Clients {
    /// Cycle through this many addresses, one after the other (10.x.y.z).
    Rotate(u32),
    /// Always this address.
    Fixed(String),
}

impl Clients {
    /// The address of the `n`th request.
    pub fn address(&self, n: u64) -> String {
        match self {
            Self::Rotate(count) => {
                let i = n % u64::from((*count).max(1));
                format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255)
            }
            Self::Fixed(ip) => ip.clone(),
        }
    }
}

/// One load run.
#[derive(Debug, Clone)]
pub struct Spec {
    pub addr: SocketAddr,
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Extra request headers (`Host` is the address).
    pub headers: Vec<(String, String)>,
    pub clients: Clients,
    pub connections: usize,
    pub duration: Duration,
    /// Requests per second for an open-loop run; `None` for closed loop.
    pub rate: Option<f64>,
}

/// What a run measured.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The run's duration (requests are counted when they end within it).
    pub duration: Duration,
    /// Answers ended within the duration, by status.
    pub statuses: BTreeMap<u16, u64>,
    /// Requests that got no answer (connection refused or reset, timeout).
    pub errors: u64,
    /// Latencies in microseconds of every answered request, sorted.
    pub latencies_us: Vec<u64>,
}

impl Outcome {
    /// Answers that ended within the duration.
    pub fn answered(&self) -> u64 {
        self.statuses.values().sum()
    }

    /// Answers per second.
    pub fn rps(&self) -> f64 {
        self.answered() as f64 / self.duration.as_secs_f64()
    }

    /// The share of answers with this status.
    pub fn share(&self, status: u16) -> f64 {
        let all = self.answered();
        if all == 0 {
            return 0.0;
        }
        self.statuses.get(&status).copied().unwrap_or(0) as f64 / all as f64
    }

    /// The `p`th percentile latency (nearest rank), in milliseconds.
    pub fn percentile(&self, p: f64) -> f64 {
        percentile_ms(&self.latencies_us, p)
    }

    /// Several runs taken as one: durations added, statuses and errors summed, latencies merged.
    /// A percentile of the pool weighs every answer alike, where a median of the runs'
    /// percentiles weighs every run alike.
    pub fn pooled<'a>(runs: impl IntoIterator<Item = &'a Outcome>) -> Outcome {
        let mut pool = Outcome::default();
        for run in runs {
            pool.duration += run.duration;
            for (status, n) in &run.statuses {
                *pool.statuses.entry(*status).or_default() += n;
            }
            pool.errors += run.errors;
            pool.latencies_us.extend_from_slice(&run.latencies_us);
        }
        pool.latencies_us.sort_unstable();
        pool
    }
}

/// The nearest-rank percentile of sorted microsecond samples, in milliseconds (0 when empty).
pub fn percentile_ms(sorted_us: &[u64], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    // The epsilon keeps float error (0.999 * 1000 = 999.0000000000001) from skipping a rank.
    let rank = ((p / 100.0) * sorted_us.len() as f64 - 1e-9).ceil() as usize;
    sorted_us[rank.clamp(1, sorted_us.len()) - 1] as f64 / 1000.0
}

/// How long one request may take before it counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Tally {
    statuses: BTreeMap<u16, u64>,
    errors: u64,
    latencies_us: Vec<u64>,
}

impl Spec {
    /// Runs the load on a single-threaded runtime and returns what it measured.
    pub fn run(&self) -> Result<Outcome> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("a tokio runtime for the load")?;
        let local = tokio::task::LocalSet::new();
        let tally = local.block_on(&rt, self.drive())?;
        let mut latencies_us = tally.latencies_us;
        latencies_us.sort_unstable();
        Ok(Outcome {
            duration: self.duration,
            statuses: tally.statuses,
            errors: tally.errors,
            latencies_us,
        })
    }

    async fn drive(&self) -> Result<Tally> {
        let start = Instant::now();
        let end = start + self.duration;
        let tally = Rc::new(RefCell::new(Tally::default()));
        let next = Rc::new(Cell::new(0_u64));
        let spec = Rc::new(self.clone());
        // Open loop: a ticker releases each request when it is due, stamped with the time it
        // fired; connections take them in order, so a request that waits for a free connection
        // counts its wait. (Counting from the timer's firing rather than the ideal instant keeps
        // the timer's millisecond granularity out of the latencies, as oha does.)
        let ticks = self.rate.map(|rate| {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
            tokio::task::spawn_local(async move {
                for i in 0_u64.. {
                    let due = start + Duration::from_secs_f64(i as f64 / rate);
                    if due >= end {
                        break;
                    }
                    tokio::time::sleep_until(due).await;
                    if tx.send(Instant::now()).is_err() {
                        break;
                    }
                }
            });
            Rc::new(tokio::sync::Mutex::new(rx))
        });
        let mut tasks = Vec::new();
        for _ in 0..self.connections.max(1) {
            let (spec, tally, next, ticks) =
                (spec.clone(), tally.clone(), next.clone(), ticks.clone());
            tasks.push(tokio::task::spawn_local(async move {
                connection(&spec, end, &next, ticks.as_deref(), &tally).await;
            }));
        }
        for task in tasks {
            task.await.context("a load connection panicked")?;
        }
        let tally = std::mem::take(&mut *tally.borrow_mut());
        Ok(tally)
    }

    fn request(&self, n: u64) -> Result<Request<Empty<Bytes>>> {
        let mut builder = Request::builder()
            .method(self.method.as_str())
            .uri(self.path.as_str())
            .header("host", self.addr.to_string())
            .header("cf-connecting-ip", self.clients.address(n));
        for (name, value) in &self.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        Ok(builder.body(Empty::new())?)
    }
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

async fn connect(addr: SocketAddr) -> Option<Sender> {
    let stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::task::spawn_local(async move {
        let _ = conn.await;
    });
    Some(sender)
}

type Ticks = tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<Instant>>;

/// One keep-alive connection taking requests until the run ends; reconnects after an error.
async fn connection(
    spec: &Spec,
    end: Instant,
    next: &Cell<u64>,
    ticks: Option<&Ticks>,
    tally: &RefCell<Tally>,
) {
    let mut sender: Option<Sender> = None;
    loop {
        let due = match ticks {
            Some(ticks) => match ticks.lock().await.recv().await {
                Some(fired) => fired,
                None => return,
            },
            None => {
                let now = Instant::now();
                if now >= end {
                    return;
                }
                now
            }
        };
        let n = next.get();
        next.set(n + 1);
        if sender.as_ref().is_none_or(|s| s.is_closed()) {
            sender = connect(spec.addr).await;
        }
        let answer = match (sender.as_mut(), spec.request(n)) {
            (Some(s), Ok(request)) => tokio::time::timeout(REQUEST_TIMEOUT, exchange(s, request))
                .await
                .ok()
                .flatten(),
            _ => None,
        };
        let done = Instant::now();
        let mut tally = tally.borrow_mut();
        match answer {
            // A closed-loop run counts what ended in time; an open-loop one every request due
            // in time, however late its answer (leaving late ones out would hide the tail).
            Some(status) if ticks.is_some() || done <= end => {
                *tally.statuses.entry(status).or_default() += 1;
                tally
                    .latencies_us
                    .push(done.duration_since(due).as_micros() as u64);
            }
            Some(_) => {}
            None => {
                tally.errors += 1;
                sender = None;
            }
        }
    }
}

/// Sends one request and reads its whole answer; the status, or `None` if the exchange failed.
async fn exchange(sender: &mut Sender, request: Request<Empty<Bytes>>) -> Option<u16> {
    sender.ready().await.ok()?;
    let response = sender.send_request(request).await.ok()?;
    let status = response.status().as_u16();
    response.into_body().collect().await.ok()?;
    Some(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_client_addresses() {
        let clients = Clients::Rotate(70_000);
        assert_eq!(clients.address(0), "10.0.0.0");
        assert_eq!(clients.address(257), "10.0.1.1");
        assert_eq!(clients.address(65_536), "10.1.0.0");
        assert_eq!(clients.address(70_000), "10.0.0.0");
        assert_eq!(Clients::Fixed("192.0.2.9".into()).address(5), "192.0.2.9");
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples: Vec<u64> = (1..=1000).map(|i| i * 1000).collect();
        assert_eq!(percentile_ms(&samples, 50.0), 500.0);
        assert_eq!(percentile_ms(&samples, 99.0), 990.0);
        assert_eq!(percentile_ms(&samples, 99.9), 999.0);
        assert_eq!(percentile_ms(&samples, 100.0), 1000.0);
        assert_eq!(percentile_ms(&[], 99.0), 0.0);
        assert_eq!(percentile_ms(&[7000], 0.0), 7.0);
    }

    #[test]
    fn counts_shares_and_rates() {
        let outcome = Outcome {
            duration: Duration::from_secs(2),
            statuses: BTreeMap::from([(200, 10), (429, 30)]),
            errors: 0,
            latencies_us: vec![],
        };
        assert_eq!(outcome.answered(), 40);
        assert_eq!(outcome.rps(), 20.0);
        assert_eq!(outcome.share(429), 0.75);
        assert_eq!(outcome.share(204), 0.0);
    }

    /// Two runs, one with a stall of 15 answers in 1,000: that run's p99 is in the stall, the
    /// pool's (15 in 2,000) is not.
    #[test]
    fn pools_runs() {
        let run = |latencies_us: Vec<u64>, errors| Outcome {
            duration: Duration::from_secs(1),
            statuses: BTreeMap::from([(200, latencies_us.len() as u64)]),
            errors,
            latencies_us,
        };
        let quiet = run(vec![1_000; 1000], 0);
        let mut stalled = vec![1_000; 985];
        stalled.extend([30_000; 15]);
        let stalled = run(stalled, 2);
        assert_eq!(stalled.percentile(99.0), 30.0);
        let pool = Outcome::pooled([&quiet, &stalled]);
        assert_eq!(pool.duration, Duration::from_secs(2));
        assert_eq!(pool.statuses, BTreeMap::from([(200, 2000)]));
        assert_eq!(pool.errors, 2);
        assert_eq!(pool.latencies_us.len(), 2000);
        assert!(pool.latencies_us.is_sorted());
        assert_eq!(pool.percentile(99.0), 1.0, "15 of 2,000 is under 1 %");
        assert_eq!(pool.percentile(99.5), 30.0);
        assert_eq!(Outcome::pooled([]).percentile(99.0), 0.0);
    }

    /// A closed and an open run against a tiny server on loopback: every request answered, the
    /// open run near its rate.
    #[test]
    fn drives_a_server() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new().route(
                    "/x",
                    axum::routing::get(|headers: axum::http::HeaderMap| async move {
                        if headers.contains_key("cf-connecting-ip") {
                            axum::http::StatusCode::NO_CONTENT
                        } else {
                            axum::http::StatusCode::BAD_REQUEST
                        }
                    }),
                );
                axum::serve(listener, app).await.unwrap();
            });
        });
        let mut spec = Spec {
            addr,
            method: "GET".into(),
            path: "/x".into(),
            headers: vec![("origin".into(), "https://wyn.app".into())],
            clients: Clients::Rotate(100),
            connections: 4,
            duration: Duration::from_millis(300),
            rate: None,
        };
        let closed = spec.run().unwrap();
        assert!(closed.answered() > 10, "{closed:?}");
        assert_eq!(closed.share(204), 1.0);
        assert_eq!(closed.errors, 0);
        spec.rate = Some(200.0);
        spec.duration = Duration::from_millis(500);
        let open = spec.run().unwrap();
        assert!((90..=101).contains(&open.answered()), "{:?}", open.statuses);
        assert_eq!(open.latencies_us.len() as u64, open.answered());
    }
}
