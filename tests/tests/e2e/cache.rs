//! The shared cache through the real worker in wrangler dev (its local Cache API): misses, hits,
//! keys, stale-while-revalidate, stale-if-error with the origin down, what is never stored,
//! CORS on stored answers, and purges. Misses, hits and variants also in raw workerd with the
//! peer benchmarks' cache service (`bench/cache/cache.js`), which must behave as a Cache API.

use std::time::{Duration, Instant};

use libtest_mimic::Trial;
use reqwest::blocking::Response;

use crate::support::{client, header, problem};
use crate::{Outcome, TOKEN, ensure, stacks};

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test("cache::miss_then_hit", || miss_then_hit(main_edge())),
        Trial::test("cache::bench_cache_miss_then_hit", || {
            miss_then_hit(&stacks().bench_cache.url)
        }),
        Trial::test("cache::bench_cache_keeps_variants_apart", || {
            vary_and_rsc_keep_entries_apart(&stacks().bench_cache.url)
        }),
        Trial::test(
            "cache::tracking_parameters_and_order_share_an_entry",
            tracking_parameters_and_order_share_an_entry,
        ),
        Trial::test(
            "cache::head_is_answered_from_a_stored_get",
            head_is_answered_from_a_stored_get,
        ),
        Trial::test("cache::never_stored", never_stored),
        Trial::test("cache::vary_and_rsc_keep_entries_apart", || {
            vary_and_rsc_keep_entries_apart(main_edge())
        }),
        Trial::test(
            "cache::stored_answers_come_back_as_the_origin_sent_them",
            stored_answers_come_back_as_the_origin_sent_them,
        ),
        Trial::test("cache::stale_while_revalidate", stale_while_revalidate),
        Trial::test("cache::revalidation_with_304", revalidation_with_304),
        Trial::test(
            "cache::a_304_refreshes_headers_but_keeps_the_stored_status",
            a_304_refreshes_headers_but_keeps_the_stored_status,
        ),
        Trial::test("cache::stale_if_error_on_5xx", stale_if_error_on_5xx),
        Trial::test(
            "cache::stale_if_error_with_the_origin_down",
            stale_if_error_with_the_origin_down,
        ),
        Trial::test(
            "cache::cors_is_applied_after_the_cache",
            cors_is_applied_after_the_cache,
        ),
        Trial::test(
            "cache::purge_by_url_prefix_and_all",
            purge_by_url_prefix_and_all,
        ),
        Trial::test("cache::bypass_is_reported", bypass_is_reported),
        Trial::test(
            "cache::opted_in_posts_stream_and_are_stored_whole",
            opted_in_posts_stream_and_are_stored_whole,
        ),
    ]
}

fn main_edge() -> &'static str {
    &stacks().main.url
}

fn body(resp: Response) -> Result<serde_json::Value, libtest_mimic::Failed> {
    Ok(resp.json()?)
}

/// GETs until the answer is a hit (the store finishes after the first answer streamed out).
fn get_hit(url: &str) -> Result<Response, libtest_mimic::Failed> {
    let started = Instant::now();
    loop {
        let resp = client().get(url).send()?;
        if header(&resp, "cache-status").contains(";hit") {
            return Ok(resp);
        }
        ensure!(
            started.elapsed() < Duration::from_secs(5),
            "never a hit: {:?}",
            header(&resp, "cache-status")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn cacheable(edge: &str, query: &str) -> String {
    format!("{edge}/api/cacheable?{query}")
}

fn miss_then_hit(edge: &str) -> Outcome {
    let url = cacheable(edge, "t=miss-hit&cc=public%2C+s-maxage%3D60");
    let first = client().get(&url).send()?;
    let status = header(&first, "cache-status");
    ensure!(
        status == "wyn-edge;fwd=uri-miss;fwd-status=200;ttl=60;stored",
        "first: {status}"
    );
    let first_body = body(first)?;
    let hit = get_hit(&url)?;
    let status = header(&hit, "cache-status");
    ensure!(status.starts_with("wyn-edge;hit;ttl="), "{status}");
    ensure!(
        header(&hit, "age").parse::<u64>().is_ok(),
        "no Age: {:?}",
        hit.headers()
    );
    ensure!(
        header(&hit, "cache-control") == "public, s-maxage=60",
        "the original Cache-Control: {:?}",
        hit.headers()
    );
    ensure!(
        !leaks_metadata(&hit),
        "metadata leaked: {:?}",
        hit.headers()
    );
    ensure!(body(hit)? == first_body, "a hit must be the stored answer");
    Ok(())
}

fn tracking_parameters_and_order_share_an_entry() -> Outcome {
    let a = cacheable(
        main_edge(),
        "t=keys&b=2&a=1&cc=public%2C+max-age%3D60&utm_source=mail",
    );
    let b = cacheable(
        main_edge(),
        "cc=public%2C+max-age%3D60&a=1&gclid=zz&t=keys&b=2&fbclid=q",
    );
    let first = body(client().get(&a).send()?)?;
    let hit = get_hit(&b)?;
    ensure!(body(hit)? == first, "a differently spelled query missed");
    let other = client()
        .get(cacheable(
            main_edge(),
            "t=keys&b=3&a=1&cc=public%2C+max-age%3D60",
        ))
        .send()?;
    ensure!(
        header(&other, "cache-status").contains("fwd=uri-miss"),
        "{:?}",
        header(&other, "cache-status")
    );
    Ok(())
}

fn head_is_answered_from_a_stored_get() -> Outcome {
    let url = cacheable(main_edge(), "t=head&cc=public%2C+max-age%3D60");
    client().get(&url).send()?.text()?;
    get_hit(&url)?;
    let head = client().head(&url).send()?;
    ensure!(
        header(&head, "cache-status").contains(";hit"),
        "{:?}",
        head.headers()
    );
    ensure!(head.text()?.is_empty(), "a HEAD answer has no body");
    Ok(())
}

fn never_stored() -> Outcome {
    let cases = [
        ("t=private&cc=private%2C+max-age%3D60", "not-storable"),
        ("t=nostore&cc=no-store", "not-storable"),
        ("t=cookie&cc=public%2C+max-age%3D60&cookie=1", "set-cookie"),
        ("t=varystar&cc=public%2C+max-age%3D60&vary=*", "vary-star"),
    ];
    for (query, detail) in cases {
        for _ in 0..2 {
            let resp = client().get(cacheable(main_edge(), query)).send()?;
            let status = header(&resp, "cache-status");
            ensure!(
                status.contains("fwd=uri-miss") && status.ends_with(&format!("detail={detail}")),
                "{query}: {status}"
            );
        }
    }
    // A request with a cookie is answered fresh unless the answer is explicitly public.
    for _ in 0..2 {
        let resp = client()
            .get(cacheable(main_edge(), "t=reqcookie&cc=max-age%3D60"))
            .header("cookie", "s=1")
            .send()?;
        ensure!(
            header(&resp, "cache-status").ends_with("detail=cookie"),
            "{:?}",
            header(&resp, "cache-status")
        );
    }
    Ok(())
}

fn vary_and_rsc_keep_entries_apart(edge: &str) -> Outcome {
    let url = cacheable(
        edge,
        "t=vary&cc=public%2C+max-age%3D60&vary=Accept-Language",
    );
    let get = |lang: &str| client().get(&url).header("accept-language", lang).send();
    let fr = body(get("fr")?)?;
    ensure!(fr["lang"] == "fr", "{fr}");
    let en = get("en")?;
    ensure!(
        header(&en, "cache-status").contains("fwd=vary-miss")
            || header(&en, "cache-status").contains("fwd=uri-miss"),
        "{:?}",
        header(&en, "cache-status")
    );
    ensure!(
        body(en)?["lang"] == "en",
        "en got another language's answer"
    );
    let started = Instant::now();
    loop {
        let again = get("fr")?;
        let status = header(&again, "cache-status");
        let b = body(again)?;
        ensure!(b["lang"] == "fr", "fr got {b}");
        if status.contains(";hit") {
            ensure!(b == fr, "the fr hit is not the stored fr answer");
            break;
        }
        ensure!(
            started.elapsed() < Duration::from_secs(5),
            "fr never hit: {status}"
        );
    }
    // Next.js: RSC payloads and HTML never share an entry, Vary or not.
    let page = format!("{edge}/venues/42");
    for _ in 0..3 {
        let html = client().get(&page).send()?;
        ensure!(
            header(&html, "content-type").starts_with("text/html"),
            "{:?}",
            html.headers()
        );
        let rsc = client().get(&page).header("rsc", "1").send()?;
        ensure!(
            header(&rsc, "content-type").starts_with("text/x-component"),
            "{:?}",
            rsc.headers()
        );
    }
    Ok(())
}

/// Whether the edge's own notes on a stored copy reached the client.
fn leaks_metadata(resp: &Response) -> bool {
    resp.headers()
        .keys()
        .any(|k| k.as_str().starts_with("x-wyn-cache"))
}

fn stored_answers_come_back_as_the_origin_sent_them() -> Outcome {
    // 422 with explicit freshness may be stored (RFC 9111 §3); it is kept as a 200 without
    // `Vary` and with the edge's retention `Cache-Control`, which none of its answers show.
    let url = cacheable(
        main_edge(),
        "t=own&cc=Public%2C+s-maxage%3D60&etag=v7&vary=Accept-Language&status=422",
    );
    let first = client().get(&url).send()?;
    ensure!(first.status() == 422, "origin: {}", first.status());
    let status = header(&first, "cache-status");
    ensure!(status.ends_with(";stored"), "first: {status}");
    let hit = get_hit(&url)?;
    ensure!(hit.status() == 422, "hit: {}", hit.status());
    ensure!(
        header(&hit, "cache-control") == "Public, s-maxage=60",
        "the origin's own Cache-Control, not the policy's form: {:?}",
        hit.headers()
    );
    ensure!(
        header(&hit, "vary")
            .split(',')
            .any(|v| v.trim().eq_ignore_ascii_case("accept-language")),
        "the origin's Vary: {:?}",
        hit.headers()
    );
    ensure!(
        !leaks_metadata(&hit),
        "metadata leaked: {:?}",
        hit.headers()
    );
    let not_modified = client()
        .get(&url)
        .header("if-none-match", "\"v7\"")
        .send()?;
    ensure!(
        not_modified.status() == 304,
        "a fresh hit whose ETag the client has: {}",
        not_modified.status()
    );
    ensure!(
        header(&not_modified, "cache-status").starts_with("wyn-edge;hit"),
        "{:?}",
        not_modified.headers()
    );
    ensure!(
        header(&not_modified, "cache-control") == "Public, s-maxage=60"
            && header(&not_modified, "etag") == "\"v7\""
            && header(&not_modified, "vary")
                .to_ascii_lowercase()
                .contains("accept-language"),
        "{:?}",
        not_modified.headers()
    );
    ensure!(
        !leaks_metadata(&not_modified),
        "metadata leaked: {:?}",
        not_modified.headers()
    );
    Ok(())
}

fn stale_while_revalidate() -> Outcome {
    let url = cacheable(
        main_edge(),
        "t=swr&cc=public%2C+s-maxage%3D1%2C+stale-while-revalidate%3D30",
    );
    let first = body(client().get(&url).send()?)?;
    get_hit(&url)?;
    std::thread::sleep(Duration::from_millis(1_300));
    let stale = client().get(&url).send()?;
    let status = header(&stale, "cache-status");
    ensure!(
        status.contains(";hit;ttl=-") && status.ends_with("detail=stale-while-revalidate"),
        "{status}"
    );
    ensure!(body(stale)? == first, "the stale answer is the stored one");
    // Refreshed in the background: soon a fresh hit with a newer answer.
    let started = Instant::now();
    loop {
        let resp = client().get(&url).send()?;
        let status = header(&resp, "cache-status");
        let b = body(resp)?;
        if status.contains(";hit;ttl=") && !status.contains("ttl=-") && b != first {
            return Ok(());
        }
        ensure!(
            started.elapsed() < Duration::from_secs(5),
            "never refreshed: {status} {b}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the entry at `url` (stored with `s-maxage=1` and an ETag) is stale, then asks
/// again: the origin answers the edge's validators with a 304 and the refreshed entry is stored.
fn revalidated_by_a_304(url: &str) -> Result<Response, libtest_mimic::Failed> {
    std::thread::sleep(Duration::from_millis(1_300));
    let resp = client().get(url).send()?;
    let status = header(&resp, "cache-status");
    ensure!(
        status.starts_with("wyn-edge;fwd=stale;fwd-status=304") && status.contains("stored"),
        "{status}"
    );
    Ok(resp)
}

fn revalidation_with_304() -> Outcome {
    let url = cacheable(main_edge(), "t=304&cc=public%2C+s-maxage%3D1&etag=v1");
    let first = body(client().get(&url).send()?)?;
    get_hit(&url)?;
    let resp = revalidated_by_a_304(&url)?;
    ensure!(
        resp.status() == 200,
        "the client gets the stored answer, not the 304: {}",
        resp.status()
    );
    ensure!(
        header(&resp, "cache-control") == "public, s-maxage=1" && !leaks_metadata(&resp),
        "the refreshed answer's own headers: {:?}",
        resp.headers()
    );
    ensure!(body(resp)? == first, "revalidated answer differs");
    Ok(())
}

fn a_304_refreshes_headers_but_keeps_the_stored_status() -> Outcome {
    let url = cacheable(
        main_edge(),
        "t=304-own&cc=Public%2C+s-maxage%3D1&cc304=public%2C+s-maxage%3D30&etag=v9&status=422",
    );
    let first = client().get(&url).send()?;
    ensure!(first.status() == 422, "origin: {}", first.status());
    let hit = get_hit(&url)?;
    ensure!(
        hit.status() == 422 && header(&hit, "cache-control") == "Public, s-maxage=1",
        "the origin's own status and header: {} {:?}",
        hit.status(),
        hit.headers()
    );
    let resp = revalidated_by_a_304(&url)?;
    ensure!(
        resp.status() == 422,
        "the stored status, not the 304's or the Cache API's: {}",
        resp.status()
    );
    ensure!(
        header(&resp, "cache-control") == "public, s-maxage=30" && !leaks_metadata(&resp),
        "the 304's Cache-Control over the stored one: {:?}",
        resp.headers()
    );
    let hit = get_hit(&url)?;
    ensure!(
        hit.status() == 422 && header(&hit, "cache-control") == "public, s-maxage=30",
        "the refreshed entry: {} {:?}",
        hit.status(),
        hit.headers()
    );
    Ok(())
}

fn stale_if_error_on_5xx() -> Outcome {
    let url = cacheable(
        main_edge(),
        "t=sie5xx&cc=public%2C+s-maxage%3D1%2C+stale-if-error%3D60",
    );
    let first = body(client().get(&url).send()?)?;
    get_hit(&url)?;
    std::thread::sleep(Duration::from_millis(1_300));
    let resp = client().get(&url).header("x-test-status", "503").send()?;
    let status = header(&resp, "cache-status");
    ensure!(resp.status() == 200, "status {}", resp.status());
    ensure!(
        status.contains("fwd=stale;fwd-status=503") && status.ends_with("detail=stale-if-error"),
        "{status}"
    );
    ensure!(body(resp)? == first, "not the stored answer");
    Ok(())
}

fn stale_if_error_with_the_origin_down() -> Outcome {
    let s = stacks();
    let url = cacheable(
        &s.cache.url,
        "t=down&cc=public%2C+s-maxage%3D1%2C+stale-if-error%3D3",
    );
    let first = body(client().get(&url).send()?)?;
    get_hit(&url)?;
    let stopped = Instant::now();
    drop(s.cache_origin.lock().map_err(|_| "lock")?.take());
    std::thread::sleep(Duration::from_millis(1_300));
    let resp = client().get(&url).send()?;
    let status = header(&resp, "cache-status");
    let served = resp.status();
    let stale_body = body(resp);
    // Whatever happens, bring the origin back.
    let restarted = crate::Origin::start_at(&s.cache_origin_addr);
    ensure!(
        served == 200
            && status.contains("fwd-status=502")
            && status.ends_with("detail=stale-if-error"),
        "{served} {status}"
    );
    ensure!(stale_body? == first, "not the stored answer");
    *s.cache_origin.lock().map_err(|_| "lock")? = Some(restarted?);
    // Past s-maxage + stale-if-error with the origin down again: a clear 502.
    drop(s.cache_origin.lock().map_err(|_| "lock")?.take());
    std::thread::sleep((Duration::from_secs(5)).saturating_sub(stopped.elapsed()));
    let resp = client().get(&url).send()?;
    let restarted = crate::Origin::start_at(&s.cache_origin_addr);
    problem(resp, 502, "origin-unreachable")?;
    *s.cache_origin.lock().map_err(|_| "lock")? = Some(restarted?);
    Ok(())
}

fn cors_is_applied_after_the_cache() -> Outcome {
    let url = cacheable(main_edge(), "t=cors&cc=public%2C+max-age%3D60");
    let first = client()
        .get(&url)
        .header("origin", "https://wyn.app")
        .send()?;
    ensure!(
        header(&first, "access-control-allow-origin") == "https://wyn.app",
        "{:?}",
        first.headers()
    );
    first.text()?;
    get_hit(&url)?;
    let other = client()
        .get(&url)
        .header("origin", "https://wyn-pr-7.vercel.app")
        .send()?;
    ensure!(
        header(&other, "cache-status").contains(";hit"),
        "{:?}",
        other.headers()
    );
    ensure!(
        header(&other, "access-control-allow-origin") == "https://wyn-pr-7.vercel.app",
        "a stored answer carried another origin's CORS: {:?}",
        other.headers()
    );
    let evil = client()
        .get(&url)
        .header("origin", "https://evil.example")
        .send()?;
    ensure!(
        header(&evil, "cache-status").contains(";hit"),
        "{:?}",
        evil.headers()
    );
    ensure!(
        !evil.headers().contains_key("access-control-allow-origin"),
        "{:?}",
        evil.headers()
    );
    Ok(())
}

fn purge(json: &str) -> Outcome {
    let resp = client()
        .post(format!("{}/__edge/purge", main_edge()))
        .bearer_auth(TOKEN)
        .header("cf-connecting-ip", "192.0.2.251")
        .body(json.to_owned())
        .send()?;
    ensure!(
        resp.status() == 200,
        "purge {json}: {} {}",
        resp.status(),
        resp.text().unwrap_or_default()
    );
    Ok(())
}

fn purge_by_url_prefix_and_all() -> Outcome {
    let one = cacheable(main_edge(), "t=purge1&cc=public%2C+max-age%3D600");
    client().get(&one).send()?.text()?;
    get_hit(&one)?;
    purge(&format!(r#"{{"urls":["{one}"]}}"#))?;
    let after = client().get(&one).send()?;
    ensure!(
        header(&after, "cache-status").contains("fwd=uri-miss"),
        "after a URL purge: {:?}",
        header(&after, "cache-status")
    );
    after.text()?;

    let page = format!("{}/venues/purge-me", main_edge());
    client().get(&page).send()?.text()?;
    get_hit(&page)?;
    purge(r#"{"prefix":"/venues/"}"#)?;
    let after = client().get(&page).send()?;
    ensure!(
        header(&after, "cache-status").contains("fwd=uri-miss"),
        "after a prefix purge: {:?}",
        header(&after, "cache-status")
    );
    after.text()?;
    // The URL purged first is untouched by the prefix purge: still a hit.
    get_hit(&one)?;

    // Bad purges are refused clearly, and only with the token.
    let resp = client()
        .post(format!("{}/__edge/purge", main_edge()))
        .bearer_auth(TOKEN)
        .body(r#"{"prefix":"venues"}"#)
        .send()?;
    problem(resp, 400, "bad-request")?;
    let resp = client()
        .post(format!("{}/__edge/purge", main_edge()))
        .body(r#"{"all":true}"#)
        .send()?;
    problem(resp, 401, "unauthorized")?;
    Ok(())
}

fn bypass_is_reported() -> Outcome {
    let resp = client().get(format!("{}/api/me", main_edge())).send()?;
    ensure!(
        header(&resp, "cache-status") == "wyn-edge;fwd=bypass;detail=route",
        "{:?}",
        resp.headers()
    );
    let resp = client()
        .delete(format!("{}/api/echo", main_edge()))
        .send()?;
    ensure!(
        header(&resp, "cache-status") == "wyn-edge;fwd=bypass;detail=method",
        "{:?}",
        resp.headers()
    );
    Ok(())
}

fn opted_in_posts_stream_and_are_stored_whole() -> Outcome {
    use std::io::Read;
    let url = format!("{}/api/chat?events=3&pause_ms=400", main_edge());
    let question = format!(r#"{{"q":"which merlot {}"}}"#, std::process::id());
    let ask = |q: &str| {
        client()
            .post(&url)
            .header("cf-connecting-ip", "192.0.2.150")
            .body(q.to_owned())
            .send()
    };
    // First: a miss, streamed as it is produced, and stored.
    let started = Instant::now();
    let mut first = ask(&question)?;
    let status = header(&first, "cache-status");
    ensure!(
        status.starts_with("wyn-edge;fwd=uri-miss;fwd-status=200") && status.ends_with("stored"),
        "{status}"
    );
    let mut chunk = [0u8; 256];
    let n = first.read(&mut chunk)?;
    let first_chunk = started.elapsed();
    ensure!(
        n > 0 && first_chunk < Duration::from_millis(600),
        "first event after {first_chunk:?}: the answer was buffered"
    );
    let mut rest = Vec::new();
    first.read_to_end(&mut rest)?;
    let whole: Vec<u8> = chunk[..n].iter().copied().chain(rest).collect();
    ensure!(
        started.elapsed() >= Duration::from_millis(800),
        "the stream ended early"
    );
    // Same question: the whole stored answer, byte for byte, without the pauses.
    let started = Instant::now();
    loop {
        let again = ask(&question)?;
        let status = header(&again, "cache-status");
        let bytes = again.bytes()?;
        if status.contains(";hit") {
            ensure!(
                bytes.as_ref() == whole.as_slice(),
                "the stored answer differs"
            );
            break;
        }
        ensure!(
            started.elapsed() < Duration::from_secs(5),
            "never a hit: {status}"
        );
    }
    // Another question is another key; a body over post_max_body bypasses.
    let other = ask(r#"{"q":"which syrah"}"#)?;
    ensure!(
        header(&other, "cache-status").contains("fwd=uri-miss"),
        "{:?}",
        header(&other, "cache-status")
    );
    let big = ask(&"x".repeat(20_000))?;
    ensure!(
        header(&big, "cache-status") == "wyn-edge;fwd=bypass;detail=body",
        "{:?}",
        header(&big, "cache-status")
    );
    Ok(())
}
