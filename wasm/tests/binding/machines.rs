//! The machines as JS classes, driven by hand with canned responses and explicit times.

use mcpauth_wasm::device::{DevicePollJs, process_device_authorization_response_js};
use mcpauth_wasm::discovery::DiscoveryJs;
use mcpauth_wasm::grant::StepUpTrackerJs;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::fixtures::*;

/// Runs a `Discovery` to the end, answering each request from `answer(url)`; returns the
/// result and every URL requested, batch by batch.
fn drive(
    mut machine: DiscoveryJs,
    answer: impl Fn(&str) -> JsValue,
) -> (Result<JsValue, JsValue>, Vec<Vec<String>>) {
    let mut batches = Vec::new();
    for _ in 0..20 {
        let mut batch = Vec::new();
        loop {
            let next = machine.poll_transmit().unwrap();
            if next.is_undefined() {
                break;
            }
            let request = get(&next, "request");
            batch.push((get(&next, "id"), text(&request, "url").unwrap()));
        }
        let result = machine.poll_result();
        if !matches!(&result, Ok(v) if v.is_undefined()) {
            return (result, batches);
        }
        batches.push(batch.iter().map(|(_, url)| url.clone()).collect());
        for (id, url) in batch {
            machine.handle_response(id, answer(&url)).unwrap();
        }
    }
    panic!("discovery did not finish");
}

#[wasm_bindgen_test]
fn discovery_machine_runs_on_canned_responses() {
    let machine = DiscoveryJs::new(SERVER, None, JsValue::UNDEFINED).unwrap();
    let (result, batches) = drive(machine, |url| match url {
        PRM_URL => response(200, &prm()),
        AS_URL => response(200, &as_metadata(ISSUER)),
        _ => response(404, "{}"),
    });
    let discovered = result.unwrap();
    assert_eq!(text(&discovered, "issuer").unwrap(), ISSUER);
    assert_eq!(text(&discovered, "resource").unwrap(), SERVER);
    // The first batch holds the PRM request and the speculative AS metadata at the origin.
    assert_eq!(
        batches[0],
        [
            PRM_URL,
            "https://mcp.example.com/.well-known/oauth-authorization-server"
        ]
    );
}

#[wasm_bindgen_test]
fn discovery_failure_is_thrown_by_poll_result_with_its_code() {
    let machine = DiscoveryJs::new(SERVER, None, JsValue::UNDEFINED).unwrap();
    let (result, _) = drive(machine, |_| response(404, "{}"));
    let error = result.unwrap_err();
    assert_eq!(text(&error, "code").unwrap(), "DISCOVERY_FAILED");
}

#[wasm_bindgen_test]
fn policy_options_use_the_core_camel_case_names() {
    // Without PRM, the 2025-03-26 fallbacks find default endpoints at the origin: proves that
    // `legacy20250326Fallbacks` reaches the core's policy.
    let policy = json(r#"{"legacy20250326Fallbacks":true}"#);
    let machine = DiscoveryJs::new(SERVER, None, policy).unwrap();
    let (result, _) = drive(machine, |_| response(404, "{}"));
    let discovered = result.unwrap();
    assert_eq!(get(&discovered, "legacy_2025_03_26"), JsValue::TRUE);
    let metadata = get(&discovered, "metadata");
    assert_eq!(
        text(&metadata, "token_endpoint").unwrap(),
        "https://mcp.example.com/token"
    );
}

#[wasm_bindgen_test]
fn device_poll_waits_slows_down_and_yields_tokens() {
    let t0 = 1_700_000_000_000.0;
    let authorization = process_device_authorization_response_js(
        "https://auth.example.com/device",
        response(
            200,
            r#"{"device_code":"dc","user_code":"WDJB-MJHT","verification_uri":"https://auth.example.com/activate","expires_in":600}"#,
        ),
        JsValue::UNDEFINED,
        Some(t0),
    )
    .unwrap();
    assert_eq!(get(&authorization, "interval").as_f64(), Some(5000.0));
    let client = json(&format!(
        r#"{{"issuer":"{ISSUER}","client_id":"abc","auth_method":"none"}}"#
    ));
    let mut poll = DevicePollJs::new(
        authorization,
        json(&as_metadata(ISSUER)),
        client,
        Some(SERVER.into()),
        JsValue::UNDEFINED,
        Some(t0),
    )
    .unwrap();
    assert_eq!(
        text(&poll.prompt().unwrap(), "user_code").unwrap(),
        "WDJB-MJHT"
    );
    assert!(get(&poll.prompt().unwrap(), "device_code").is_undefined());
    assert!(
        poll.poll_transmit(Some(t0)).unwrap().is_undefined(),
        "too early"
    );
    assert_eq!(poll.poll_timeout(), Some(t0 + 5000.0));

    let request = poll.poll_transmit(Some(t0 + 5000.0)).unwrap();
    assert_eq!(text(&request, "url").unwrap(), TOKEN_URL);
    let pending = poll
        .handle_response(
            response(400, r#"{"error":"authorization_pending"}"#),
            Some(t0 + 5100.0),
        )
        .unwrap();
    assert_eq!(text(&pending, "status").unwrap(), "pending");

    poll.poll_transmit(Some(t0 + 10_000.0)).unwrap();
    let slow = poll
        .handle_response(
            response(400, r#"{"error":"slow_down"}"#),
            Some(t0 + 10_100.0),
        )
        .unwrap();
    assert_eq!(text(&slow, "status").unwrap(), "slow_down");
    assert_eq!(get(&slow, "interval").as_f64(), Some(10_000.0));

    // The machine survives a JSON round trip (a page reload in the middle of a device login).
    let saved = json(&stringify(&poll.to_json().unwrap()));
    let mut poll = DevicePollJs::from_json(saved, JsValue::UNDEFINED).unwrap();
    poll.poll_transmit(Some(t0 + 20_000.0)).unwrap();
    let done = poll
        .handle_response(response(200, &tokens("at", "rt")), Some(t0 + 20_100.0))
        .unwrap();
    assert_eq!(text(&done, "status").unwrap(), "tokens");
    let tokens = get(&done, "tokens");
    assert_eq!(text(&tokens, "access_token").unwrap(), "at");
    assert_eq!(
        get(&tokens, "expires_at").as_f64(),
        Some(t0 + 20_100.0 + 3_600_000.0)
    );
    assert!(poll.is_finished());
}

#[wasm_bindgen_test]
fn step_up_tracker_refuses_past_the_limit_and_survives_json() {
    let mut tracker = StepUpTrackerJs::new();
    for attempt in 1..=3 {
        assert_eq!(tracker.begin_attempt(SERVER, None).unwrap(), attempt);
    }
    let saved = json(&stringify(&tracker.to_json().unwrap()));
    let mut tracker = StepUpTrackerJs::from_json(saved).unwrap();
    let error = tracker.begin_attempt(SERVER, None).unwrap_err();
    assert_eq!(text(&error, "code").unwrap(), "STEP_UP_LIMIT");
    tracker.succeeded(SERVER, None).unwrap();
    assert_eq!(tracker.attempts(SERVER, None).unwrap(), 0);
}
