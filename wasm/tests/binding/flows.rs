//! The async functions against a stub `globalThis.fetch`: concurrency of a discovery batch,
//! `redirect: "manual"` on every request, the body cap, and whole logins.

use js_sys::{Array, Function};
use mcpauth_wasm::authorize::{start_authorization_js, validate_authorization_response_js};
use mcpauth_wasm::client::client_metadata;
use mcpauth_wasm::discovery::authorization_server_metadata_request_js;
use mcpauth_wasm::flows::{
    device_login, discover, exchange_code, obtain_client, refresh_grant, revoke_grant, send_request,
};
use mcpauth_wasm::grant::new_grant;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::fixtures::*;
use crate::pairs::discovered;

/// Every request of the log used `redirect: "manual"`.
fn all_manual(log: &JsValue) -> bool {
    Array::from(&get(log, "calls"))
        .iter()
        .all(|call| text(&call, "redirect").as_deref() == Some("manual"))
}

fn calls(log: &JsValue) -> Vec<String> {
    Array::from(&get(log, "calls"))
        .iter()
        .map(|call| text(&call, "url").unwrap())
        .collect()
}

#[wasm_bindgen_test]
async fn discover_sends_a_batch_concurrently_and_never_follows_redirects() {
    let log = install_fetch(&routes(&discovery_routes()), 20);
    let discovered = discover(SERVER.into(), None, JsValue::UNDEFINED, JsValue::UNDEFINED)
        .await
        .unwrap();
    restore_fetch();
    assert_eq!(text(&discovered, "issuer").unwrap(), ISSUER);
    // PRM and the speculative origin metadata were in flight together.
    assert_eq!(get(&log, "maxInFlight").as_f64(), Some(2.0));
    assert_eq!(
        calls(&log),
        [
            PRM_URL,
            "https://mcp.example.com/.well-known/oauth-authorization-server",
            AS_URL
        ]
    );
    assert!(all_manual(&log));
}

#[wasm_bindgen_test]
async fn a_redirected_metadata_url_is_skipped_not_followed() {
    let table = routes(&[(PRM_ROOT_URL, prm()), (AS_URL, as_metadata(ISSUER))]);
    add_route(
        &table,
        PRM_URL,
        r#"{"status":302,"headers":{"location":"https://evil.example.com/prm"},"body":""}"#,
    );
    let log = install_fetch(&table, 1);
    let discovered = discover(SERVER.into(), None, JsValue::UNDEFINED, JsValue::UNDEFINED)
        .await
        .unwrap();
    restore_fetch();
    assert_eq!(text(&discovered, "issuer").unwrap(), ISSUER);
    let urls = calls(&log);
    assert!(urls.iter().any(|u| u == PRM_ROOT_URL), "{urls:?}");
    assert!(!urls.iter().any(|u| u.contains("evil")), "{urls:?}");
}

#[wasm_bindgen_test]
async fn a_browser_opaque_redirect_is_a_typed_error() {
    let table = routes(&[]);
    add_route(&table, AS_URL, r#"{"type":"opaqueredirect"}"#);
    install_fetch(&table, 1);
    let request = authorization_server_metadata_request_js(AS_URL, JsValue::UNDEFINED).unwrap();
    let error = send_request(request, JsValue::UNDEFINED).await.unwrap_err();
    restore_fetch();
    assert_eq!(text(&error, "code").unwrap(), "UNEXPECTED_REDIRECT");
}

#[wasm_bindgen_test]
async fn reading_stops_one_byte_past_the_cap() {
    let table = routes(&[]);
    add_route(&table, AS_URL, r#"{"bytes":5000000}"#);
    install_fetch(&table, 1);
    let policy = json(r#"{"maxResponseBytes":100000}"#);
    let request = authorization_server_metadata_request_js(AS_URL, policy).unwrap();
    assert_eq!(get(&request, "maxResponseBytes").as_f64(), Some(100_000.0));
    let received = send_request(request, JsValue::UNDEFINED).await.unwrap();
    restore_fetch();
    let body: js_sys::Uint8Array = get(&received, "body").into();
    assert_eq!(body.length(), 100_001);
}

#[wasm_bindgen_test]
async fn an_oversize_token_response_is_refused_by_the_core() {
    let table = routes(&[]);
    add_route(&table, TOKEN_URL, r#"{"bytes":2000000}"#);
    install_fetch(&table, 1);
    let error = refresh_grant(grant(), JsValue::UNDEFINED, JsValue::UNDEFINED)
        .await
        .unwrap_err();
    restore_fetch();
    assert_eq!(text(&error, "code").unwrap(), "RESPONSE_TOO_LARGE");
}

#[wasm_bindgen_test]
async fn without_fetch_the_error_says_so() {
    remove_fetch();
    let error = discover(SERVER.into(), None, JsValue::UNDEFINED, JsValue::UNDEFINED)
        .await
        .unwrap_err();
    restore_fetch();
    assert_eq!(text(&error, "code").unwrap(), "HOST_API_MISSING");
}

#[wasm_bindgen_test]
async fn a_network_failure_is_fetch_failed_with_the_cause() {
    let failing = Function::new_with_args(
        "url",
        "return Promise.reject(new TypeError('fetch failed'))",
    );
    let request = authorization_server_metadata_request_js(AS_URL, JsValue::UNDEFINED).unwrap();
    let error = send_request(request, failing.into()).await.unwrap_err();
    assert_eq!(text(&error, "code").unwrap(), "FETCH_FAILED");
    assert_eq!(text(&error, "kind").unwrap(), "transport");
    assert!(get(&error, "cause").is_instance_of::<js_sys::TypeError>());
}

#[wasm_bindgen_test]
async fn register_authorize_exchange_refresh_and_revoke() {
    let mut table = discovery_routes();
    table.push((
        "https://auth.example.com/register",
        r#"{"client_id":"dyn-1"}"#.into(),
    ));
    table.push((TOKEN_URL, tokens("at-1", "rt-1")));
    table.push(("https://auth.example.com/revoke", "{}".into()));
    let log = install_fetch(&routes(&table), 1);

    let discovered = discover(SERVER.into(), None, JsValue::UNDEFINED, JsValue::UNDEFINED)
        .await
        .unwrap();
    let options = json("{}");
    let metadata = client_metadata(json(&format!(
        r#"{{"clientName":"Test","redirectUris":["{REDIRECT_URI}"]}}"#
    )))
    .unwrap();
    js_sys::Reflect::set(&options, &"clientMetadata".into(), &metadata).unwrap();
    let obtained = obtain_client(
        discovered.clone(),
        options,
        JsValue::UNDEFINED,
        JsValue::UNDEFINED,
    )
    .await
    .unwrap();
    assert_eq!(get(&obtained, "registered"), JsValue::TRUE);
    let client = get(&obtained, "credentials");
    assert_eq!(text(&client, "client_id").unwrap(), "dyn-1");

    let start = start_authorization_js(
        discovered.clone(),
        client.clone(),
        REDIRECT_URI,
        JsValue::UNDEFINED,
        JsValue::UNDEFINED,
    )
    .unwrap();
    let pending = get(&start, "pending");
    let state = text(&pending, "state").unwrap();
    let callback =
        format!("{REDIRECT_URI}?code=the-code&state={state}&iss=https%3A%2F%2Fauth.example.com");
    let mut response = validate_authorization_response_js(pending.clone(), &callback).unwrap();
    let promise = exchange_code(
        pending.clone(),
        &mut response,
        client.clone(),
        JsValue::UNDEFINED,
        JsValue::UNDEFINED,
    );
    let tokens = JsFuture::from(promise).await.unwrap();
    assert_eq!(text(&tokens, "access_token").unwrap(), "at-1");
    assert!(response.spent());
    let token_call = Array::from(&get(&log, "calls"))
        .iter()
        .find(|c| text(c, "url").as_deref() == Some(TOKEN_URL))
        .unwrap();
    let form = text(&token_call, "body").unwrap();
    assert!(
        form.contains("grant_type=authorization_code&code=the-code"),
        "{form}"
    );
    assert!(form.contains("code_verifier="), "{form}");
    assert!(
        form.contains("resource=https%3A%2F%2Fmcp.example.com%2Fmcp"),
        "{form}"
    );

    // A code is exchanged once.
    let again = exchange_code(
        pending,
        &mut response,
        client.clone(),
        JsValue::UNDEFINED,
        JsValue::UNDEFINED,
    );
    let error = JsFuture::from(again).await.unwrap_err();
    assert_eq!(text(&error, "code").unwrap(), "INVALID_STATE");

    let grant = new_grant(discovered, client, tokens, JsValue::UNDEFINED, None).unwrap();
    let refreshed = refresh_grant(grant, JsValue::UNDEFINED, JsValue::UNDEFINED)
        .await
        .unwrap();
    assert_eq!(get(&refreshed, "rotated"), JsValue::FALSE);
    let grant = get(&refreshed, "grant");
    assert_eq!(
        text(&get(&grant, "tokens"), "refresh_token").unwrap(),
        "rt-1"
    );
    let revoked = revoke_grant(grant, JsValue::UNDEFINED, JsValue::UNDEFINED)
        .await
        .unwrap();
    restore_fetch();
    assert_eq!(revoked, JsValue::TRUE);
    assert!(all_manual(&log));
}

#[wasm_bindgen_test]
async fn device_login_prompts_then_polls_until_tokens() {
    let table = routes(&[(
        "https://auth.example.com/device",
        r#"{"device_code":"dc","user_code":"WDJB-MJHT","verification_uri":"https://auth.example.com/activate","expires_in":600,"interval":1}"#.into(),
    )]);
    add_route(
        &table,
        TOKEN_URL,
        &format!(
            r#"[{{"status":400,"body":{{"error":"authorization_pending"}}}},{{"body":{}}}]"#,
            tokens("at-d", "rt-d")
        ),
    );
    install_fetch(&table, 1);
    let seen = Array::new();
    let on_prompt = Function::new_with_args("seen, p", "seen.push(p)")
        .bind1(&JsValue::NULL, &seen)
        .unchecked_into::<Function>();
    let on_poll = Function::new_with_args("seen, s", "seen.push(s)")
        .bind1(&JsValue::NULL, &seen)
        .unchecked_into::<Function>();
    let client = json(&format!(
        r#"{{"issuer":"{ISSUER}","client_id":"abc","auth_method":"none"}}"#
    ));
    let tokens = device_login(
        discovered(),
        client,
        JsValue::UNDEFINED,
        on_prompt,
        Some(on_poll),
        JsValue::UNDEFINED,
        JsValue::UNDEFINED,
    )
    .await
    .unwrap();
    restore_fetch();
    assert_eq!(text(&tokens, "access_token").unwrap(), "at-d");
    let prompt = seen.get(0);
    assert_eq!(text(&prompt, "user_code").unwrap(), "WDJB-MJHT");
    assert!(get(&prompt, "device_code").is_undefined());
    assert_eq!(text(&seen.get(1), "status").unwrap(), "pending");
}

#[wasm_bindgen_test]
async fn device_login_stops_when_aborted() {
    let table = routes(&[(
        "https://auth.example.com/device",
        r#"{"device_code":"dc","user_code":"U","verification_uri":"https://auth.example.com/activate","expires_in":600,"interval":5}"#.into(),
    )]);
    install_fetch(&table, 1);
    let controller: JsValue = js_sys::Reflect::construct(
        &get(&js_sys::global(), "AbortController").into(),
        &Array::new(),
    )
    .unwrap();
    // Abort from the prompt: the machine is then waiting out its 5 s interval.
    let abort = Function::new_with_args("c", "setTimeout(() => c.abort(), 10)")
        .bind1(&JsValue::NULL, &controller)
        .unchecked_into::<Function>();
    let options = json("{}");
    js_sys::Reflect::set(&options, &"signal".into(), &get(&controller, "signal")).unwrap();
    let client = json(&format!(
        r#"{{"issuer":"{ISSUER}","client_id":"abc","auth_method":"none"}}"#
    ));
    let started = js_sys::Date::now();
    let error = device_login(
        discovered(),
        client,
        options,
        abort,
        None,
        JsValue::UNDEFINED,
        JsValue::UNDEFINED,
    )
    .await
    .unwrap_err();
    restore_fetch();
    assert_eq!(text(&error, "code").unwrap(), "ABORTED");
    assert!(
        js_sys::Date::now() - started < 2000.0,
        "the sleep was cut short"
    );
}

/// A grant for `ISSUER` with a refresh token.
fn grant() -> JsValue {
    json(&format!(
        r#"{{"server":"{SERVER}","resource":"{SERVER}","issuer":"{ISSUER}","client":{{"issuer":"{ISSUER}","client_id":"abc","auth_method":"none"}},"token_endpoint":"{TOKEN_URL}","send_resource":true,"tokens":{{"access_token":"at","token_type":"Bearer","refresh_token":"rt"}},"updated_at":0}}"#
    ))
}
