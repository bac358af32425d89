//! The streaming reverse proxy: what reaches the origin, what comes back, and origin failures.

use std::io::Read;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use libtest_mimic::Trial;

use crate::support::{client, echoed, header, json, problem};
use crate::{MAIN_MAX_BODY, MAIN_TIMEOUT_MS, Outcome, TOKEN, ensure, stacks};

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test(
            "proxy::forwards_method_path_and_query",
            forwards_method_path_and_query,
        ),
        Trial::test(
            "proxy::forwards_bodies_of_every_method",
            forwards_bodies_of_every_method,
        ),
        Trial::test(
            "proxy::strips_hop_by_hop_request_headers",
            strips_hop_by_hop_request_headers,
        ),
        Trial::test(
            "proxy::strips_hop_by_hop_response_headers",
            strips_hop_by_hop_response_headers,
        ),
        Trial::test(
            "proxy::forwarding_headers_come_from_the_edge",
            forwarding_headers_come_from_the_edge,
        ),
        Trial::test(
            "proxy::strips_the_nextjs_middleware_bypass",
            strips_the_nextjs_middleware_bypass,
        ),
        Trial::test(
            "proxy::never_forwards_the_admin_token",
            never_forwards_the_admin_token,
        ),
        Trial::test("proxy::request_ids", request_ids),
        Trial::test(
            "proxy::streams_server_sent_events",
            streams_server_sent_events,
        ),
        Trial::test(
            "proxy::a_stream_outlives_the_origin_timeout",
            a_stream_outlives_the_origin_timeout,
        ),
        Trial::test(
            "proxy::passes_statuses_and_redirects",
            passes_statuses_and_redirects,
        ),
        Trial::test("proxy::slow_origin_is_a_504", slow_origin_is_a_504),
        Trial::test(
            "proxy::the_origin_deadline_counts_from_arrival",
            the_origin_deadline_counts_from_arrival,
        ),
        Trial::test("proxy::dead_origin_is_a_502", dead_origin_is_a_502),
        Trial::test(
            "proxy::oversized_bodies_are_refused",
            oversized_bodies_are_refused,
        ),
        Trial::test(
            "proxy::hostile_requests_get_clear_answers",
            hostile_requests_get_clear_answers,
        ),
    ]
}

fn edge() -> &'static str {
    &stacks().main.url
}

fn forwards_method_path_and_query() -> Outcome {
    let (headers, echo) = json(client().get(format!("{}/api/echo/a%20b/c?x=1&y=two&x=3", edge())))?;
    ensure!(echo["method"] == "GET", "{echo}");
    ensure!(
        echo["path"] == "/api/echo/a%20b/c",
        "path: {}",
        echo["path"]
    );
    ensure!(echo["query"] == "x=1&y=two&x=3", "query: {}", echo["query"]);
    ensure!(
        headers.contains_key("x-origin-request-count"),
        "origin headers pass through: {headers:?}"
    );
    let (_, echo) = json(
        client()
            .get(format!("{}/api/echo", edge()))
            .header("x-custom", "v1")
            .header("accept", "text/plain"),
    )?;
    ensure!(echoed(&echo, "x-custom") == ["v1"], "{echo}");
    ensure!(echoed(&echo, "accept") == ["text/plain"], "{echo}");
    Ok(())
}

fn forwards_bodies_of_every_method() -> Outcome {
    let body: Vec<u8> = (0..600_000u32)
        .map(|i| b"wyn-edge "[i as usize % 9])
        .collect();
    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let (_, echo) = json(
            client()
                .request(m, format!("{}/api/echo", edge()))
                .body(body.clone()),
        )?;
        ensure!(echo["method"] == method, "{method}: {}", echo["method"]);
        ensure!(
            echo["body_len"] == body.len(),
            "{method}: body_len {}",
            echo["body_len"]
        );
        ensure!(
            echo["body"].as_str().map(str::as_bytes) == Some(&body[..]),
            "{method}: body differs"
        );
    }
    Ok(())
}

fn strips_hop_by_hop_request_headers() -> Outcome {
    let fixed = [
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
        "proxy-authorization",
    ];
    for (edge, sees_connection) in [(&stacks().main.url, false), (&stacks().raw.url, true)] {
        let (_, echo) = json(
            client()
                .get(format!("{edge}/api/echo"))
                .header("connection", "keep-alive, x-drop-me")
                .header("x-drop-me", "secret")
                .header("keep-alive", "timeout=5")
                .header("proxy-connection", "keep-alive")
                .header("te", "trailers")
                .header("trailer", "x-sum")
                .header("upgrade", "h2c")
                .header("proxy-authorization", "Basic Zm9vOmJhcg==")
                .header("x-kept", "yes"),
        )?;
        for name in fixed {
            ensure!(
                echoed(&echo, name).is_empty(),
                "{edge}: {name} reached the origin: {echo}"
            );
        }
        // wrangler dev's proxy consumes `Connection` before the worker runs, so only raw workerd
        // (like Cloudflare's front line) shows the worker the names it lists.
        if sees_connection {
            ensure!(
                echoed(&echo, "x-drop-me").is_empty(),
                "{edge}: x-drop-me reached the origin: {echo}"
            );
        }
        ensure!(echoed(&echo, "x-kept") == ["yes"], "{echo}");
    }
    Ok(())
}

fn strips_hop_by_hop_response_headers() -> Outcome {
    let resp = client().get(format!("{}/api/hop-headers", edge())).send()?;
    ensure!(resp.status() == 200, "status {}", resp.status());
    let h = resp.headers();
    for name in ["x-hop-secret", "keep-alive", "proxy-connection"] {
        ensure!(!h.contains_key(name), "{name} reached the client: {h:?}");
    }
    ensure!(h.get("x-kept").is_some_and(|v| v == "yes"), "{h:?}");
    Ok(())
}

fn forwarding_headers_come_from_the_edge() -> Outcome {
    let (_, echo) = json(
        client()
            .get(format!("{}/api/echo", edge()))
            .header("cf-connecting-ip", "203.0.113.9")
            .header("x-forwarded-for", "6.6.6.6")
            .header("x-forwarded-host", "evil.example")
            .header("x-forwarded-proto", "https")
            .header("forwarded", "for=6.6.6.6;host=evil.example")
            .header("x-real-ip", "6.6.6.6")
            .header("true-client-ip", "6.6.6.6"),
    )?;
    ensure!(
        echoed(&echo, "x-forwarded-for") == ["203.0.113.9"],
        "{echo}"
    );
    let authority = edge().trim_start_matches("http://");
    ensure!(echoed(&echo, "x-forwarded-host") == [authority], "{echo}");
    ensure!(echoed(&echo, "x-forwarded-proto") == ["http"], "{echo}");
    for name in ["forwarded", "x-real-ip", "true-client-ip"] {
        ensure!(
            echoed(&echo, name).is_empty(),
            "{name} reached the origin: {echo}"
        );
    }
    // No connecting address the edge believes: no X-Forwarded-For at all, whatever the client says.
    let (_, echo) = json(
        client()
            .get(format!("{}/api/echo", edge()))
            .header("cf-connecting-ip", "not-an-ip")
            .header("x-forwarded-for", "6.6.6.6"),
    )?;
    ensure!(echoed(&echo, "x-forwarded-for").is_empty(), "{echo}");
    Ok(())
}

fn strips_the_nextjs_middleware_bypass() -> Outcome {
    let (_, echo) = json(client().get(format!("{}/api/echo", edge())).header(
        "x-middleware-subrequest",
        "middleware:middleware:middleware:middleware:middleware",
    ))?;
    ensure!(
        echoed(&echo, "x-middleware-subrequest").is_empty(),
        "{echo}"
    );
    Ok(())
}

fn never_forwards_the_admin_token() -> Outcome {
    let (_, echo) = json(
        client()
            .get(format!("{}/api/echo", edge()))
            .bearer_auth(TOKEN),
    )?;
    ensure!(
        echoed(&echo, "authorization").is_empty(),
        "the admin token reached the origin: {echo}"
    );
    ensure!(
        !echo.to_string().contains(TOKEN),
        "the admin token reached the origin: {echo}"
    );
    // The app's own credentials are the app's business.
    let (_, echo) = json(
        client()
            .get(format!("{}/api/echo", edge()))
            .bearer_auth("user-session-token"),
    )?;
    ensure!(
        echoed(&echo, "authorization") == ["Bearer user-session-token"],
        "{echo}"
    );
    Ok(())
}

fn request_ids() -> Outcome {
    let (headers, echo) = json(
        client()
            .get(format!("{}/api/echo", edge()))
            .header("x-request-id", "trace-42.a:b_c"),
    )?;
    ensure!(
        echoed(&echo, "x-request-id") == ["trace-42.a:b_c"],
        "{echo}"
    );
    ensure!(headers["x-request-id"] == "trace-42.a:b_c", "{headers:?}");
    for bad in ["has space", "semi;colon", &"x".repeat(129)] {
        let (headers, echo) = json(
            client()
                .get(format!("{}/api/echo", edge()))
                .header("x-request-id", bad),
        )?;
        let sent = echoed(&echo, "x-request-id");
        ensure!(
            sent.len() == 1 && sent[0] != bad,
            "malformed id {bad:?} was kept: {sent:?}"
        );
        ensure!(
            headers["x-request-id"] == sent[0].as_str(),
            "origin and client see different ids"
        );
        ensure!(
            sent[0].len() == 36 && sent[0].matches('-').count() == 4,
            "not a UUID: {}",
            sent[0]
        );
    }
    let (h1, e1) = json(client().get(format!("{}/api/echo", edge())))?;
    let (h2, _) = json(client().get(format!("{}/api/echo", edge())))?;
    ensure!(
        h1["x-request-id"] == echoed(&e1, "x-request-id")[0].as_str(),
        "ids differ"
    );
    ensure!(
        h1["x-request-id"] != h2["x-request-id"],
        "two requests got one id"
    );
    Ok(())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Reads an SSE body, noting when each event arrived (ms since the epoch).
fn read_events(
    mut resp: reqwest::blocking::Response,
) -> anyhow::Result<Vec<(u64, serde_json::Value)>> {
    let mut events = Vec::new();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = resp.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        let arrived = now_ms();
        buf.extend_from_slice(&chunk[..n]);
        while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
            let event: Vec<u8> = buf.drain(..end + 2).collect();
            let text = String::from_utf8_lossy(&event);
            if let Some(data) = text.lines().find_map(|l| l.strip_prefix("data: ")) {
                events.push((arrived, serde_json::from_str(data)?));
            }
        }
    }
    Ok(events)
}

fn streams_server_sent_events() -> Outcome {
    let resp = client()
        .post(format!("{}/api/chat?events=5&pause_ms=400", edge()))
        .body("{}")
        .send()?;
    ensure!(resp.status() == 200, "status {}", resp.status());
    let ctype = header(&resp, "content-type");
    ensure!(
        ctype.starts_with("text/event-stream"),
        "content-type {ctype}"
    );
    let events = read_events(resp)?;
    ensure!(
        events.len() == 6,
        "expected 5 tokens and done, got {}",
        events.len()
    );
    let first_arrival = events[0].0;
    let last_sent = events[4].1["sent_at_ms"].as_u64().unwrap_or(0);
    // The origin sends the last token 1.6 s after the first; a buffering proxy would deliver the
    // first only after that.
    ensure!(
        first_arrival + 1_000 < last_sent,
        "first event arrived at {first_arrival}, the last token was sent at {last_sent}: the edge buffered"
    );
    Ok(())
}

fn a_stream_outlives_the_origin_timeout() -> Outcome {
    // 4 events 900 ms apart: the stream lasts 2.7 s, longer than main's 2 s head timeout.
    let started = Instant::now();
    let resp = client()
        .post(format!("{}/api/chat?events=4&pause_ms=900", edge()))
        .send()?;
    let events = read_events(resp)?;
    ensure!(
        events.len() == 5,
        "the stream was cut after {} events",
        events.len()
    );
    ensure!(
        started.elapsed() > Duration::from_millis(MAIN_TIMEOUT_MS),
        "the stream ended too early"
    );
    Ok(())
}

fn passes_statuses_and_redirects() -> Outcome {
    for code in [200u16, 204, 301, 302, 307, 400, 404, 418, 500, 503] {
        let resp = client()
            .get(format!("{}/api/status/{code}", edge()))
            .send()?;
        ensure!(
            resp.status().as_u16() == code,
            "{code}: got {}",
            resp.status()
        );
        if (300..400).contains(&code) {
            let loc = resp.headers().get("location").and_then(|v| v.to_str().ok());
            ensure!(
                loc == Some("/api/health"),
                "{code}: location {loc:?}: the redirect was followed or lost"
            );
        }
        if code == 500 || code == 503 {
            // The origin's own errors are the origin's, not problems the edge made up.
            let ctype = header(&resp, "content-type");
            ensure!(
                ctype.starts_with("application/json"),
                "{code}: content-type {ctype}"
            );
        }
    }
    Ok(())
}

fn slow_origin_is_a_504() -> Outcome {
    let started = Instant::now();
    let resp = client()
        .get(format!("{}/api/slow?ms=6000", edge()))
        .header("x-request-id", "slow-1")
        .send()?;
    let elapsed = started.elapsed();
    let body = problem(resp, 504, "origin-timeout")?;
    ensure!(body["request_id"] == "slow-1", "{body}");
    ensure!(
        elapsed < Duration::from_millis(5_500),
        "the edge waited {elapsed:?}, past its 2 s timeout"
    );
    // A route under the timeout is unaffected.
    let resp = client().get(format!("{}/api/slow?ms=200", edge())).send()?;
    ensure!(resp.status() == 200, "status {}", resp.status());
    Ok(())
}

/// The `dur` of metric `name` in a `Server-Timing` header, ms.
fn timing(server_timing: &str, name: &str) -> Option<f64> {
    server_timing.split(',').find_map(|metric| {
        let mut params = metric.trim().split(';');
        if params.next() != Some(name) {
            return None;
        }
        params.find_map(|p| p.trim().strip_prefix("dur=")?.parse().ok())
    })
}

fn the_origin_deadline_counts_from_arrival() -> Outcome {
    // Two misses for one key: the second waits behind the first one's fetch (coalescing). The
    // wait must come out of its own origin deadline, so its 504 comes at the timeout after its
    // arrival, not after the wait *and* a whole timeout of its own (that was 2 x timeout less
    // the head start: 3.5 s here, and a pile-up of held requests under load).
    let nonce = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let url = format!("{}/api/slow?ms=6000&deadline={nonce}", edge());
    let first = {
        let url = url.clone();
        std::thread::spawn(move || client().get(url).send().map(|r| r.status().as_u16()))
    };
    // Let the first claim the key; the second then arrives while it waits on the origin.
    std::thread::sleep(Duration::from_millis(500));
    let resp = client()
        .get(&url)
        .header("x-request-id", "deadline-2")
        .send()?;
    let server_timing = header(&resp, "server-timing");
    let body = problem(resp, 504, "origin-timeout")?;
    ensure!(body["request_id"] == "deadline-2", "{body}");
    ensure!(
        first.join().map_err(|_| "the first request panicked")?? == 504,
        "the first request was not a 504"
    );
    // Measured inside the edge (arrival to answer), so wrangler's proxy and the client's
    // scheduling are left out; the margin is for a busy machine's late timers.
    let at_edge = timing(&server_timing, "edge")
        .ok_or_else(|| format!("no edge timing in {server_timing:?}"))?;
    let timeout = MAIN_TIMEOUT_MS as f64;
    ensure!(
        at_edge >= timeout - 50.0 && at_edge < timeout * 1.5,
        "the second request's 504 came {at_edge} ms after it arrived at the edge, expected about {timeout} ms ({server_timing})"
    );
    // Whatever fetch it still made was given only what the wait left of the deadline (a whole
    // timeout would mean it led instead: the requests reached the edge in the other order).
    if let Some(origin) = timing(&server_timing, "origin") {
        ensure!(
            origin < timeout - 200.0,
            "its origin fetch took {origin} ms, more than the wait left ({server_timing})"
        );
    }
    Ok(())
}

fn dead_origin_is_a_502() -> Outcome {
    let resp = client()
        .get(format!("{}/api/venues", stacks().dead.url))
        .send()?;
    let body = problem(resp, 502, "origin-unreachable")?;
    ensure!(body["title"] == "The origin could not be reached", "{body}");
    let resp = client()
        .post(format!("{}/api/chat", stacks().dead.url))
        .body("hello")
        .send()?;
    problem(resp, 502, "origin-unreachable")?;
    Ok(())
}

fn oversized_bodies_are_refused() -> Outcome {
    let body = vec![b'x'; MAIN_MAX_BODY as usize + 1];
    let resp = client()
        .post(format!("{}/api/echo", edge()))
        .body(body)
        .send()?;
    problem(resp, 413, "payload-too-large")?;
    let body = vec![b'x'; MAIN_MAX_BODY as usize];
    let (_, echo) = json(client().post(format!("{}/api/echo", edge())).body(body))?;
    ensure!(echo["body_len"] == MAIN_MAX_BODY, "{}", echo["body_len"]);
    Ok(())
}

/// Raw requests no well-behaved client sends: each gets a clear, non-5xx answer.
fn hostile_requests_get_clear_answers() -> Outcome {
    use std::io::Write;
    let addr = edge().trim_start_matches("http://").to_owned();
    let raw = |request: String| -> anyhow::Result<String> {
        let mut s = std::net::TcpStream::connect(&addr)?;
        s.set_read_timeout(Some(Duration::from_secs(20)))?;
        s.write_all(request.as_bytes())?;
        let mut head = [0u8; 64];
        let n = s.read(&mut head)?;
        Ok(String::from_utf8_lossy(&head[..n]).into_owned())
    };
    let many_tokens = "x,".repeat(20_000);
    let cases = [
        format!("GET /api/echo HTTP/1.1\r\nHost: {addr}\r\nConnection: {many_tokens}\r\n\r\n"),
        format!(
            "GET /api/echo HTTP/1.1\r\nHost: {addr}\r\nX-Request-Id: {}\r\n\r\n",
            "z".repeat(8_000)
        ),
        format!("POST /api/echo HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 5\r\n\r\nabcde"),
        format!("GET /api/echo/%00%ff/../..//x HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
        format!("GET /__edge/health?%zz HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
    ];
    for request in cases {
        let head = raw(request.clone())?;
        let status: u16 = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        ensure!(
            (200..500).contains(&status),
            "status line {head:?} for {:?}",
            &request[..request.len().min(80)]
        );
    }
    Ok(())
}
