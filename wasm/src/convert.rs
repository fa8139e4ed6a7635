//! Values across the boundary: serde data both ways, HTTP requests and responses, the clock.
//!
//! Records the core produces (metadata, `Discovered`, `TokenSet`, `Grant`, ...) cross in the
//! core's own serde shape, field names included, so JavaScript can persist them with
//! `JSON.stringify` and hand them back unchanged. Options objects that exist only for the JS API
//! are camelCase. Maps become plain objects, `None` becomes `undefined`.

use js_sys::{Array, ArrayBuffer, Object, Reflect, Uint8Array};
use mcpauth_core::{HttpRequest, HttpResponse, Policy, Time};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use crate::error::Failure;

/// The serializer every result goes through.
const SERIALIZER: serde_wasm_bindgen::Serializer =
    serde_wasm_bindgen::Serializer::new().serialize_maps_as_objects(true);

/// Converts a Rust value for JavaScript.
pub(crate) fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, Failure> {
    value
        .serialize(&SERIALIZER)
        .map_err(|e| Failure::Conversion(e.to_string()))
}

/// Reads a required argument.
pub(crate) fn from_js<T: DeserializeOwned>(
    name: &'static str,
    value: JsValue,
) -> Result<T, Failure> {
    serde_wasm_bindgen::from_value(value).map_err(|e| {
        // The error is a JS `Error`; its message without the `Error: ` of its toString.
        let error = JsValue::from(e);
        let message = get(&error, "message").as_string().unwrap_or_default();
        Failure::argument(name, &message)
    })
}

/// Reads an optional argument: `undefined` and `null` are `None`.
pub(crate) fn opt_from_js<T: DeserializeOwned>(
    name: &'static str,
    value: JsValue,
) -> Result<Option<T>, Failure> {
    if value.is_undefined() || value.is_null() {
        Ok(None)
    } else {
        from_js(name, value).map(Some)
    }
}

/// Reads the optional `policy` argument; absent means [`Policy::default`].
pub(crate) fn read_policy(value: JsValue) -> Result<Policy, Failure> {
    Ok(opt_from_js("policy", value)?.unwrap_or_default())
}

/// The current time from `Date.now()`.
pub(crate) fn now() -> Time {
    // Date.now() is a non-negative integer of milliseconds, far below 2^53.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Time::from_unix_millis(js_sys::Date::now() as u64)
}

/// `now` if given (milliseconds since the epoch), else `Date.now()`.
pub(crate) fn now_or(now_ms: Option<f64>) -> Result<Time, Failure> {
    match now_ms {
        None => Ok(now()),
        Some(ms) if ms.is_finite() && ms >= 0.0 && ms.fract() == 0.0 => {
            // Checked above: a non-negative integer; `as` saturates past u64::MAX.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Ok(Time::from_unix_millis(ms as u64))
        }
        Some(_) => Err(Failure::argument(
            "now",
            "must be a non-negative integer of milliseconds since the epoch",
        )),
    }
}

/// `HttpRequest` as JavaScript sees it:
/// `{ method, url, headers: [name, value][], body: Uint8Array | undefined, maxResponseBytes }`.
pub(crate) fn request_to_js(request: &HttpRequest) -> JsValue {
    let object = Object::new();
    let headers: Array = request
        .headers
        .iter()
        .map(|(n, v)| Array::of2(&n.into(), &v.into()))
        .collect();
    let body: JsValue = if request.body.is_empty() {
        JsValue::UNDEFINED
    } else {
        Uint8Array::from(request.body.as_slice()).into()
    };
    set(&object, "method", &request.method.as_str().into());
    set(&object, "url", &request.url.as_str().into());
    set(&object, "headers", &headers);
    set(&object, "body", &body);
    #[allow(clippy::cast_precision_loss)] // a byte count, far below 2^53
    set(
        &object,
        "maxResponseBytes",
        &(request.max_response_bytes as f64).into(),
    );
    object.into()
}

/// Reads a request built by [`request_to_js`] (or by hand, for `sendRequest`).
pub(crate) fn request_from_js(value: &JsValue) -> Result<HttpRequest, Failure> {
    let bad = |reason: &str| Failure::argument("request", reason);
    let text = |key: &str| get(value, key).as_string();
    let method = match text("method").as_deref() {
        Some("GET") => mcpauth_core::Method::Get,
        Some("POST") => mcpauth_core::Method::Post,
        _ => return Err(bad("`method` must be \"GET\" or \"POST\"")),
    };
    let url = text("url")
        .and_then(|u| url::Url::parse(&u).ok())
        .ok_or_else(|| bad("`url` must be an absolute URL"))?;
    let headers = headers_from_js(&get(value, "headers")).map_err(|r| bad(&r))?;
    let body = body_from_js(&get(value, "body")).map_err(|r| bad(&r))?;
    let max_response_bytes = match get(value, "maxResponseBytes").as_f64() {
        None => mcpauth_core::http::DEFAULT_MAX_RESPONSE_BYTES,
        Some(max) if max.is_finite() && max >= 0.0 && max.fract() == 0.0 => {
            // Checked: a non-negative integer; `as` saturates past usize::MAX.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let max = max as usize;
            max
        }
        Some(_) => return Err(bad("`maxResponseBytes` must be a non-negative integer")),
    };
    let request = HttpRequest {
        method,
        url,
        headers,
        body,
        follow_redirects: false,
        max_response_bytes,
    };
    Ok(request)
}

/// `HttpResponse` from JavaScript: `{ status, headers?, body? }`, where headers are pairs, a
/// `Headers` (or any iterable of pairs) or a plain object, and body is a `Uint8Array`, an
/// `ArrayBuffer` or a string (UTF-8), absent for an empty body.
pub(crate) fn response_from_js(
    name: &'static str,
    value: &JsValue,
) -> Result<HttpResponse, Failure> {
    let bad = |reason: String| Failure::argument(name, &reason);
    if !value.is_object() {
        return Err(bad("must be an object { status, headers?, body? }".into()));
    }
    let status = get(value, "status")
        .as_f64()
        .filter(|s| s.fract() == 0.0 && (0.0..=999.0).contains(s))
        .ok_or_else(|| bad("`status` must be an integer HTTP status".into()))?;
    let headers = headers_from_js(&get(value, "headers")).map_err(bad)?;
    let body = body_from_js(&get(value, "body")).map_err(bad)?;
    // Checked above: an integer in 0..=999.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(HttpResponse::new(status as u16, headers, body))
}

/// Headers as pairs, from an array of pairs, an iterable of pairs (`Headers`, `Map`) or a plain
/// object of name to value.
pub(crate) fn headers_from_js(value: &JsValue) -> Result<Vec<(String, String)>, String> {
    if value.is_undefined() || value.is_null() {
        return Ok(Vec::new());
    }
    let pair = |entry: JsValue| -> Result<(String, String), String> {
        let entry: Array = entry
            .dyn_into()
            .map_err(|_| "`headers` entries must be [name, value] pairs".to_owned())?;
        match (entry.get(0).as_string(), entry.get(1).as_string()) {
            (Some(n), Some(v)) => Ok((n, v)),
            _ => Err("`headers` entries must be pairs of strings".to_owned()),
        }
    };
    if let Ok(Some(iter)) = js_sys::try_iter(value) {
        return iter
            .map(|entry| entry.map_err(|_| "`headers` could not be iterated".to_owned()))
            .map(|entry| entry.and_then(pair))
            .collect();
    }
    if value.is_object() {
        let object: &Object = value.unchecked_ref();
        return Object::entries(object).iter().map(pair).collect();
    }
    Err("`headers` must be [name, value] pairs, a Headers or an object".to_owned())
}

/// A body from a `Uint8Array`, an `ArrayBuffer` or a string.
fn body_from_js(value: &JsValue) -> Result<Vec<u8>, String> {
    if value.is_undefined() || value.is_null() {
        return Ok(Vec::new());
    }
    if let Some(text) = value.as_string() {
        return Ok(text.into_bytes());
    }
    if let Some(bytes) = value.dyn_ref::<Uint8Array>() {
        return Ok(bytes.to_vec());
    }
    if let Some(buffer) = value.dyn_ref::<ArrayBuffer>() {
        return Ok(Uint8Array::new(buffer).to_vec());
    }
    Err("`body` must be a Uint8Array, an ArrayBuffer or a string".to_owned())
}

/// `HttpResponse` for JavaScript, as `sendRequest` returns it.
pub(crate) fn response_to_js(response: &HttpResponse) -> JsValue {
    let object = Object::new();
    let headers: Array = response
        .headers
        .iter()
        .map(|(n, v)| Array::of2(&n.into(), &v.into()))
        .collect();
    set(&object, "status", &response.status.into());
    set(&object, "headers", &headers);
    set(&object, "body", &Uint8Array::from(response.body.as_slice()));
    object.into()
}

/// `target[key]`, or `undefined` when `target` is not an object or the getter throws.
pub(crate) fn get(target: &JsValue, key: &str) -> JsValue {
    if !target.is_object() && !target.is_function() {
        return JsValue::UNDEFINED;
    }
    Reflect::get(target, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

/// `target[key] = value` on an object this crate created (cannot throw).
pub(crate) fn set(target: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(target, &key.into(), value);
}

/// A plain object from key-value pairs.
pub(crate) fn object(entries: &[(&str, JsValue)]) -> JsValue {
    let object = Object::new();
    for (key, value) in entries {
        set(&object, key, value);
    }
    object.into()
}
