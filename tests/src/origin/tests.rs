#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::header::{
    ALLOW, CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LAST_MODIFIED, LOCATION, SET_COOKIE,
    VARY,
};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::REQUEST_COUNT_HEADER;

/// Starts an origin on a free port of 127.0.0.1; it stops with the test's runtime.
async fn start() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(super::serve(listener));
    format!("http://{address}")
}

fn client() -> Client {
    Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn header(response: &reqwest::Response, name: impl reqwest::header::AsHeaderName) -> &str {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().unwrap())
        .unwrap_or_default()
}

/// Sends `request` as raw bytes and returns everything the origin writes until it closes.
async fn raw_exchange(base: &str, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// The header lines of a raw response, names lowercased, in wire order.
fn head_lines(answer: &str) -> Vec<(String, String)> {
    let head = answer.split("\r\n\r\n").next().unwrap();
    head.lines()
        .skip(1)
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.to_ascii_lowercase(), value.trim().to_owned())
        })
        .collect()
}

#[tokio::test]
async fn health_is_ok_and_uncacheable() {
    let base = start().await;
    let response = client()
        .get(format!("{base}/api/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, CACHE_CONTROL), "no-store");
    assert_eq!(header(&response, CONTENT_TYPE), "application/json");
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "status": "ok" })
    );
}

#[tokio::test]
async fn every_response_counts_the_requests_so_far() {
    let base = start().await;
    let client = client();
    let paths = ["/api/health", "/nowhere", "/api/status/500", "/api/venues"];
    for (n, path) in paths.iter().enumerate() {
        let response = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(
            header(&response, REQUEST_COUNT_HEADER),
            (n + 1).to_string(),
            "{path}"
        );
    }
}

#[tokio::test]
async fn unknown_paths_are_json_404s_and_wrong_methods_405s() {
    let base = start().await;
    let client = client();
    let response = client
        .get(format!("{base}/wine/list"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "error": "not found" })
    );

    let response = client
        .delete(format!("{base}/api/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        header(&response, ALLOW).contains("GET"),
        "{:?}",
        response.headers()
    );
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "error": "method not allowed" })
    );
}

#[tokio::test]
async fn echo_reflects_method_path_query_headers_and_body() {
    let base = start().await;
    let response = client()
        .put(format!("{base}/api/echo/deep/path?a=1&b=two%20words&a=3"))
        .header("X-Wine", "Pinot Noir")
        .header("x-repeated", "first")
        .header("x-repeated", "second")
        .body("héllo, wine")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, CACHE_CONTROL), "no-store");
    let echo: Value = response.json().await.unwrap();
    assert_eq!(echo["method"], "PUT");
    assert_eq!(echo["path"], "/api/echo/deep/path");
    assert_eq!(echo["query"], "a=1&b=two%20words&a=3");
    assert_eq!(echo["body"], "héllo, wine");
    assert_eq!(echo["body_len"], "héllo, wine".len());
    let headers = echo["headers"].as_array().unwrap();
    assert!(
        headers.contains(&json!(["x-wine", "Pinot Noir"])),
        "{headers:?}"
    );
    let repeated: Vec<&Value> = headers
        .iter()
        .filter(|pair| pair[0] == "x-repeated")
        .map(|pair| &pair[1])
        .collect();
    assert_eq!(repeated, [&json!("first"), &json!("second")]);

    let echo: Value = client()
        .get(format!("{base}/api/echo"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(echo["query"], Value::Null);
    assert_eq!(echo["body"], "");
    assert_eq!(echo["body_len"], 0);
}

#[tokio::test]
async fn echo_lists_raw_headers_lowercased_grouped_by_first_appearance() {
    let base = start().await;
    let answer = raw_exchange(
        &base,
        b"POST /api/echo HTTP/1.1\r\nHost: origin\r\nX-B: 1\r\nX-A: 2\r\nx-b: 3\r\n\
          X-Latin: caf\xe9\r\nContent-Length: 3\r\nConnection: close\r\n\r\n\xffab",
    )
    .await;
    let body = answer.split_once("\r\n\r\n").unwrap().1;
    let echo: Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        echo["headers"],
        json!([
            ["host", "origin"],
            ["x-b", "1"],
            ["x-b", "3"],
            ["x-a", "2"],
            ["x-latin", "caf\u{fffd}"],
            ["content-length", "3"],
            ["connection", "close"],
        ])
    );
    assert_eq!(echo["body"], "\u{fffd}ab");
    assert_eq!(echo["body_len"], 3);
}

#[tokio::test]
async fn echo_takes_bodies_up_to_16_mib_and_refuses_larger() {
    let base = start().await;
    let client = client();
    let body = vec![b'w'; 3 * 1024 * 1024];
    let response = client
        .post(format!("{base}/api/echo"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap()["body_len"],
        body.len()
    );

    let response = client
        .post(format!("{base}/api/echo"))
        .body(vec![b'w'; super::probes::ECHO_BODY_LIMIT + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let error: Value = response.json().await.unwrap();
    assert!(
        error["error"].as_str().unwrap().starts_with("body:"),
        "{error}"
    );
}

/// A server-sent event as `(event, data)`.
fn parse_events(text: &str) -> Vec<(String, Value)> {
    text.split_terminator("\n\n")
        .map(|block| {
            let (event, data) = block.split_once('\n').unwrap();
            let event = event.strip_prefix("event: ").unwrap().to_owned();
            let data = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
            (event, data)
        })
        .collect()
}

#[tokio::test]
async fn chat_streams_each_event_when_it_is_sent() {
    let base = start().await;
    let started = Instant::now();
    let response = client()
        .post(format!("{base}/api/chat?events=4&pause_ms=300"))
        .body(r#"{"prompt":"something red"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, CONTENT_TYPE), "text/event-stream");
    assert_eq!(header(&response, CACHE_CONTROL), "no-cache");
    let mut chunks = response.bytes_stream();
    let mut first_arrival = None;
    let mut text = String::new();
    while let Some(chunk) = chunks.next().await {
        first_arrival.get_or_insert_with(|| started.elapsed());
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    let total = started.elapsed();
    let first_arrival = first_arrival.unwrap();
    assert!(
        total >= Duration::from_millis(900),
        "three pauses of 300 ms, took {total:?}"
    );
    assert!(
        first_arrival < total / 2,
        "first event after {first_arrival:?} of {total:?}: the stream was buffered"
    );

    let events = parse_events(&text);
    assert_eq!(events.len(), 5, "{text}");
    for (index, (event, data)) in events[..4].iter().enumerate() {
        assert_eq!(event, "token");
        assert_eq!(data["index"], index);
        assert!(!data["token"].as_str().unwrap().is_empty());
    }
    let sent_at: Vec<u64> = events[..4]
        .iter()
        .map(|(_, data)| data["sent_at_ms"].as_u64().unwrap())
        .collect();
    for pair in sent_at.windows(2) {
        // Whole milliseconds: a 300 ms pause may read as 299.
        assert!(pair[1] - pair[0] >= 299, "sent at {sent_at:?}");
    }
    assert_eq!(events[4], ("done".to_owned(), json!({ "events": 4 })));
}

#[tokio::test]
async fn chat_defaults_caps_and_refuses_bad_numbers() {
    let base = start().await;
    let client = client();
    let text = client
        .post(format!("{base}/api/chat?events=5000&pause_ms=0"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events = parse_events(&text);
    assert_eq!(events.len(), 1001);
    assert_eq!(events[1000].1, json!({ "events": 1000 }));

    let text = client
        .post(format!("{base}/api/chat?events=0"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text, "event: done\ndata: {\"events\":0}\n\n");

    for query in ["events=abc", "pause_ms=-5", "events=1.5", "pause_ms="] {
        let response = client
            .post(format!("{base}/api/chat?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        let error: Value = response.json().await.unwrap();
        let parameter = query.split('=').next().unwrap();
        assert!(
            error["error"].as_str().unwrap().starts_with(parameter),
            "{error}"
        );
    }
}

#[tokio::test]
async fn slow_sleeps_then_answers() {
    let base = start().await;
    let client = client();
    let started = Instant::now();
    let response = client
        .get(format!("{base}/api/slow?ms=50"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "slept_ms": 50 })
    );
    assert!(started.elapsed() >= Duration::from_millis(50));

    for query in ["ms=soon", "ms=-1", ""] {
        let response = client
            .get(format!("{base}/api/slow?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query:?}");
    }
}

#[tokio::test]
async fn status_answers_the_code_asked_for() {
    let base = start().await;
    let client = client();
    for (method, code) in [
        (Method::GET, 200),
        (Method::POST, 201),
        (Method::GET, 418),
        (Method::PATCH, 503),
    ] {
        let response = client
            .request(method, format!("{base}/api/status/{code}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), code);
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({ "status": code })
        );
    }
    for code in [204, 205, 304] {
        let response = client
            .get(format!("{base}/api/status/{code}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), code);
        assert!(response.headers().get(CONTENT_TYPE).is_none());
        assert!(response.bytes().await.unwrap().is_empty(), "{code}");
    }
    for code in [301, 302, 303, 307, 308] {
        let response = client
            .get(format!("{base}/api/status/{code}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), code);
        assert_eq!(header(&response, LOCATION), "/api/health");
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({ "status": code })
        );
    }
    for code in ["100", "101", "199", "99", "600", "abc", "2OO", "-200"] {
        let response = client
            .get(format!("{base}/api/status/{code}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{code}");
        let error: Value = response.json().await.unwrap();
        assert!(
            error["error"].as_str().unwrap().starts_with("status:"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn venues_revalidate_with_their_etag() {
    let base = start().await;
    let client = client();
    let url = format!("{base}/api/venues");
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, CACHE_CONTROL), "public, s-maxage=60");
    assert_eq!(
        header(&response, LAST_MODIFIED),
        "Wed, 01 Jan 2025 00:00:00 GMT"
    );
    let etag = header(&response, ETAG).to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "a strong ETag: {etag}"
    );
    let venues: Value = response.json().await.unwrap();
    let venues = venues.as_array().unwrap();
    assert!(venues.len() >= 3);
    assert!(venues.iter().all(|venue| venue["id"].is_string()
        && venue["name"].is_string()
        && venue["city"].is_string()));

    let matching = [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"other\", {etag}"),
        "*".to_owned(),
    ];
    for if_none_match in matching {
        let response = client
            .get(&url)
            .header(IF_NONE_MATCH, &if_none_match)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::NOT_MODIFIED,
            "{if_none_match}"
        );
        assert_eq!(header(&response, ETAG), etag);
        assert_eq!(header(&response, CACHE_CONTROL), "public, s-maxage=60");
        assert!(response.bytes().await.unwrap().is_empty());
    }

    let response = client
        .get(&url)
        .header(IF_NONE_MATCH, "\"other\"")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn venue_page_escapes_the_id_and_answers_rsc() {
    let base = start().await;
    let client = client();
    let url = format!("{base}/venues/%3Cscript%3Ealert('x')%3C%2Fscript%3E");
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, CONTENT_TYPE), "text/html; charset=utf-8");
    assert_eq!(
        header(&response, CACHE_CONTROL),
        "public, s-maxage=30, stale-while-revalidate=60"
    );
    assert_eq!(
        header(&response, VARY),
        "RSC, Next-Router-State-Tree, Next-Router-Prefetch"
    );
    let html_etag = header(&response, ETAG).to_owned();
    let html = response.text().await.unwrap();
    assert!(
        html.contains("Venue &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script>"));

    let response = client.get(&url).header("RSC", "1").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, CONTENT_TYPE), "text/x-component");
    assert_eq!(
        header(&response, VARY),
        "RSC, Next-Router-State-Tree, Next-Router-Prefetch"
    );
    assert_ne!(header(&response, ETAG), html_etag);
    let flight = response.text().await.unwrap();
    assert!(flight.starts_with("1:"), "{flight}");
    assert!(
        flight.contains("Venue <script>alert('x')</script>"),
        "JSON-encoded: {flight}"
    );

    let response = client
        .get(format!("{base}/venues/noble-rot"))
        .header(IF_NONE_MATCH, &html_etag)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "another venue, another ETag"
    );
    let etag = header(&response, ETAG).to_owned();
    let response = client
        .get(format!("{base}/venues/noble-rot"))
        .header(IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn static_assets_are_immutable_and_typed_by_extension() {
    let base = start().await;
    let client = client();
    for (path, content_type) in [
        ("app/main.css", "text/css"),
        ("chunks/42.js", "text/javascript"),
        ("img/label.webp", "application/octet-stream"),
        ("LICENSE", "application/octet-stream"),
    ] {
        let response = client
            .get(format!("{base}/static/{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(header(&response, CONTENT_TYPE), content_type, "{path}");
        assert_eq!(
            header(&response, CACHE_CONTROL),
            "public, max-age=31536000, immutable"
        );
        assert!(response.text().await.unwrap().contains(path));
    }
}

#[tokio::test]
async fn me_sets_a_fresh_private_session_cookie() {
    let base = start().await;
    let client = client();
    let mut cookies = Vec::new();
    for _ in 0..2 {
        let response = client.get(format!("{base}/api/me")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, CACHE_CONTROL), "private, no-store");
        let cookie = header(&response, SET_COOKIE).to_owned();
        assert!(cookie.starts_with("wyn_session="), "{cookie}");
        assert!(
            cookie.ends_with("; Path=/; HttpOnly; Secure; SameSite=Lax"),
            "{cookie}"
        );
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({ "user": "demo" })
        );
        cookies.push(cookie);
    }
    assert_ne!(cookies[0], cookies[1]);
}

/// The edge has to strip these itself: hyper 1 writes a handler's hop-by-hop headers verbatim, and
/// only appends `close` to `Connection` when the request asked to close.
#[tokio::test]
async fn hop_headers_reach_the_wire_as_sent() {
    let base = start().await;
    let sent = [
        ("x-hop-secret", "leaked"),
        ("keep-alive", "timeout=5"),
        ("proxy-connection", "keep-alive"),
        ("x-kept", "yes"),
    ];
    let cases: [(&[u8], &str); 3] = [
        (
            b"GET /api/hop-headers HTTP/1.1\r\nHost: origin\r\n\r\n",
            "X-Hop-Secret",
        ),
        (
            b"GET /api/hop-headers HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n",
            "X-Hop-Secret, close",
        ),
        (
            b"GET /api/hop-headers HTTP/1.0\r\nHost: origin\r\n\r\n",
            "X-Hop-Secret",
        ),
    ];
    for (request, connection) in cases {
        let mut stream = TcpStream::connect(base.trim_start_matches("http://"))
            .await
            .unwrap();
        stream.write_all(request).await.unwrap();
        // Read the head only: on a kept-alive connection the origin does not close.
        let mut answer = Vec::new();
        while !answer.windows(4).any(|window| window == b"\r\n\r\n") {
            let mut buffer = [0; 4096];
            let n = stream.read(&mut buffer).await.unwrap();
            assert!(n > 0, "closed before the head ended");
            answer.extend_from_slice(&buffer[..n]);
        }
        let answer = String::from_utf8_lossy(&answer);
        let lines = head_lines(&answer);
        let request_line = String::from_utf8_lossy(request);
        let connections: Vec<&str> = lines
            .iter()
            .filter(|(name, _)| name == "connection")
            .map(|(_, value)| value.as_str())
            .collect();
        assert_eq!(connections, [connection], "{request_line}\n{answer}");
        for (name, value) in sent {
            let found = lines.iter().filter(|(line_name, _)| line_name == name);
            let found: Vec<&str> = found.map(|(_, value)| value.as_str()).collect();
            assert_eq!(found, [value], "{name} for {request_line}\n{answer}");
        }
    }
}

#[tokio::test]
async fn dropping_serve_cuts_even_open_streams() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(super::serve(listener));
    let response = client()
        .post(format!("http://{address}/api/chat?events=3&pause_ms=10000"))
        .send()
        .await
        .unwrap();
    let mut chunks = response.bytes_stream();
    let first = chunks.next().await.unwrap().unwrap();
    assert!(first.starts_with(b"event: token"));

    server.abort();
    let _ = server.await;
    let rest = tokio::time::timeout(Duration::from_secs(5), chunks.next()).await;
    assert!(
        matches!(rest, Ok(None | Some(Err(_)))),
        "the stream is cut, not finished 20 s later: {rest:?}"
    );
    assert!(TcpStream::connect(address).await.is_err());
}

#[tokio::test]
async fn serve_with_lets_open_streams_finish_on_shutdown() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let options = super::Options::default();
    let server = tokio::spawn(async move {
        super::serve_with(listener, &options, async {
            let _ = stopped.await;
        })
        .await
    });
    let response = client()
        .post(format!("{base}/api/chat?events=3&pause_ms=100"))
        .send()
        .await
        .unwrap();
    let mut chunks = response.bytes_stream();
    let mut text = String::from_utf8(chunks.next().await.unwrap().unwrap().to_vec()).unwrap();
    stop.send(()).unwrap();
    while let Some(chunk) = chunks.next().await {
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    let events = parse_events(&text);
    assert_eq!(events.len(), 4, "{text}");
    assert_eq!(events[3], ("done".to_owned(), json!({ "events": 3 })));
    server.await.unwrap().unwrap();
    assert!(
        client()
            .get(format!("{base}/api/health"))
            .send()
            .await
            .is_err()
    );
}
