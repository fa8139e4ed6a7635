//! Every failure crosses as `{"error": {code, message, oauth?}}`; nothing is thrown.

use mcpauth_wasm::{machine_drain, machine_free, machine_input, machine_new, protected_step};
use serde_json::json;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::fixtures::*;

#[wasm_bindgen_test]
fn the_servers_oauth_error_keeps_its_wire_fields() {
    let mut drive = logged_in(10);
    drive.routes.insert(
        TOKEN_URL.to_owned(),
        reply(400, json!({"error": "invalid_grant", "error_description": "refresh token expired", "error_uri": "https://auth.example.com/errors"})),
    );
    drive.events.clear();
    drive.start("access", &json!({"server": SERVER, "rejected": "at-1"}));
    let done = drive.run().unwrap();
    assert_eq!(done["error"]["code"], "LOGIN_REQUIRED");
    let warning = &drive.seen("warning")[0]["error"];
    assert_eq!(warning["code"], "OAUTH_ERROR");
    assert_eq!(
        warning["oauth"],
        json!({"error": "invalid_grant", "error_description": "refresh token expired", "error_uri": "https://auth.example.com/errors", "status": 400, "where": TOKEN_URL})
    );
    assert!(
        warning["message"]
            .as_str()
            .unwrap()
            .contains("invalid_grant")
    );
    assert!(
        !drive.store.contains_key(&format!("grant#{SERVER}")),
        "invalid_grant deletes the grant"
    );
    machine_free(drive.handle);
}

#[wasm_bindgen_test]
fn a_config_that_does_not_parse_ends_the_machine_and_never_echoes_values() {
    let handle = machine_new("login", r#"{"server": 1, "scope": ["sekrit"]}"#, NOW, &[]);
    let drained = parse(&machine_drain(handle, NOW));
    let error = &drained["events"][0]["error"];
    assert_eq!(error["code"], "INVALID_ARGUMENT");
    assert!(
        !error["message"].as_str().unwrap().contains("sekrit"),
        "{error}"
    );
    assert_eq!(
        parse(&machine_drain(handle, NOW))["events"],
        json!([]),
        "done comes once"
    );
    machine_free(handle);
    let handle = machine_new("nonsense", "{}", NOW, &[]);
    assert_eq!(
        parse(&machine_drain(handle, NOW))["events"][0]["error"]["code"],
        "INVALID_ARGUMENT"
    );
    machine_free(handle);
}

#[wasm_bindgen_test]
fn a_login_without_enough_random_bytes_says_so() {
    let handle = machine_new("login", &web_login().to_string(), NOW, &[1; 8]);
    let drained = parse(&machine_drain(handle, NOW));
    assert_eq!(drained["events"][0]["error"]["code"], "ENTROPY_UNAVAILABLE");
    machine_free(handle);
}

#[wasm_bindgen_test]
fn unknown_handles_and_malformed_inputs_are_invalid_arguments() {
    let error = parse(&machine_drain(999_999, NOW));
    assert_eq!(error["error"]["code"], "INVALID_ARGUMENT");
    let handle = machine_new("access", &json!({"server": SERVER}).to_string(), NOW, &[]);
    let error = parse(&machine_input(
        handle,
        r#"{"kind": "loaded", "key": 5, "record": "eyJsecret"}"#,
        NOW,
    ));
    assert_eq!(error["error"]["code"], "INVALID_ARGUMENT");
    assert!(!error["error"]["message"].as_str().unwrap().contains("eyJ"));
    machine_free(handle);
    let error = parse(&protected_step(
        999_999,
        1,
        r#"{"kind": "response", "status": 200}"#,
        NOW,
    ));
    assert_eq!(error["error"]["code"], "INVALID_ARGUMENT");
}
