//! Canned documents and responses, and small helpers to read JS values.

use js_sys::{JSON, Reflect};
use wasm_bindgen::prelude::*;

pub const SERVER: &str = "https://mcp.example.com/mcp";
pub const ISSUER: &str = "https://auth.example.com";
pub const PRM_URL: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";
pub const PRM_ROOT_URL: &str = "https://mcp.example.com/.well-known/oauth-protected-resource";
pub const AS_URL: &str = "https://auth.example.com/.well-known/oauth-authorization-server";
pub const TOKEN_URL: &str = "https://auth.example.com/token";
pub const REDIRECT_URI: &str = "http://127.0.0.1:8000/callback";

#[wasm_bindgen(module = "/tests/binding/stub_fetch.js")]
extern "C" {
    #[wasm_bindgen(js_name = installFetch)]
    pub fn install_fetch(routes: &JsValue, delay_ms: u32) -> JsValue;
    #[wasm_bindgen(js_name = restoreFetch)]
    pub fn restore_fetch();
    #[wasm_bindgen(js_name = removeFetch)]
    pub fn remove_fetch();
    pub fn headers(init: &JsValue) -> JsValue;
}

/// Authorization server metadata for `issuer` with every endpoint the flows use.
pub fn as_metadata(issuer: &str) -> String {
    format!(
        r#"{{"issuer":"{issuer}","authorization_endpoint":"{ISSUER}/authorize","token_endpoint":"{TOKEN_URL}","registration_endpoint":"{ISSUER}/register","revocation_endpoint":"{ISSUER}/revoke","device_authorization_endpoint":"{ISSUER}/device","code_challenge_methods_supported":["S256"],"scopes_supported":["mcp","offline_access"],"authorization_response_iss_parameter_supported":true,"client_id_metadata_document_supported":false}}"#
    )
}

/// Protected resource metadata for `SERVER` listing `ISSUER`.
pub fn prm() -> String {
    format!(
        r#"{{"resource":"{SERVER}","authorization_servers":["{ISSUER}"],"scopes_supported":["mcp"]}}"#
    )
}

/// A token response.
pub fn tokens(access: &str, refresh: &str) -> String {
    format!(
        r#"{{"access_token":"{access}","token_type":"Bearer","expires_in":3600,"refresh_token":"{refresh}"}}"#
    )
}

/// `JSON.parse(text)`.
pub fn json(text: &str) -> JsValue {
    JSON::parse(text).expect("valid JSON in a fixture")
}

/// `{ status, headers: [["content-type", "application/json"]], body }`.
pub fn response(status: u16, body: &str) -> JsValue {
    let value = json(&format!(
        r#"{{"status":{status},"headers":[["content-type","application/json"]]}}"#
    ));
    Reflect::set(&value, &"body".into(), &body.into()).unwrap();
    value
}

/// The routes every discovery test serves: PRM at the path URL, AS metadata at the issuer.
pub fn discovery_routes() -> Vec<(&'static str, String)> {
    vec![(PRM_URL, prm()), (AS_URL, as_metadata(ISSUER))]
}

/// A routes object for `install_fetch` from URL and JSON body pairs (status 200).
pub fn routes(entries: &[(&str, String)]) -> JsValue {
    let object = js_sys::Object::new();
    for (url, body) in entries {
        let route = json(&format!(r#"{{"body":{body}}}"#));
        Reflect::set(&object, &(*url).into(), &route).unwrap();
    }
    object.into()
}

/// Adds a raw route (any JSON route object, or an array of them) to `routes`.
pub fn add_route(routes: &JsValue, url: &str, route: &str) {
    Reflect::set(routes, &url.into(), &json(route)).unwrap();
}

/// `value[key]`.
pub fn get(value: &JsValue, key: &str) -> JsValue {
    Reflect::get(value, &key.into()).unwrap()
}

/// `value[key]` as a string.
pub fn text(value: &JsValue, key: &str) -> Option<String> {
    get(value, key).as_string()
}

/// `JSON.stringify(value)`.
pub fn stringify(value: &JsValue) -> String {
    JSON::stringify(value).unwrap().as_string().unwrap()
}
