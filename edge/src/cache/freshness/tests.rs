use super::*;

const SEC: Duration = Duration::from_secs(1);

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn ex(cc: &str) -> Exchange {
    Exchange::get(
        "https://wyn.app/venues/1",
        &[],
        200,
        &[("cache-control", cc)],
    )
}

fn own(h: &[(&str, &str)]) -> Vec<(String, String)> {
    h.iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn s_maxage_wins_over_max_age_for_the_edge() {
    let meta = store(&ex("max-age=10, s-maxage=100"), None, t0()).unwrap();
    assert_eq!(meta.fresh_for_ms, 100_000);
    assert!(matches!(
        judge(&meta, &[], t0() + 50 * SEC),
        Verdict::Fresh { .. }
    ));
}

#[test]
fn swr_window_then_revalidation() {
    let meta = store(
        &ex("public, s-maxage=30, stale-while-revalidate=60"),
        None,
        t0(),
    )
    .unwrap();
    match judge(&meta, &[], t0() + 29 * SEC) {
        Verdict::Fresh { age, ttl } => assert_eq!((age, ttl), (29 * SEC, SEC)),
        other => panic!("{other:?}"),
    }
    match judge(&meta, &[], t0() + 31 * SEC) {
        Verdict::StaleWhileRevalidate { stale_by, .. } => assert_eq!(stale_by, SEC),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        judge(&meta, &[], t0() + 90 * SEC),
        Verdict::StaleWhileRevalidate { .. }
    ));
    assert!(matches!(
        judge(&meta, &[], t0() + 91 * SEC),
        Verdict::Revalidate { .. }
    ));
    assert_eq!(meta.retention(), 90 * SEC);
}

#[test]
fn the_client_can_refuse_stale_and_must_revalidate_forbids_it() {
    let meta = store(&ex("s-maxage=30, stale-while-revalidate=60"), None, t0()).unwrap();
    let no_cache = own(&[("cache-control", "no-cache")]);
    assert!(matches!(
        judge(&meta, &no_cache, t0() + 10 * SEC),
        Verdict::Revalidate { .. }
    ));
    assert!(matches!(
        judge(&meta, &no_cache, t0() + 40 * SEC),
        Verdict::Revalidate { .. }
    ));
    let strict = store(
        &ex("s-maxage=30, must-revalidate, stale-while-revalidate=60, stale-if-error=60"),
        None,
        t0(),
    )
    .unwrap();
    assert!(matches!(
        judge(&strict, &[], t0() + 40 * SEC),
        Verdict::Revalidate { .. }
    ));
    assert!(!strict.serves_on_error(t0() + 40 * SEC));
}

#[test]
fn stale_if_error_window() {
    let meta = store(&ex("s-maxage=10, stale-if-error=60"), None, t0()).unwrap();
    assert!(meta.serves_on_error(t0() + 5 * SEC));
    assert!(meta.serves_on_error(t0() + 70 * SEC));
    assert!(!meta.serves_on_error(t0() + 71 * SEC));
    let none = store(&ex("s-maxage=10"), None, t0()).unwrap();
    assert!(!none.serves_on_error(t0() + 11 * SEC));
}

#[test]
fn never_stored() {
    let cases: Vec<(Exchange, NotStored)> = vec![
        (ex("private, max-age=60"), NotStored::Policy),
        (ex("no-store"), NotStored::Policy),
        (ex("no-cache, no-store, max-age=60"), NotStored::Policy),
        (
            Exchange::get(
                "u:",
                &[],
                200,
                &[
                    ("cache-control", "public, max-age=60"),
                    ("set-cookie", "a=1"),
                ],
            ),
            NotStored::SetCookie,
        ),
        (
            Exchange::get(
                "https://wyn.app/",
                &[("cookie", "s=1")],
                200,
                &[("cache-control", "max-age=60")],
            ),
            NotStored::Cookie,
        ),
        (
            Exchange::get(
                "https://wyn.app/",
                &[],
                200,
                &[("cache-control", "max-age=60"), ("vary", "Accept, *")],
            ),
            NotStored::VaryStar,
        ),
        (
            Exchange::get(
                "https://wyn.app/",
                &[],
                206,
                &[("cache-control", "max-age=60")],
            ),
            NotStored::Partial,
        ),
        (
            Exchange::get(
                "https://wyn.app/",
                &[("authorization", "Bearer x")],
                200,
                &[("cache-control", "max-age=60")],
            ),
            NotStored::Policy,
        ),
        (
            Exchange::get("https://wyn.app/", &[], 200, &[]),
            NotStored::Policy,
        ),
    ];
    for (ex, why) in cases {
        assert_eq!(store(&ex, None, t0()).unwrap_err(), why, "{ex:?}");
    }
    let big = Exchange::get(
        "https://wyn.app/",
        &[],
        200,
        &[("cache-control", "max-age=60"), ("content-length", "2000")],
    );
    assert_eq!(
        store_with(&big, None, 1000, t0()).unwrap_err(),
        NotStored::TooLarge
    );
    let mut post = Exchange::get("https://wyn.app/api/chat", &[], 500, &[]);
    post.method = "POST".into();
    assert_eq!(
        store(&post, Some(60 * SEC), t0()).unwrap_err(),
        NotStored::PostStatus
    );
}

#[test]
fn explicitly_public_answers_to_credentialed_requests_are_stored() {
    let with_cookie = Exchange::get(
        "https://wyn.app/",
        &[("cookie", "s=1")],
        200,
        &[("cache-control", "public, max-age=60")],
    );
    let meta = store(&with_cookie, None, t0()).unwrap();
    assert!(
        meta.request.iter().all(|(n, _)| n != "cookie"),
        "the cookie is not kept"
    );
    let with_auth = Exchange::get(
        "https://wyn.app/",
        &[("authorization", "Bearer secret")],
        200,
        &[("cache-control", "public, max-age=60")],
    );
    let meta = store(&with_auth, None, t0()).unwrap();
    assert_eq!(
        meta.request,
        own(&[("authorization", "present")]),
        "the credential is not kept"
    );
}

#[test]
fn expires_age_and_heuristics() {
    let e = Exchange::get(
        "https://wyn.app/",
        &[],
        200,
        &[
            ("date", "Fri, 15 Jan 2027 08:00:00 GMT"),
            ("expires", "Fri, 15 Jan 2027 08:01:00 GMT"),
        ],
    );
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let meta = store(&e, None, now).unwrap();
    assert_eq!(meta.fresh_for_ms, 60_000);
    // An Age from upstream counts against freshness.
    let aged = store(
        &Exchange::get(
            "https://wyn.app/",
            &[],
            200,
            &[("cache-control", "max-age=60"), ("age", "50")],
        ),
        None,
        t0(),
    )
    .unwrap();
    assert!(matches!(
        judge(&aged, &[], t0() + 9 * SEC),
        Verdict::Fresh { .. }
    ));
    assert!(matches!(
        judge(&aged, &[], t0() + 11 * SEC),
        Verdict::Revalidate { .. }
    ));
    // Heuristic freshness from Last-Modified, for a status cacheable by default (10% of its age).
    let lm = Exchange::get(
        "https://wyn.app/",
        &[],
        200,
        &[
            ("date", "Fri, 15 Jan 2027 08:00:00 GMT"),
            ("last-modified", "Fri, 15 Jan 2027 07:00:00 GMT"),
        ],
    );
    assert_eq!(store(&lm, None, now).unwrap().fresh_for_ms, 360_000);
}

#[test]
fn cdn_cache_control_wins_for_the_edge() {
    let e = Exchange::get(
        "https://wyn.app/",
        &[],
        200,
        &[
            ("cache-control", "no-store"),
            ("cdn-cache-control", "max-age=120"),
        ],
    );
    let meta = store(&e, None, t0()).unwrap();
    assert_eq!(meta.fresh_for_ms, 120_000);
    let e = Exchange::get(
        "https://wyn.app/",
        &[],
        200,
        &[
            ("cache-control", "max-age=600"),
            ("cdn-cache-control", "no-store"),
        ],
    );
    assert_eq!(store(&e, None, t0()).unwrap_err(), NotStored::Policy);
}

#[test]
fn route_ttl_overrides_freshness_but_not_privacy() {
    let meta = store(&ex("public, max-age=60"), Some(31_536_000 * SEC), t0()).unwrap();
    assert_eq!(meta.fresh_for_ms, 31_536_000_000);
    let meta = store(
        &Exchange::get("https://wyn.app/", &[], 200, &[]),
        Some(30 * SEC),
        t0(),
    )
    .unwrap();
    assert_eq!(meta.fresh_for_ms, 30_000);
    assert_eq!(
        store(&ex("private"), Some(60 * SEC), t0()).unwrap_err(),
        NotStored::Policy
    );
    assert_eq!(
        store(&ex("no-store"), Some(60 * SEC), t0()).unwrap_err(),
        NotStored::Policy
    );
}

#[test]
fn revalidation_sends_validators_and_a_304_refreshes() {
    let e = Exchange::get(
        "https://wyn.app/api/venues",
        &[],
        200,
        &[
            ("cache-control", "s-maxage=60"),
            ("etag", "\"v1\""),
            ("last-modified", "Fri, 15 Jan 2027 07:00:00 GMT"),
        ],
    );
    let meta = store(&e, None, t0()).unwrap();
    match judge(&meta, &[], t0() + 61 * SEC) {
        Verdict::Revalidate { conditional, .. } => {
            assert!(
                conditional.contains(&("if-none-match".into(), "\"v1\"".into())),
                "{conditional:?}"
            );
            assert!(
                conditional.iter().any(|(n, _)| n == "if-modified-since"),
                "{conditional:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    let later = t0() + 61 * SEC;
    match revalidated(
        &meta,
        304,
        &own(&[
            ("etag", "\"v1\""),
            ("cache-control", "s-maxage=120"),
            ("x-new", "1"),
        ]),
        later,
    ) {
        Revalidated::NotModified(fresh, updates) => {
            assert_eq!(fresh.fresh_for_ms, 120_000);
            assert_eq!(fresh.cache_control.as_deref(), Some("s-maxage=120"));
            assert!(updates.contains(&("x-new".into(), "1".into())));
            assert!(matches!(
                judge(&fresh, &[], later + 100 * SEC),
                Verdict::Fresh { .. }
            ));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        revalidated(&meta, 304, &own(&[("etag", "\"v2\"")]), later),
        Revalidated::Modified
    );
    assert_eq!(
        revalidated(&meta, 200, &own(&[("etag", "\"v2\"")]), later),
        Revalidated::Modified
    );
}

#[test]
fn vary_mismatch_is_not_fresh() {
    let e = Exchange::get(
        "https://wyn.app/",
        &[("accept-language", "fr")],
        200,
        &[("cache-control", "max-age=60"), ("vary", "Accept-Language")],
    );
    let meta = store(&e, None, t0()).unwrap();
    assert!(matches!(
        judge(&meta, &own(&[("accept-language", "fr")]), t0() + SEC),
        Verdict::Fresh { .. }
    ));
    assert!(matches!(
        judge(&meta, &own(&[("accept-language", "en")]), t0() + SEC),
        Verdict::Revalidate { .. }
    ));
}

#[test]
fn metadata_round_trips_as_json() {
    let meta = store(
        &ex("s-maxage=30, stale-while-revalidate=60, stale-if-error=300"),
        None,
        t0(),
    )
    .unwrap();
    let text = serde_json::to_string(&meta).unwrap();
    assert_eq!(serde_json::from_str::<StoredMeta>(&text).unwrap(), meta);
    assert_eq!((meta.swr_secs, meta.sie_secs), (60, 300));
    assert!(
        text.starts_with("[3,"),
        "stored as an array, version first: {text}"
    );
}

#[test]
fn metadata_keeps_what_is_served_again_as_the_origin_sent_it() {
    // A route TTL rewrites the policy's Cache-Control and an unlisted status is shown to the
    // library as 200: the client still gets the origin's own header and status.
    let e = Exchange::get(
        "https://wyn.app/a",
        &[],
        422,
        &[
            ("cache-control", "max-age=5, Public"),
            ("vary", "accept-language"),
        ],
    );
    let meta = store(&e, Some(Duration::from_secs(60)), t0()).unwrap();
    assert_eq!(meta.status, 200);
    assert_eq!(meta.served_status, 422);
    assert_eq!(meta.cache_control.as_deref(), Some("max-age=5, Public"));
    assert_eq!(meta.vary(), Some("accept-language"));
    let text = serde_json::to_string(&meta).unwrap();
    assert_eq!(Stored::parse(&text).unwrap().meta, meta);
    let bare = Exchange::get("https://wyn.app/b", &[], 200, &[]);
    let bare = store(&bare, Some(Duration::from_secs(60)), t0()).unwrap();
    assert_eq!((bare.cache_control.as_deref(), bare.vary()), (None, None));
}

#[test]
fn metadata_of_another_form_or_version_does_not_read() {
    let meta = store(&ex("s-maxage=30"), None, t0()).unwrap();
    let text = serde_json::to_string(&meta).unwrap();
    assert!(Stored::parse(&text).is_some());
    let other_version = text.replacen("[3,", "[2,", 1);
    assert!(Stored::parse(&other_version).is_none());
    // Version 1 stored an object.
    let v1 = r#"{"v":1,"stored_at_ms":1800000000000,"method":"GET","url":"https://wyn.app/","request":[],"status":200,"response":[["cache-control","s-maxage=30"]],"fresh_for_ms":30000,"swr_secs":0,"sie_secs":0,"must_revalidate":false}"#;
    assert!(Stored::parse(v1).is_none());
}

#[test]
fn directive_names_are_case_insensitive_and_surrogate_control_counts() {
    let e = Exchange::get(
        "https://wyn.app/",
        &[],
        200,
        &[("cache-control", "NO-CACHE, MAX-AGE=60"), ("etag", "\"a\"")],
    );
    let meta = store(&e, None, t0()).unwrap();
    assert!(matches!(
        judge(&meta, &[], t0() + SEC),
        Verdict::Revalidate { .. }
    ));
    assert!(meta.must_revalidate);
    let e = Exchange::get(
        "https://wyn.app/",
        &[],
        200,
        &[
            ("cache-control", "no-store"),
            ("surrogate-control", "max-age=60"),
        ],
    );
    assert_eq!(store(&e, None, t0()).unwrap().fresh_for_ms, 60_000);
    let e = Exchange::get(
        "https://wyn.app/",
        &[],
        200,
        &[
            ("cache-control", "max-age=60"),
            ("surrogate-control", "max-age=0"),
        ],
    );
    assert!(store(&e, None, t0()).is_err_and(|e| e == NotStored::Policy));
}

#[test]
fn an_untrustworthy_age_makes_the_response_stale() {
    for age in ["-7200", "0, 0", "abc", "1.5", ""] {
        let e = Exchange::get(
            "https://wyn.app/",
            &[],
            200,
            &[
                ("cache-control", "max-age=3600"),
                ("etag", "\"x\""),
                ("age", age),
            ],
        );
        let meta = store(&e, None, t0()).unwrap();
        assert!(
            matches!(judge(&meta, &[], t0() + SEC), Verdict::Revalidate { .. }),
            "{age:?}"
        );
    }
}

#[test]
fn validators_keep_a_stale_entry_for_revalidation() {
    let with = Exchange::get(
        "https://wyn.app/",
        &[],
        200,
        &[
            ("cache-control", "max-age=2"),
            ("last-modified", "Fri, 15 Jan 2027 07:00:00 GMT"),
        ],
    );
    assert_eq!(
        store(&with, None, t0()).unwrap().retention(),
        Duration::from_secs(2 + 86_400)
    );
    assert_eq!(
        store(&ex("max-age=2"), None, t0()).unwrap().retention(),
        Duration::from_secs(3)
    );
}

#[test]
fn any_final_status_with_explicit_freshness_is_stored() {
    for status in [299, 400, 500, 502, 503, 504, 599] {
        let e = Exchange::get(
            "https://wyn.app/",
            &[],
            status,
            &[("cache-control", "max-age=60")],
        );
        let meta = store(&e, None, t0()).unwrap_or_else(|e| panic!("{status}: {e:?}"));
        assert!(
            matches!(judge(&meta, &[], t0() + SEC), Verdict::Fresh { .. }),
            "{status}"
        );
        assert!(
            matches!(
                judge(&meta, &[], t0() + 61 * SEC),
                Verdict::Revalidate { .. }
            ),
            "{status}"
        );
    }
    // Without explicit freshness, or with must-understand, a status the cache does not know is not stored.
    assert!(
        store(
            &Exchange::get(
                "https://wyn.app/",
                &[],
                500,
                &[("last-modified", "Fri, 15 Jan 2027 07:00:00 GMT")]
            ),
            None,
            t0()
        )
        .is_err()
    );
    assert!(
        store(
            &Exchange::get(
                "https://wyn.app/",
                &[],
                599,
                &[("cache-control", "max-age=60, must-understand")]
            ),
            None,
            t0()
        )
        .is_err()
    );
}

#[test]
fn a_parsed_stored_response_judges_as_its_metadata_does() {
    let meta = store(
        &ex("public, s-maxage=30, stale-while-revalidate=60, stale-if-error=600"),
        None,
        t0(),
    )
    .unwrap();
    let stored = Stored::parse(&serde_json::to_string(&meta).unwrap()).unwrap();
    assert_eq!(stored.meta, meta);
    let no_cache = own(&[("cache-control", "no-cache")]);
    for secs in [0, 10, 29, 31, 50, 89, 91, 700] {
        let now = t0() + Duration::from_secs(secs);
        for request in [&[][..], &no_cache[..]] {
            assert_eq!(
                stored.judge(request, now),
                judge(&meta, request, now),
                "at {secs} s"
            );
        }
    }
    assert!(Stored::parse("{\"not\":\"ours\"}").is_none());
}

#[test]
fn the_plain_fast_path_agrees_with_before_request() {
    let stored_requests: [&[(&str, &str)]; 3] = [
        &[],
        &[("accept-language", "fr"), ("host", "wyn.app")],
        &[("accept-language", "fr  ")],
    ];
    let responses: [&[(&str, &str)]; 5] = [
        &[("cache-control", "max-age=60")],
        &[("cache-control", "max-age=60"), ("vary", "Accept-Language")],
        &[
            ("cache-control", "max-age=60, must-revalidate"),
            ("vary", "accept-language, Origin"),
        ],
        &[("cache-control", "s-maxage=5, stale-while-revalidate=30")],
        &[("cache-control", "max-age=60"), ("vary", "*")],
    ];
    let requests: [&[(&str, &str)]; 9] = [
        &[],
        &[("accept-language", "fr")],
        &[("accept-language", "en")],
        &[("accept-language", "fr  ")],
        &[("host", "wyn.app")],
        &[("host", "other.example")],
        &[("origin", "https://wyn.app")],
        &[("cache-control", "max-age=0")],
        &[("pragma", "no-cache")],
    ];
    let mut plain = 0;
    for stored in stored_requests {
        for response in responses {
            let e = Exchange::get("https://wyn.app/venues", stored, 200, response);
            let Ok(meta) = store(&e, None, t0()) else {
                continue;
            };
            let policy = meta.policy().unwrap();
            for request in requests {
                let request = own(request);
                for secs in [0, 1, 4, 6, 59, 61, 100] {
                    let now = t0() + secs * SEC;
                    if let Some(fast) = plainly_fresh(&meta, &policy, &request, now) {
                        plain += 1;
                        let full = judge_by_request(&meta, &policy, &request, now);
                        assert_eq!(
                            format!("{fast:?}"),
                            format!("{full:?}"),
                            "stored {stored:?}, response {response:?}, request {request:?}, +{secs} s"
                        );
                    }
                }
            }
        }
    }
    // The fast path is taken where it should be (fresh, plain requests), not never.
    assert!(plain > 40, "only {plain} plain verdicts");
}
