//! The HTTP driver: an [`HttpRequest`] goes out through `fetch`, an [`HttpResponse`] comes back.
//!
//! `fetch` is looked up on `globalThis` at call time (unless the caller passes one), so one build
//! runs in browsers, Node 18+, Deno and workers, and tests can stub it. Every request is sent
//! with `redirect: "manual"`: the core refuses 3xx answers itself, and a browser's opaque
//! redirect (status hidden) becomes `UNEXPECTED_REDIRECT` here. The body is read as a stream
//! and reading stops one byte past the request's `max_response_bytes`, so an oversize body
//! costs at most that much memory and the core refuses it as too large.
//!
//! Host objects are used structurally (`Reflect`), never through `instanceof`: a stub `fetch`
//! returning a plain object, or a polyfill's `Response`, works the same as the host's own.

use js_sys::{Array, Function, Object, Promise, Uint8Array};
use mcpauth_core::{HttpRequest, HttpResponse};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::convert::{get, headers_from_js, set};
use crate::error::Failure;

#[wasm_bindgen(inline_js = r#"
export function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal && signal.aborted) { resolve(); return; }
    const onAbort = () => { clearTimeout(timer); resolve(); };
    const timer = setTimeout(() => {
      if (signal && signal.removeEventListener) signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    if (signal && signal.addEventListener) signal.addEventListener('abort', onAbort, { once: true });
  });
}
"#)]
extern "C" {
    /// Resolves after `ms`, or as soon as `signal` aborts (the timer is then cleared).
    #[wasm_bindgen(js_name = sleep)]
    fn sleep_promise(ms: f64, signal: &JsValue) -> Promise;
}

/// The `fetch` function a call uses, and the caller's `AbortSignal` if any.
#[derive(Clone)]
pub(crate) struct Fetch {
    function: Function,
    signal: JsValue,
}

impl Fetch {
    /// `custom` when it is a function, else `globalThis.fetch` as it is right now.
    pub(crate) fn resolve(custom: &JsValue) -> Result<Self, Failure> {
        let function = if custom.is_undefined() || custom.is_null() {
            get(&js_sys::global(), "fetch")
        } else {
            custom.clone()
        };
        let function = function
            .dyn_into::<Function>()
            .map_err(|_| Failure::MissingHostApi("fetch"))?;
        Ok(Self {
            function,
            signal: JsValue::UNDEFINED,
        })
    }

    /// Passes `signal` to every fetch and lets [`Fetch::sleep`] wake on it.
    pub(crate) fn with_signal(mut self, signal: JsValue) -> Self {
        self.signal = signal;
        self
    }

    /// Fails with `ABORTED` once the signal has fired.
    pub(crate) fn check_aborted(&self) -> Result<(), Failure> {
        if get(&self.signal, "aborted").is_truthy() {
            return Err(Failure::Aborted {
                cause: get(&self.signal, "reason"),
            });
        }
        Ok(())
    }

    /// Waits `ms` milliseconds, or less if the signal fires (then `ABORTED`).
    pub(crate) async fn sleep(&self, ms: f64) -> Result<(), Failure> {
        // The promise only ever resolves.
        let _ = JsFuture::from(sleep_promise(ms, &self.signal)).await;
        self.check_aborted()
    }

    /// Sends `request` and reads the response, its body capped at `max_response_bytes + 1`.
    ///
    /// # Errors
    /// `FETCH_FAILED` when fetch rejects or the body stream errors; `UNEXPECTED_REDIRECT` for an
    /// opaque redirect; `ABORTED` when the caller's signal fired.
    pub(crate) async fn send(&self, request: &HttpRequest) -> Result<HttpResponse, Failure> {
        self.check_aborted()?;
        let url = request.url.as_str();
        let failed = |cause: JsValue| self.failure(url, cause);
        let promise = self
            .function
            .call2(&js_sys::global(), &url.into(), &self.init(request))
            .map_err(failed)?;
        let response = JsFuture::from(Promise::resolve(&promise))
            .await
            .map_err(failed)?;
        if get(&response, "type").as_string().as_deref() == Some("opaqueredirect") {
            return Err(Failure::OpaqueRedirect {
                url: url.to_owned(),
            });
        }
        let status = get(&response, "status")
            .as_f64()
            .filter(|s| s.fract() == 0.0 && (0.0..=999.0).contains(s))
            .ok_or_else(|| failed(JsValue::from_str("the response has no integer status")))?;
        let headers = headers_from_js(&get(&response, "headers"))
            .map_err(|reason| failed(JsValue::from_str(&reason)))?;
        let limit = request.max_response_bytes.saturating_add(1);
        let body = read_body(&response, limit).await.map_err(failed)?;
        // Checked above: an integer in 0..=999.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Ok(HttpResponse::new(status as u16, headers, body))
    }

    /// The `RequestInit`: method, headers as pairs, body, `redirect: "manual"`, signal.
    fn init(&self, request: &HttpRequest) -> JsValue {
        let init = Object::new();
        let headers: Array = request
            .headers
            .iter()
            .map(|(n, v)| Array::of2(&n.into(), &v.into()))
            .collect();
        set(&init, "method", &request.method.as_str().into());
        set(&init, "headers", &headers);
        if !request.body.is_empty() {
            set(&init, "body", &Uint8Array::from(request.body.as_slice()));
        }
        if !request.follow_redirects {
            set(&init, "redirect", &"manual".into());
        }
        if !self.signal.is_undefined() && !self.signal.is_null() {
            set(&init, "signal", &self.signal);
        }
        init.into()
    }

    /// `ABORTED` if the signal fired, else `FETCH_FAILED` with the rejection's message.
    fn failure(&self, url: &str, cause: JsValue) -> Failure {
        if let Err(aborted) = self.check_aborted() {
            return aborted;
        }
        Failure::Fetch {
            url: url.to_owned(),
            reason: describe(&cause),
            cause,
        }
    }
}

/// Reads at most `limit` bytes of the body: from `body.getReader()` when the response has a
/// stream, else from `arrayBuffer()` (older polyfills, stubs).
async fn read_body(response: &JsValue, limit: usize) -> Result<Vec<u8>, JsValue> {
    let stream = get(response, "body");
    if stream.is_undefined() || stream.is_null() {
        return read_array_buffer(response, limit).await;
    }
    let Ok(get_reader) = get(&stream, "getReader").dyn_into::<Function>() else {
        return read_array_buffer(response, limit).await;
    };
    let reader = get_reader.call0(&stream)?;
    let read = get(&reader, "read").dyn_into::<Function>()?;
    let mut body = Vec::new();
    while body.len() < limit {
        let chunk = JsFuture::from(Promise::resolve(&read.call0(&reader)?)).await?;
        if get(&chunk, "done").is_truthy() {
            return Ok(body);
        }
        append(&mut body, &get(&chunk, "value"), limit);
    }
    // Past the cap: stop the download. The cancel promise's outcome does not matter.
    if let Ok(cancel) = get(&reader, "cancel").dyn_into::<Function>() {
        let _ = cancel.call0(&reader);
    }
    Ok(body)
}

async fn read_array_buffer(response: &JsValue, limit: usize) -> Result<Vec<u8>, JsValue> {
    let array_buffer = get(response, "arrayBuffer").dyn_into::<Function>()?;
    let buffer = JsFuture::from(Promise::resolve(&array_buffer.call0(response)?)).await?;
    let mut body = Vec::new();
    append(&mut body, &buffer, limit);
    Ok(body)
}

/// Appends a chunk (`Uint8Array` or `ArrayBuffer`), copying only what fits under `limit`.
fn append(body: &mut Vec<u8>, chunk: &JsValue, limit: usize) {
    let bytes = match chunk.dyn_ref::<Uint8Array>() {
        Some(bytes) => bytes.clone(),
        None => match chunk.dyn_ref::<js_sys::ArrayBuffer>() {
            Some(buffer) => Uint8Array::new(buffer),
            None => return,
        },
    };
    let room = u32::try_from(limit.saturating_sub(body.len())).unwrap_or(u32::MAX);
    let take = bytes.length().min(room);
    body.extend(bytes.subarray(0, take).to_vec());
}

/// A rejection's message, with its `cause`'s message when it has one (Node's
/// `fetch failed` hides `ECONNREFUSED` there).
fn describe(error: &JsValue) -> String {
    let message = |v: &JsValue| {
        get(v, "message")
            .as_string()
            .or_else(|| v.as_string())
            .filter(|m| !m.is_empty())
    };
    let outer = message(error).unwrap_or_else(|| "fetch rejected".to_owned());
    match message(&get(error, "cause")) {
        Some(inner) => format!("{outer} ({inner})"),
        None => outer,
    }
}
