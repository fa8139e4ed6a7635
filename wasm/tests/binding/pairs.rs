//! The pairs across the boundary: arguments built in JS, results read back in JS.

use mcpauth_wasm::authorize::{
    generate_pkce, login_scope_js, pkce_challenge, start_authorization_js,
    validate_authorization_response_js,
};
use mcpauth_wasm::client::{client_metadata, plan_client_identity_js};
use mcpauth_wasm::discovery::{
    authorization_server_metadata_urls_js, canonical_resource_uri, classify_response_js,
    parse_www_authenticate_js, process_authorization_server_metadata_response_js,
    process_protected_resource_metadata_response_js,
};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::fixtures::*;

#[wasm_bindgen_test]
fn pkce_challenge_matches_rfc7636_appendix_b() {
    assert_eq!(
        pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
}

#[wasm_bindgen_test]
fn generated_pkce_comes_from_crypto_and_never_repeats() {
    let a = generate_pkce().unwrap();
    let b = generate_pkce().unwrap();
    let verifier = text(&a, "verifier").unwrap();
    assert_eq!(verifier.len(), 43);
    assert_eq!(text(&a, "challenge").unwrap(), pkce_challenge(&verifier));
    assert_ne!(verifier, text(&b, "verifier").unwrap());
}

#[wasm_bindgen_test]
fn authorization_server_metadata_parses_into_the_core_shape() {
    let metadata = process_authorization_server_metadata_response_js(
        ISSUER,
        AS_URL,
        response(200, &as_metadata(ISSUER)),
        JsValue::UNDEFINED,
    )
    .unwrap();
    assert_eq!(text(&metadata, "issuer").unwrap(), ISSUER);
    assert_eq!(text(&metadata, "token_endpoint").unwrap(), TOKEN_URL);
    assert_eq!(
        get(&metadata, "authorization_response_iss_parameter_supported"),
        JsValue::TRUE
    );
    // Absent optional fields are undefined, so JSON.stringify leaves them out.
    assert!(get(&metadata, "userinfo_endpoint").is_undefined());
    assert!(!stringify(&metadata).contains("userinfo_endpoint"));
}

#[wasm_bindgen_test]
fn metadata_of_another_issuer_is_refused_with_issuer_mismatch() {
    let error = process_authorization_server_metadata_response_js(
        ISSUER,
        AS_URL,
        response(200, &as_metadata("https://evil.example.com")),
        JsValue::UNDEFINED,
    )
    .unwrap_err();
    assert_eq!(text(&error, "code").unwrap(), "ISSUER_MISMATCH");
    assert_eq!(text(&error, "kind").unwrap(), "security");
    assert!(
        text(&error, "message")
            .unwrap()
            .contains("evil.example.com")
    );
}

#[wasm_bindgen_test]
fn a_response_body_may_be_bytes_and_headers_a_real_headers_object() {
    let value = json("{}");
    let bytes = js_sys::Uint8Array::from(as_metadata(ISSUER).as_bytes());
    js_sys::Reflect::set(&value, &"status".into(), &200.into()).unwrap();
    js_sys::Reflect::set(&value, &"body".into(), &bytes).unwrap();
    let h = headers(&json(r#"{"content-type":"application/json"}"#));
    js_sys::Reflect::set(&value, &"headers".into(), &h).unwrap();
    let metadata = process_authorization_server_metadata_response_js(
        ISSUER,
        AS_URL,
        value,
        JsValue::UNDEFINED,
    )
    .unwrap();
    assert_eq!(text(&metadata, "issuer").unwrap(), ISSUER);
}

#[wasm_bindgen_test]
fn protected_resource_metadata_of_another_resource_is_refused() {
    let body = format!(
        r#"{{"resource":"https://other.example.com/mcp","authorization_servers":["{ISSUER}"]}}"#
    );
    let error = process_protected_resource_metadata_response_js(
        SERVER,
        PRM_URL,
        response(200, &body),
        JsValue::UNDEFINED,
    )
    .unwrap_err();
    assert_eq!(text(&error, "code").unwrap(), "RESOURCE_MISMATCH");
}

#[wasm_bindgen_test]
fn urls_and_canonical_uris_come_back_as_strings() {
    let urls =
        authorization_server_metadata_urls_js("https://a.example.com/tenant1", JsValue::UNDEFINED)
            .unwrap();
    assert_eq!(
        urls,
        [
            "https://a.example.com/.well-known/oauth-authorization-server/tenant1",
            "https://a.example.com/.well-known/openid-configuration/tenant1",
            "https://a.example.com/tenant1/.well-known/openid-configuration",
        ]
    );
    assert_eq!(
        canonical_resource_uri("HTTPS://MCP.Example.com:443/mcp/").unwrap(),
        "https://mcp.example.com/mcp"
    );
}

#[wasm_bindgen_test]
fn challenges_parse_and_a_403_insufficient_scope_classifies_as_step_up() {
    let header = r#"Bearer error="insufficient_scope", scope="files:read files:write", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource""#;
    let parsed = parse_www_authenticate_js(header).unwrap();
    let first = js_sys::Array::from(&parsed).get(0);
    assert_eq!(text(&first, "scheme").unwrap(), "Bearer");

    let response = json(r#"{"status":403}"#);
    let h = headers(&json(&format!(
        r#"{{"www-authenticate":{}}}"#,
        js_sys::JSON::stringify(&header.into()).unwrap()
    )));
    js_sys::Reflect::set(&response, &"headers".into(), &h).unwrap();
    let classified = classify_response_js(response).unwrap();
    assert_eq!(text(&classified, "kind").unwrap(), "insufficient_scope");
    let challenge = get(&classified, "challenge");
    assert_eq!(text(&challenge, "scope").unwrap(), "files:read files:write");

    let ok = classify_response_js(json(r#"{"status":200}"#)).unwrap();
    assert!(ok.is_undefined());
}

#[wasm_bindgen_test]
fn client_metadata_and_the_identity_plan_come_from_the_core() {
    let metadata = client_metadata(json(&format!(
        r#"{{"clientName":"Test","redirectUris":["{REDIRECT_URI}"]}}"#
    )))
    .unwrap();
    assert_eq!(text(&metadata, "client_name").unwrap(), "Test");
    let options = json("{}");
    js_sys::Reflect::set(&options, &"clientMetadata".into(), &metadata).unwrap();
    let plan =
        plan_client_identity_js(json(&as_metadata(ISSUER)), options, JsValue::UNDEFINED).unwrap();
    assert_eq!(text(&plan, "kind").unwrap(), "register");
    let request = get(&plan, "request");
    assert_eq!(text(&request, "method").unwrap(), "POST");
    assert_eq!(
        text(&request, "url").unwrap(),
        "https://auth.example.com/register"
    );
    assert!(get(&request, "body").is_instance_of::<js_sys::Uint8Array>());

    let device_only = client_metadata(json(r#"{"clientName":"CLI","deviceGrant":true}"#)).unwrap();
    let grants = stringify(&get(&device_only, "grant_types"));
    assert!(
        grants.contains("device_code") && !grants.contains("authorization_code"),
        "{grants}"
    );
}

#[wasm_bindgen_test]
fn authorization_url_and_callback_check_state_and_iss() {
    let discovered = discovered();
    let client = json(&format!(
        r#"{{"issuer":"{ISSUER}","client_id":"abc","auth_method":"none"}}"#
    ));
    let start = start_authorization_js(
        discovered.clone(),
        client,
        REDIRECT_URI,
        JsValue::UNDEFINED,
        JsValue::UNDEFINED,
    )
    .unwrap();
    let url = text(&start, "url").unwrap();
    let pending = get(&start, "pending");
    let state = text(&pending, "state").unwrap();
    assert!(url.starts_with("https://auth.example.com/authorize?response_type=code&client_id=abc"));
    assert!(url.contains("code_challenge_method=S256"));
    assert!(url.contains("resource=https%3A%2F%2Fmcp.example.com%2Fmcp"));
    assert!(url.contains("scope=mcp+offline_access"), "{url}");
    // pending survives a JSON round trip (sessionStorage across a redirect).
    let pending = json(&stringify(&pending));

    let wrong = validate_authorization_response_js(
        pending.clone(),
        &format!("{REDIRECT_URI}?code=c&state=other&iss={ISSUER}"),
    )
    .unwrap_err();
    assert_eq!(text(&wrong, "code").unwrap(), "STATE_MISMATCH");
    let mixed_up = validate_authorization_response_js(
        pending.clone(),
        &format!("{REDIRECT_URI}?code=c&state={state}&iss=https%3A%2F%2Fevil.example.com"),
    )
    .unwrap_err();
    assert_eq!(text(&mixed_up, "code").unwrap(), "ISS_MISMATCH");
    let ok = validate_authorization_response_js(
        pending,
        &format!("{REDIRECT_URI}?code=c&state={state}&iss=https%3A%2F%2Fauth.example.com"),
    )
    .unwrap();
    assert!(!ok.spent());

    let scope = login_scope_js(discovered, json(r#"{"previousScope":"files:read"}"#)).unwrap();
    assert_eq!(scope.as_deref(), Some("files:read mcp offline_access"));
}

/// A `Discovered` record as discovery produces it.
pub fn discovered() -> JsValue {
    json(&format!(
        r#"{{"server":"{SERVER}","resource":"{SERVER}","resource_metadata":{prm},"issuer":"{ISSUER}","metadata":{metadata},"legacy_2025_03_26":false}}"#,
        prm = prm(),
        metadata = as_metadata(ISSUER),
    ))
}
