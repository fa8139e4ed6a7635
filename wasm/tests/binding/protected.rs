//! The decisions around one MCP request, through `protected_step`, with grants handed over as
//! finished machines.

use mcpauth_wasm::{
    machine_free, machine_reuse, protected_free, protected_new, protected_reused, protected_step,
    tracker_free, tracker_new,
};
use serde_json::{Value, json};
use wasm_bindgen_test::wasm_bindgen_test;

use crate::fixtures::*;

fn step(request: u32, tracker: u32, input: Value) -> Value {
    parse(&protected_step(request, tracker, &input.to_string(), NOW))
}

/// A finished `access` machine over `drive`'s store.
fn access(drive: &mut Drive, rejected: Option<&str>) -> u32 {
    drive.start("access", &json!({"server": SERVER, "rejected": rejected}));
    drive.run().expect("access ends");
    drive.handle
}

#[wasm_bindgen_test]
fn no_grant_sends_without_a_token_then_a_401_asks_for_a_login_and_a_second_401_fails() {
    let mut drive = Drive::new(
        "access",
        &json!({"server": SERVER}),
        routes(tokens("at-1", "rt-1", 3600)),
    );
    drive.run();
    let tracker = tracker_new();
    let request = protected_new(SERVER, "[]", true, "POST");
    let action = step(
        request,
        tracker,
        json!({"kind": "start", "machine": drive.handle}),
    );
    assert_eq!(
        action,
        json!({"action": "send", "authorization": null, "dpop": null})
    );
    let challenge = format!(r#"Bearer resource_metadata="{PRM_URL}", scope="mcp""#);
    let action = step(
        request,
        tracker,
        json!({"kind": "response", "status": 401, "wwwAuthenticate": [challenge]}),
    );
    assert_eq!(action["action"], "login");
    assert_eq!(action["attempt"], 1);
    assert_eq!(action["stepUp"], false);
    assert_eq!(action["challenge"]["resource_metadata"], PRM_URL);

    // The login (its own machine), then the grant it stored, read back by an access machine.
    machine_free(drive.handle);
    let mut login = logged_in(3600);
    let after = access(&mut login, None);
    let action = step(request, tracker, json!({"kind": "login", "machine": after}));
    assert_eq!(
        action,
        json!({"action": "send", "authorization": "Bearer at-1", "dpop": null})
    );
    let action = step(
        request,
        tracker,
        json!({"kind": "response", "status": 401, "wwwAuthenticate": []}),
    );
    assert_eq!(action["error"]["code"], "PERSISTENT_UNAUTHORIZED");
    machine_free(after);
    protected_free(request);
    tracker_free(tracker);
}

#[wasm_bindgen_test]
fn a_401_refreshes_once_with_the_refused_token() {
    let mut drive = logged_in(3600);
    let tracker = tracker_new();
    let request = protected_new(SERVER, "[]", false, "POST");
    let first = access(&mut drive, None);
    assert_eq!(
        step(request, tracker, json!({"kind": "start", "machine": first}))["authorization"],
        "Bearer at-1"
    );
    let action = step(
        request,
        tracker,
        json!({"kind": "response", "status": 401, "wwwAuthenticate": []}),
    );
    assert_eq!(action, json!({"action": "refresh", "rejected": "at-1"}));
    drive.routes = routes(tokens("at-2", "rt-2", 3600));
    let refreshed = access(&mut drive, Some("at-1"));
    let action = step(
        request,
        tracker,
        json!({"kind": "refreshed", "machine": refreshed}),
    );
    assert_eq!(
        action,
        json!({"action": "send", "authorization": "Bearer at-2", "dpop": null})
    );
    assert_eq!(
        step(request, tracker, json!({"kind": "response", "status": 200}))["action"],
        "return"
    );
    for handle in [first, refreshed] {
        machine_free(handle);
    }
    protected_free(request);
    tracker_free(tracker);
}

#[wasm_bindgen_test]
fn step_ups_are_counted_per_operation_across_requests_until_the_limit() {
    let mut drive = logged_in(3600);
    let tracker = tracker_new();
    let headers = json!([["mcp-method", "tools/call"], ["mcp-name", "admin"]]).to_string();
    let forbidden = r#"Bearer error="insufficient_scope", scope="mcp admin""#;
    for attempt in 1..=4 {
        let request = protected_new(SERVER, &headers, true, "POST");
        let machine = access(&mut drive, None);
        step(
            request,
            tracker,
            json!({"kind": "start", "machine": machine}),
        );
        let action = step(
            request,
            tracker,
            json!({"kind": "response", "status": 403, "wwwAuthenticate": [forbidden]}),
        );
        if attempt <= 3 {
            assert_eq!(action["action"], "login", "{action}");
            assert_eq!(action["attempt"], attempt);
            assert_eq!(action["stepUp"], true);
            assert_eq!(action["previousScope"], "mcp");
        } else {
            assert_eq!(action["error"]["code"], "STEP_UP_LIMIT");
        }
        machine_free(machine);
        protected_free(request);
    }
    tracker_free(tracker);
}

#[wasm_bindgen_test]
fn without_logins_allowed_no_grant_is_login_required() {
    let mut drive = Drive::new("access", &json!({"server": SERVER}), routes(json!({})));
    drive.run();
    let tracker = tracker_new();
    let request = protected_new(SERVER, "[]", false, "POST");
    let action = step(
        request,
        tracker,
        json!({"kind": "start", "machine": drive.handle}),
    );
    assert_eq!(action["error"]["code"], "LOGIN_REQUIRED");
    machine_free(drive.handle);
    protected_free(request);
    tracker_free(tracker);
}

#[wasm_bindgen_test]
fn a_reused_token_comes_back_on_success_and_a_401_to_it_refreshes_it() {
    let mut drive = logged_in(3600);
    let tracker = tracker_new();
    let first = access(&mut drive, None);
    // The core allows the token for its reuse cap (30 s): it is far from its refresh margin.
    assert_eq!(
        parse(&machine_reuse(first, NOW)),
        json!({"authorization": "Bearer at-1", "reuseUntil": 1_767_225_630_000_u64})
    );
    let reused = |status| {
        protected_reused(
            first, tracker, "POST", None, None, true, status, None, None, NOW,
        )
    };
    assert_eq!(reused(200), None, "a success goes to the caller as it is");
    let action = parse(&reused(401).expect("a 401 is for the core to act on"));
    assert_eq!(action["action"], "refresh");
    assert_eq!(action["rejected"], "at-1");
    let request = u32::try_from(action["request"].as_u64().unwrap()).unwrap();
    drive.routes = routes(tokens("at-2", "rt-2", 3600));
    let refreshed = access(&mut drive, Some("at-1"));
    assert_eq!(
        step(
            request,
            tracker,
            json!({"kind": "refreshed", "machine": refreshed})
        ),
        json!({"action": "send", "authorization": "Bearer at-2", "dpop": null})
    );
    for handle in [first, refreshed] {
        machine_free(handle);
    }
    protected_free(request);
    tracker_free(tracker);
}

#[wasm_bindgen_test]
fn only_an_access_machine_with_a_grant_hands_out_a_reusable_token() {
    let mut drive = Drive::new(
        "access",
        &json!({"server": SERVER}),
        routes(tokens("at-1", "rt-1", 3600)),
    );
    drive.run();
    // Nothing stored: the access machine ended with LOGIN_REQUIRED.
    assert_eq!(
        parse(&machine_reuse(drive.handle, NOW))["error"]["code"],
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        parse(&machine_reuse(u32::MAX, NOW))["error"]["code"],
        "INVALID_ARGUMENT"
    );
    machine_free(drive.handle);
}
