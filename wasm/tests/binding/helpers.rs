//! The pure helpers: canonical URIs, store keys, reading a stored grant, the constants.

use mcpauth_wasm::{
    canonical_server, constants, grant_key, login_status, machine_free, pending_key_for_callback,
    stored_grant,
};
use serde_json::json;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::fixtures::*;

#[wasm_bindgen_test]
fn canonical_uris_and_keys() {
    assert_eq!(
        parse(&canonical_server("HTTPS://MCP.Example.com:443/mcp/")),
        json!({"server": SERVER})
    );
    assert_eq!(
        parse(&canonical_server("nope"))["error"]["code"],
        "INVALID_URL"
    );
    assert_eq!(
        parse(&grant_key("https://mcp.example.com/mcp/", None)),
        json!({"key": format!("grant#{SERVER}")})
    );
    assert_eq!(
        parse(&grant_key(
            "https://mcp.example.com/mcp/",
            Some("work".into())
        )),
        json!({"key": format!("grant#{SERVER}#work")})
    );
    assert_eq!(
        parse(&grant_key(SERVER, Some("a#b".into())))["error"]["code"],
        "INVALID_PROFILE"
    );
    assert_eq!(
        parse(&pending_key_for_callback(
            "https://app.example.com/callback?code=c&state=a%2Bb"
        )),
        json!({"key": "pending#a+b"})
    );
    assert_eq!(
        parse(&pending_key_for_callback(
            "https://app.example.com/callback?code=c"
        )),
        json!({"key": null})
    );
}

#[wasm_bindgen_test]
fn the_constants_name_the_store_layout_and_every_code() {
    let constants = parse(&constants());
    assert_eq!(constants["grantPrefix"], "grant#");
    assert_eq!(constants["pendingPrefix"], "pending#");
    assert_eq!(constants["callbackPath"], "/callback");
    let codes = constants["errorCodes"].as_array().unwrap();
    assert!(
        codes.contains(&json!("PERSISTENT_UNAUTHORIZED"))
            && codes.contains(&json!("INVALID_ARGUMENT"))
    );
}

#[wasm_bindgen_test]
fn a_stored_grant_reads_back_with_its_status() {
    let drive = logged_in(3600);
    machine_free(drive.handle);
    let key = format!("grant#{SERVER}");
    let record = &drive.store[&key];
    let stored = parse(&stored_grant(&key, record));
    assert_eq!(stored["grant"]["tokens"]["refresh_token"], "rt-1");
    let status = parse(&login_status(&key, record, NOW + 600_000.0))["status"].clone();
    assert_eq!(status["issuer"], ISSUER);
    assert_eq!(status["expires_in_ms"], 3_000_000);
    assert_eq!(status["refreshable"], true);
    let unreadable = parse(&stored_grant(&key, r#"{"v": 2}"#));
    assert_eq!(unreadable["error"]["code"], "STORE_RECORD_UNREADABLE");
}
