//! Recovery from a panic, against the real build: the lean entry (`edge/scripts/lean-entry.mjs`)
//! answers the panicking request, and every other one in flight in the dead wasm instance, with
//! the edge's 500 problem, and the next request reinitialises the instance.
//!
//! The panic comes from `/__edge/test/panic`, which panics only with the admin token *and* the
//! `EDGE_TEST_HOOKS=panic` binding that test runs alone set; this edge is its own raw workerd, so
//! the reset it causes touches no other test.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use libtest_mimic::Trial;

use crate::support::{Edge, Workerd, client, problem};
use crate::{Outcome, TOKEN, ensure, stacks};

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test(
            "recovery::the_panic_route_needs_the_token_and_the_test_hook",
            the_panic_route_needs_the_token_and_the_test_hook,
        ),
        Trial::test(
            "recovery::a_panic_answers_500_and_the_next_request_recovers",
            a_panic_answers_500_and_the_next_request_recovers,
        ),
    ]
}

fn the_panic_route_needs_the_token_and_the_test_hook() -> Outcome {
    // `main` runs without the hook: with the token the route is an unknown one, without it 401.
    let main = &stacks().main.url;
    let resp = client()
        .get(format!("{main}/__edge/test/panic"))
        .bearer_auth(TOKEN)
        .send()?;
    problem(resp, 404, "not-found")?;
    let resp = client().get(format!("{main}/__edge/test/panic")).send()?;
    problem(resp, 401, "unauthorized")?;
    let resp = client().get(format!("{main}/api/echo")).send()?;
    ensure!(
        resp.status() == 200,
        "main stopped answering: {}",
        resp.status()
    );
    Ok(())
}

fn a_panic_answers_500_and_the_next_request_recovers() -> Outcome {
    let rules = r#"{"rate_limits":[
        {"name":"local","path":"/api/echo/recovery-local","limit":2,"period":"10m"},
        {"name":"global","path":"/api/echo/recovery-global","limit":2,"period":"10m","scope":"global"}]}"#;
    let edge = Edge::start_workerd_with(
        "recovery",
        &[
            ("ORIGIN_URL", &stacks().main_origin.url),
            ("EDGE", rules),
            ("EDGE_ADMIN_TOKEN", TOKEN),
            ("EDGE_TEST_HOOKS", "panic"),
        ],
        Workerd::default(),
    )?;
    let url = |path: &str| format!("{}{path}", edge.url);
    let status = |path: &str| -> Result<u16, reqwest::Error> {
        Ok(client().get(url(path)).send()?.status().as_u16())
    };
    // Without the token, even here, the route is a 401 and nothing panics.
    problem(
        client().get(url("/__edge/test/panic")).send()?,
        401,
        "unauthorized",
    )?;

    // State before: both budgets spent.
    for path in ["/api/echo/recovery-local", "/api/echo/recovery-global"] {
        let got: Vec<u16> = (0..3).map(|_| status(path)).collect::<Result<_, _>>()?;
        ensure!(got == [200, 200, 429], "{path} before the panic: {got:?}");
    }

    // A request in flight when the instance dies is answered at once, not left hanging: the
    // origin would answer this one 200 after 3 s.
    let nonce = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let slow = {
        let url = url(&format!("/api/slow?ms=3000&recovery={nonce}"));
        std::thread::spawn(move || -> anyhow::Result<(u16, String)> {
            let resp = client().get(url).send()?;
            let status = resp.status().as_u16();
            Ok((status, resp.text()?))
        })
    };
    std::thread::sleep(Duration::from_millis(500));

    let resp = client()
        .get(url("/__edge/test/panic"))
        .bearer_auth(TOKEN)
        .header("x-request-id", "panic-1")
        .send()?;
    let body = problem(resp, 500, "internal")?;
    ensure!(body["request_id"] == "panic-1", "{body}");
    ensure!(
        body["title"] == "The edge failed to handle the request",
        "{body}"
    );
    let (slow_status, slow_body) = slow.join().map_err(|_| "the slow request panicked")??;
    ensure!(
        slow_status == 500 && slow_body.contains("/problems/internal"),
        "the request in flight got {slow_status}: {slow_body}"
    );

    // The next request runs on a fresh instance.
    let resp = client().get(url("/__edge/health")).send()?;
    ensure!(
        resp.status() == 200,
        "health after the panic: {}",
        resp.status()
    );
    let resp = client().get(url("/api/echo/after-panic")).send()?;
    ensure!(
        resp.status() == 200,
        "a proxied request after the panic: {}",
        resp.status()
    );
    // Isolate memory started again: the local budget is whole. The global one lives in its
    // Durable Object and survived.
    ensure!(
        status("/api/echo/recovery-local")? == 200,
        "the local budget survived the new instance"
    );
    ensure!(
        status("/api/echo/recovery-global")? == 429,
        "the global budget was lost with the instance"
    );
    // And it panics again on demand, this time after an await (in a promise's continuation, not
    // in `fetch`), and recovers again; the request in flight is answered again.
    let slow = {
        let url = url(&format!("/api/slow?ms=3000&recovery={nonce}-2"));
        std::thread::spawn(move || -> anyhow::Result<u16> {
            Ok(client().get(url).send()?.status().as_u16())
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    problem(
        client()
            .get(url("/__edge/test/panic?after=io"))
            .bearer_auth(TOKEN)
            .send()?,
        500,
        "internal",
    )?;
    let slow_status = slow.join().map_err(|_| "the slow request panicked")??;
    ensure!(
        slow_status == 500,
        "the request in flight at the second panic got {slow_status}"
    );
    ensure!(
        status("/api/echo/after-panic")? == 200,
        "no recovery from a second panic"
    );
    Ok(())
}
