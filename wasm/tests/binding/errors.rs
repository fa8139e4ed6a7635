//! The error object JavaScript catches: class, name, code, kind and the OAuth fields.

use mcpauth_wasm::error::{error_class, is_invalid_client, is_invalid_grant};
use mcpauth_wasm::grant::{new_grant, process_grant_refresh_response};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::fixtures::*;
use crate::pairs::discovered;

fn grant() -> JsValue {
    json(&format!(
        r#"{{"server":"{SERVER}","resource":"{SERVER}","issuer":"{ISSUER}","client":{{"issuer":"{ISSUER}","client_id":"abc","auth_method":"none"}},"token_endpoint":"{TOKEN_URL}","send_resource":true,"tokens":{{"access_token":"at","token_type":"Bearer","refresh_token":"rt"}},"updated_at":0}}"#
    ))
}

#[wasm_bindgen_test]
fn an_oauth_error_carries_code_error_description_and_status() {
    let error = process_grant_refresh_response(
        grant(),
        response(
            400,
            r#"{"error":"invalid_grant","error_description":"refresh token expired","error_uri":"https://auth.example.com/errors"}"#,
        ),
        JsValue::UNDEFINED,
        None,
    )
    .unwrap_err();
    let class: js_sys::Function = error_class().into();
    assert!(error.is_instance_of::<js_sys::Error>());
    assert!(js_sys::Reflect::get(&error, &"constructor".into()).unwrap() == JsValue::from(class));
    assert_eq!(text(&error, "name").unwrap(), "McpAuthError");
    assert_eq!(text(&error, "code").unwrap(), "OAUTH_ERROR");
    assert_eq!(text(&error, "kind").unwrap(), "oauth");
    assert_eq!(text(&error, "error").unwrap(), "invalid_grant");
    assert_eq!(
        text(&error, "errorDescription").unwrap(),
        "refresh token expired"
    );
    assert_eq!(
        text(&error, "errorUri").unwrap(),
        "https://auth.example.com/errors"
    );
    assert_eq!(get(&error, "status").as_f64(), Some(400.0));
    assert!(text(&error, "message").unwrap().contains("invalid_grant"));
    assert!(is_invalid_grant(&error));
    assert!(!is_invalid_client(&error));
}

#[wasm_bindgen_test]
fn a_protocol_error_has_its_status_and_no_oauth_fields() {
    let error = process_grant_refresh_response(
        grant(),
        response(503, "<html>down</html>"),
        JsValue::UNDEFINED,
        None,
    )
    .unwrap_err();
    assert_eq!(text(&error, "code").unwrap(), "UNEXPECTED_STATUS");
    assert_eq!(text(&error, "kind").unwrap(), "protocol");
    assert_eq!(get(&error, "status").as_f64(), Some(503.0));
    assert!(get(&error, "error").is_undefined());
}

#[wasm_bindgen_test]
fn a_malformed_argument_names_the_parameter_and_never_echoes_values() {
    let tokens = json(
        r#"{"access_token":"sekrit-access","token_type":"Bearer","expires_at":"sekrit-value"}"#,
    );
    let client = json(&format!(
        r#"{{"issuer":"{ISSUER}","client_id":"abc","auth_method":"none"}}"#
    ));
    let error = new_grant(discovered(), client, tokens, JsValue::UNDEFINED, None).unwrap_err();
    let message = text(&error, "message").unwrap();
    assert_eq!(text(&error, "code").unwrap(), "INVALID_ARGUMENT");
    assert!(message.contains("`tokens`"), "{message}");
    assert!(!message.contains("sekrit"), "{message}");
}

#[wasm_bindgen_test]
fn the_class_can_be_constructed_from_js_with_fields() {
    let class: js_sys::Function = error_class().into();
    let args = js_sys::Array::of3(
        &"LOGIN_REQUIRED".into(),
        &"log in first".into(),
        &json(r#"{"kind":"usage"}"#),
    );
    let error = js_sys::Reflect::construct(&class, &args).unwrap();
    assert_eq!(text(&error, "name").unwrap(), "McpAuthError");
    assert_eq!(text(&error, "code").unwrap(), "LOGIN_REQUIRED");
    assert_eq!(text(&error, "kind").unwrap(), "usage");
    assert!(!is_invalid_grant(&error));
}
