//! Tests of the polling machine (RFC 8628 §3.4, §3.5).

use super::*;

// ---- §3.4 device access token request and polling pace ----

#[test]
fn rfc8628_section_3_4_example_token_request() {
    let mut m = machine();
    let req = m.poll_transmit(t(1005)).unwrap();
    assert_eq!(req.url, token_url());
    assert_eq!(
        String::from_utf8(req.body).unwrap(),
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code\
         &device_code=GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS\
         &client_id=1406020730"
    );
}

#[test]
fn token_request_carries_the_resource() {
    let resource = ResourceUri::parse("https://mcp.example.com").unwrap();
    let mut m = DevicePoll::new(
        t(1000),
        rfc_authorization(),
        token_url(),
        client(),
        Some(resource),
    );
    let req = m.poll_transmit(t(1005)).unwrap();
    assert_eq!(form(&req)["resource"], "https://mcp.example.com");
}

#[test]
fn polls_wait_one_interval_between_requests() {
    let mut m = machine();
    assert_eq!(m.poll_timeout(), Some(t(1005)));
    assert!(m.poll_transmit(t(1000)).is_none());
    assert!(m.poll_transmit(Time::from_unix_millis(1_004_999)).is_none());
    assert!(m.poll_transmit(t(1005)).is_some());
    // In flight: nothing to send and no timer until the outcome is fed back.
    assert_eq!(m.poll_timeout(), None);
    assert!(m.poll_transmit(t(1100)).is_none());
    assert!(!m.is_finished());
    // authorization_pending keeps the interval, measured from when the poll was sent.
    assert_eq!(
        m.handle_response(t(1007), &error("authorization_pending"), &Policy::default()),
        Ok(DeviceStatus::Pending)
    );
    assert_eq!(m.poll_timeout(), Some(t(1010)));
    assert!(m.poll_transmit(t(1009)).is_none());
    // A late wake-up polls at once, and the next one is an interval after it.
    assert!(m.poll_transmit(t(1013)).is_some());
    m.handle_response(t(1013), &error("authorization_pending"), &Policy::default())
        .unwrap();
    assert_eq!(m.poll_timeout(), Some(t(1018)));
    assert_eq!(m.interval(), Duration::from_secs(5));
}

// ---- §3.5 device access token response ----

#[test]
fn slow_down_adds_five_seconds_each_time() {
    let mut m = machine();
    assert_eq!(
        poll_once(&mut m, t(1005), &error("slow_down")),
        Ok(DeviceStatus::SlowDown {
            interval: Duration::from_secs(10)
        })
    );
    assert_eq!(m.poll_timeout(), Some(t(1015)));
    assert!(m.poll_transmit(t(1014)).is_none());
    assert_eq!(
        poll_once(&mut m, t(1015), &error("slow_down")),
        Ok(DeviceStatus::SlowDown {
            interval: Duration::from_secs(15)
        })
    );
    assert_eq!(m.poll_timeout(), Some(t(1030)));
    // Later pending answers keep the increased interval.
    assert_eq!(
        poll_once(&mut m, t(1030), &error("authorization_pending")),
        Ok(DeviceStatus::Pending)
    );
    assert_eq!(m.poll_timeout(), Some(t(1045)));
    assert_eq!(m.interval(), Duration::from_secs(15));
}

#[test]
fn expired_token_ends_the_flow_as_expired() {
    let mut m = machine();
    assert_eq!(
        poll_once(&mut m, t(1005), &error("expired_token")),
        Ok(DeviceStatus::Expired)
    );
    assert!(m.is_finished());
    assert!(m.is_expired());
    assert_eq!(m.poll_timeout(), None);
    assert!(m.poll_transmit(t(1010)).is_none());
}

#[test]
fn access_denied_ends_the_flow_as_denied() {
    let mut m = machine();
    assert_eq!(
        poll_once(&mut m, t(1005), &error("access_denied")),
        Ok(DeviceStatus::Denied)
    );
    assert!(m.is_finished());
    assert!(!m.is_expired());
    assert_eq!(m.poll_timeout(), None);
}

#[test]
fn other_oauth_errors_end_the_flow_with_the_error() {
    for code in [
        "invalid_grant",
        "invalid_client",
        "unsupported_grant_type",
        "incorrect_device_code",
    ] {
        let mut m = machine();
        let err = poll_once(&mut m, t(1005), &error(code)).unwrap_err();
        assert_eq!(err.oauth().unwrap().error, code);
        assert!(m.is_finished(), "{code}");
        assert!(!m.is_expired());
    }
}

#[test]
fn success_yields_tokens_and_ends_the_flow() {
    let mut m = machine();
    poll_once(&mut m, t(1005), &error("authorization_pending")).unwrap();
    let status = poll_once(&mut m, t(1010), &ok_tokens()).unwrap();
    let DeviceStatus::Tokens(tokens) = status else {
        panic!("expected tokens, got {status:?}");
    };
    assert_eq!(tokens.access_token.secret(), "2YotnFZFEjr1zCsicMWpAA");
    assert_eq!(tokens.expires_at, Some(t(4610)));
    assert!(m.is_finished());
    assert_eq!(m.poll_timeout(), None);
}

#[test]
fn malformed_success_ends_the_flow_with_a_protocol_error() {
    let mut m = machine();
    let err = poll_once(
        &mut m,
        t(1005),
        &HttpResponse::json(200, r#"{"token_type":"Bearer"}"#),
    )
    .unwrap_err();
    assert_eq!(err.code(), "MISSING_FIELD");
    assert!(m.is_finished());
}

#[test]
fn github_style_errors_with_status_200_are_honoured() {
    let mut m = machine();
    let pending = HttpResponse::json(
        200,
        r#"{"error":"authorization_pending","error_description":"The authorization request is still pending."}"#,
    );
    assert_eq!(
        poll_once(&mut m, t(1005), &pending),
        Ok(DeviceStatus::Pending)
    );
    assert!(!m.is_finished());
}

#[test]
fn deadline_expires_the_flow_without_sending() {
    let mut m = machine();
    // Poll steadily until just before the deadline (t=2800).
    let mut at = t(1005);
    while at < t(2800) {
        poll_once(&mut m, at, &error("authorization_pending")).unwrap();
        at = m.poll_timeout().unwrap();
    }
    assert_eq!(m.poll_timeout(), Some(m.deadline()));
    assert!(m.poll_transmit(m.deadline()).is_none());
    assert!(m.is_finished());
    assert!(m.is_expired());
    assert_eq!(m.poll_timeout(), None);
}

#[test]
fn the_deadline_caps_the_timeout_after_a_long_slow_down() {
    let auth = authorize(
        r#"{"device_code":"d","user_code":"u","verification_uri":"https://example.com/device","expires_in":12,"interval":5}"#,
    )
    .unwrap();
    let mut m = DevicePoll::new(t(1000), auth, token_url(), client(), None);
    poll_once(&mut m, t(1005), &error("slow_down")).unwrap();
    assert_eq!(m.poll_timeout(), Some(t(1012)));
    assert!(m.poll_transmit(t(1012)).is_none());
    assert!(m.is_expired());
}

#[test]
fn a_response_after_the_deadline_is_still_honoured() {
    let mut m = machine();
    assert!(m.poll_transmit(t(2799)).is_some());
    let status = m
        .handle_response(t(2805), &ok_tokens(), &Policy::default())
        .unwrap();
    assert!(matches!(status, DeviceStatus::Tokens(_)));
}

#[test]
fn feeding_a_response_without_a_poll_in_flight_is_a_usage_error() {
    let mut m = machine();
    let err = m
        .handle_response(t(1000), &error("authorization_pending"), &Policy::default())
        .unwrap_err();
    assert!(matches!(err, Error::Usage(UsageError::InvalidState(_))));
    assert_eq!(
        m.handle_failure(t(1000)).unwrap_err().code(),
        "INVALID_STATE"
    );
    // After the end, too.
    poll_once(&mut m, t(1005), &error("access_denied")).unwrap();
    let err = m
        .handle_response(t(1006), &ok_tokens(), &Policy::default())
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_STATE");
    // The machine was not changed by the misuse.
    assert!(m.is_finished());
}

#[test]
fn transport_failures_double_the_interval_up_to_a_cap() {
    let mut m = machine();
    let mut at = t(1005);
    let mut seen = Vec::new();
    for _ in 0..6 {
        assert!(m.poll_transmit(at).is_some());
        m.handle_failure(at.add(Duration::from_secs(30))).unwrap();
        seen.push(m.interval().as_secs());
        assert_eq!(
            m.poll_timeout(),
            Some(at.add(Duration::from_secs(30)).add(m.interval()))
        );
        at = m.poll_timeout().unwrap();
    }
    assert_eq!(seen, [10, 20, 40, 60, 60, 60]);
    // A server interval above the cap is never shrunk.
    let slow = authorize(
        r#"{"device_code":"d","user_code":"u","verification_uri":"https://example.com/device","expires_in":6000,"interval":90}"#,
    )
    .unwrap();
    let mut m = DevicePoll::new(t(0), slow, token_url(), client(), None);
    assert!(m.poll_transmit(t(90)).is_some());
    m.handle_failure(t(91)).unwrap();
    assert_eq!(m.interval(), Duration::from_secs(90));
}

#[test]
fn overload_and_server_errors_back_off_and_keep_polling() {
    let mut m = machine();
    let busy = HttpResponse::new(503, vec![("Retry-After".into(), "45".into())], "");
    let err = poll_once(&mut m, t(1005), &busy).unwrap_err();
    assert_eq!(err.code(), "TEMPORARILY_UNAVAILABLE");
    assert!(!m.is_finished());
    assert_eq!(m.interval(), Duration::from_secs(10));
    assert_eq!(m.poll_timeout(), Some(t(1050)));

    let err = poll_once(
        &mut m,
        t(1050),
        &HttpResponse::new(502, vec![], "<html>bad gateway</html>"),
    )
    .unwrap_err();
    assert_eq!(err.code(), "UNEXPECTED_STATUS");
    assert!(!m.is_finished());
    assert_eq!(m.poll_timeout(), Some(t(1070)));

    let err = poll_once(
        &mut m,
        t(1070),
        &HttpResponse::json(500, r#"{"error":"server_error"}"#),
    )
    .unwrap_err();
    assert_eq!(err.oauth().unwrap().error, "server_error");
    assert!(!m.is_finished());

    // A client-side status without an OAuth body is not transient.
    let mut m = machine();
    let err = poll_once(&mut m, t(1005), &HttpResponse::new(404, vec![], "")).unwrap_err();
    assert_eq!(err.code(), "UNEXPECTED_STATUS");
    assert!(m.is_finished());
}

#[test]
fn oversized_or_redirected_poll_responses_end_the_flow() {
    let mut m = machine();
    let redirect = HttpResponse::new(
        302,
        vec![("location".into(), "https://evil.example".into())],
        "",
    );
    assert_eq!(
        poll_once(&mut m, t(1005), &redirect).unwrap_err().code(),
        "UNEXPECTED_REDIRECT"
    );
    assert!(m.is_finished());
}

#[test]
fn from_metadata_checks_endpoint_issuer_and_scheme() {
    let policy = Policy {
        max_response_bytes: 2048,
        ..Policy::default()
    };
    let mut m = DevicePoll::from_metadata(
        t(1000),
        rfc_authorization(),
        &server(),
        client(),
        None,
        &policy,
    )
    .unwrap();
    let req = m.poll_transmit(t(1005)).unwrap();
    assert_eq!(req.url.as_str(), "https://server.example.com/token");
    assert_eq!(req.max_response_bytes, 2048);

    let mut no_token = server();
    no_token.token_endpoint = None;
    let err = DevicePoll::from_metadata(
        t(0),
        rfc_authorization(),
        &no_token,
        client(),
        None,
        &policy,
    )
    .unwrap_err();
    assert!(matches!(
        err,
        Error::Usage(UsageError::MissingEndpoint {
            endpoint: "token_endpoint",
            ..
        })
    ));
    let other = ClientCredentials::public("https://other.example.com", "x");
    let err = DevicePoll::from_metadata(t(0), rfc_authorization(), &server(), other, None, &policy)
        .unwrap_err();
    assert_eq!(err.code(), "CREDENTIALS_FOR_OTHER_ISSUER");
    let mut insecure = server();
    insecure.token_endpoint = Some(Url::parse("http://server.example.com/token").unwrap());
    let err = DevicePoll::from_metadata(
        t(0),
        rfc_authorization(),
        &insecure,
        client(),
        None,
        &policy,
    )
    .unwrap_err();
    assert_eq!(err.code(), "INSECURE_URL");
}

// ---- properties ----

fn arb_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop_oneof![
            Just("authorization_pending"),
            Just("slow_down"),
            Just("expired_token"),
            Just("access_denied"),
            Just("invalid_grant"),
        ]
        .prop_map(|c| format!(r#"{{"error":"{c}"}}"#).into_bytes()),
        Just(br#"{"access_token":"at","token_type":"Bearer","expires_in":60}"#.to_vec()),
        Just(br#"{"access_token":1}"#.to_vec()),
        Just(b"[]".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..64),
    ]
}

fn arb_outcome() -> impl Strategy<Value = Option<(u16, Vec<u8>, Option<String>)>> {
    proptest::option::weighted(
        0.9,
        (
            arb_status(),
            arb_body(),
            proptest::option::of("[0-9]{1,6}|[a-z ]{0,5}"),
        ),
    )
}

proptest! {
    /// Whatever the server answers and whenever the driver wakes, the machine never panics,
    /// and after every step it is either over or has a timer no later than the deadline at
    /// which a poll (or the expiry) is sure to happen.
    #[test]
    fn polling_always_finishes_or_keeps_a_sane_timeout(
        interval in 0u64..20,
        expires_in in 0u64..400,
        steps in proptest::collection::vec((0u64..15_000, arb_outcome()), 1..60),
    ) {
        let auth = authorize(&format!(
            r#"{{"device_code":"d","user_code":"u","verification_uri":"https://example.com/device","expires_in":{expires_in},"interval":{interval}}}"#
        )).unwrap();
        let mut m = DevicePoll::new(t(1000), auth, token_url(), client(), None);
        let mut now = t(1000);
        for (delay_ms, outcome) in steps {
            if m.is_finished() {
                prop_assert_eq!(m.poll_timeout(), None);
                prop_assert!(m.poll_transmit(now).is_none());
                break;
            }
            let due = m.poll_timeout();
            prop_assert!(due.is_some());
            let due = due.unwrap_or(now);
            prop_assert!(due <= m.deadline());
            // Waking at the timeout always makes progress: a poll or the end.
            now = now.max(due).add(Duration::from_millis(delay_ms % 3));
            let Some(req) = m.poll_transmit(now) else {
                prop_assert!(m.is_expired());
                continue;
            };
            prop_assert_eq!(req.url.clone(), token_url());
            prop_assert!(m.poll_transmit(now).is_none());
            now = now.add(Duration::from_millis(delay_ms));
            match outcome {
                None => prop_assert!(m.handle_failure(now).is_ok()),
                Some((status, body, retry)) => {
                    let headers = retry.map(|r| vec![("retry-after".to_owned(), r)]).unwrap_or_default();
                    let resp = HttpResponse::new(status, headers, body);
                    let result = m.handle_response(now, &resp, &Policy::default());
                    match result {
                        Ok(DeviceStatus::Pending | DeviceStatus::SlowDown { .. }) => {
                            prop_assert!(!m.is_finished());
                        }
                        Ok(_) => prop_assert!(m.is_finished()),
                        Err(_) => {}
                    }
                }
            }
            prop_assert!(m.interval() >= MIN_INTERVAL);
        }
    }
}
