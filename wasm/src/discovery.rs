//! Discovery for JavaScript: the RFC 9728 and RFC 8414 pairs, `WWW-Authenticate` parsing and
//! the `Discovery` machine (the async driver is [`crate::flows::discover`]).

use mcpauth_core::challenge::{classify_response, parse_www_authenticate};
use mcpauth_core::discovery::{
    self, RequestId, authorization_server_metadata_request, authorization_server_metadata_urls,
    process_authorization_server_metadata_response, process_protected_resource_metadata_response,
    protected_resource_metadata_request, protected_resource_metadata_urls,
};
use mcpauth_core::{AuthChallenge, BearerChallenge, ResourceUri};
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::convert::{from_js, object, read_policy, request_to_js, response_from_js, to_js};
use crate::error::Failure;

/// The canonical form of an MCP server URL (lowercase scheme and host, no default port, no
/// fragment, no trailing slash): the key for everything stored about that server.
///
/// # Errors
/// `INVALID_URL` when it is not an absolute http(s) URL with a host.
#[wasm_bindgen(js_name = canonicalResourceUri)]
pub fn canonical_resource_uri(url: &str) -> Result<String, JsValue> {
    Ok(ResourceUri::parse(url).map_err(Failure::from)?.to_string())
}

/// The protected resource metadata URLs to try for `serverUrl`, in order (RFC 9728 §3.1, §5.1).
///
/// # Errors
/// `INVALID_URL` or `INSECURE_URL` for a bad server or `resource_metadata` URL.
#[wasm_bindgen(js_name = protectedResourceMetadataUrls)]
pub fn protected_resource_metadata_urls_js(
    server_url: &str,
    resource_metadata: Option<String>,
    policy: JsValue,
) -> Result<Vec<String>, JsValue> {
    let policy = read_policy(policy)?;
    let server = ResourceUri::parse(server_url).map_err(Failure::from)?;
    let urls = protected_resource_metadata_urls(&server, resource_metadata.as_deref(), &policy)
        .map_err(Failure::from)?;
    Ok(urls.into_iter().map(String::from).collect())
}

/// The `GET` for one protected resource metadata URL.
///
/// # Errors
/// `INVALID_ARGUMENT` when `url` is not absolute.
#[wasm_bindgen(js_name = protectedResourceMetadataRequest)]
pub fn protected_resource_metadata_request_js(
    url: &str,
    policy: JsValue,
) -> Result<JsValue, JsValue> {
    let policy = read_policy(policy)?;
    Ok(request_to_js(&protected_resource_metadata_request(
        parse_url("url", url)?,
        &policy,
    )))
}

/// Validates protected resource metadata fetched for `serverUrl` from `url` (RFC 9728 §3.3).
///
/// # Errors
/// The core's protocol errors, `RESOURCE_MISMATCH`, `INSECURE_URL`.
#[wasm_bindgen(js_name = processProtectedResourceMetadataResponse)]
pub fn process_protected_resource_metadata_response_js(
    server_url: &str,
    url: &str,
    response: JsValue,
    policy: JsValue,
) -> Result<JsValue, JsValue> {
    let policy = read_policy(policy)?;
    let server = ResourceUri::parse(server_url).map_err(Failure::from)?;
    let response = response_from_js("response", &response)?;
    let url = parse_url("url", url)?;
    let prm = process_protected_resource_metadata_response(&server, &url, &response, &policy)
        .map_err(Failure::from)?;
    Ok(to_js(&prm)?)
}

/// The authorization server metadata URLs to try for `issuer`, in the MCP order.
///
/// # Errors
/// `INVALID_URL` or `INSECURE_URL` for a bad issuer.
#[wasm_bindgen(js_name = authorizationServerMetadataUrls)]
pub fn authorization_server_metadata_urls_js(
    issuer: &str,
    policy: JsValue,
) -> Result<Vec<String>, JsValue> {
    let policy = read_policy(policy)?;
    let urls = authorization_server_metadata_urls(issuer, &policy).map_err(Failure::from)?;
    Ok(urls.into_iter().map(String::from).collect())
}

/// The `GET` for one authorization server metadata URL.
///
/// # Errors
/// `INVALID_ARGUMENT` when `url` is not absolute.
#[wasm_bindgen(js_name = authorizationServerMetadataRequest)]
pub fn authorization_server_metadata_request_js(
    url: &str,
    policy: JsValue,
) -> Result<JsValue, JsValue> {
    let policy = read_policy(policy)?;
    Ok(request_to_js(&authorization_server_metadata_request(
        parse_url("url", url)?,
        &policy,
    )))
}

/// Validates authorization server metadata fetched for `expectedIssuer` (RFC 8414 §3.3: the
/// document's `issuer` must be identical).
///
/// # Errors
/// The core's protocol errors, `ISSUER_MISMATCH`, `INSECURE_URL`.
#[wasm_bindgen(js_name = processAuthorizationServerMetadataResponse)]
pub fn process_authorization_server_metadata_response_js(
    expected_issuer: &str,
    url: &str,
    response: JsValue,
    policy: JsValue,
) -> Result<JsValue, JsValue> {
    let policy = read_policy(policy)?;
    let response = response_from_js("response", &response)?;
    let url = parse_url("url", url)?;
    let metadata =
        process_authorization_server_metadata_response(expected_issuer, &url, &response, &policy)
            .map_err(Failure::from)?;
    Ok(to_js(&metadata)?)
}

/// Parses a `WWW-Authenticate` value into its challenges (RFC 9110 §11.6.1).
///
/// # Errors
/// `INVALID_HEADER` for a malformed value.
#[wasm_bindgen(js_name = parseWwwAuthenticate)]
pub fn parse_www_authenticate_js(header: &str) -> Result<JsValue, JsValue> {
    let challenges = parse_www_authenticate(header).map_err(Failure::from)?;
    Ok(to_js(&challenges)?)
}

/// What a resource server's 401 or 403 asks for: `{ kind: "unauthorized" |
/// "insufficient_scope", challenge }`, or `undefined` for any other response.
///
/// # Errors
/// `INVALID_HEADER` for a malformed `WWW-Authenticate`.
#[wasm_bindgen(js_name = classifyResponse)]
pub fn classify_response_js(response: JsValue) -> Result<JsValue, JsValue> {
    #[derive(Serialize)]
    struct Classified<'a> {
        kind: &'static str,
        challenge: &'a BearerChallenge,
    }
    let response = response_from_js("response", &response)?;
    let classified = classify_response(&response).map_err(Failure::from)?;
    let kind = match &classified {
        None => return Ok(JsValue::UNDEFINED),
        Some(AuthChallenge::Unauthorized(_)) => "unauthorized",
        Some(AuthChallenge::InsufficientScope(_)) => "insufficient_scope",
        // A kind added to the core later: report it like a plain 401.
        Some(_) => "unauthorized",
    };
    let challenge = classified.as_ref().map(AuthChallenge::challenge);
    Ok(to_js(
        &challenge.map(|challenge| Classified { kind, challenge }),
    )?)
}

/// The discovery state machine: from an MCP server URL to its authorization server's
/// metadata, in the MCP order with its fallbacks. Drive it with `pollTransmit`,
/// `handleResponse`/`handleFailure` and `pollResult`; requests it yields together may be sent
/// concurrently.
#[wasm_bindgen(js_name = Discovery)]
#[derive(Debug)]
pub struct DiscoveryJs {
    inner: discovery::Discovery,
}

#[wasm_bindgen(js_class = Discovery)]
impl DiscoveryJs {
    /// Starts at protected resource metadata; `resourceMetadata` is the challenge's
    /// `resource_metadata` URL, if a 401 gave one.
    ///
    /// # Errors
    /// `INVALID_URL` or `INSECURE_URL` for a bad server or metadata URL.
    #[wasm_bindgen(constructor)]
    pub fn new(
        server_url: &str,
        resource_metadata: Option<String>,
        policy: JsValue,
    ) -> Result<DiscoveryJs, JsValue> {
        let policy = read_policy(policy)?;
        let inner = discovery::Discovery::new(server_url, resource_metadata.as_deref(), policy)
            .map_err(Failure::from)?;
        Ok(Self { inner })
    }

    /// Skips protected resource metadata: the authorization server is configured.
    ///
    /// # Errors
    /// `INVALID_URL` or `INSECURE_URL` for a bad server URL or issuer.
    #[wasm_bindgen(js_name = withIssuer)]
    pub fn with_issuer(
        server_url: &str,
        issuer: &str,
        policy: JsValue,
    ) -> Result<DiscoveryJs, JsValue> {
        let policy = read_policy(policy)?;
        let inner =
            discovery::Discovery::with_issuer(server_url, issuer, policy).map_err(Failure::from)?;
        Ok(Self { inner })
    }

    /// The next request to send, `{ id, request }`, or `undefined`. Poll again after every
    /// `handleResponse`/`handleFailure`.
    ///
    /// # Errors
    /// Never in practice (an id is a small number).
    #[wasm_bindgen(js_name = pollTransmit)]
    pub fn poll_transmit(&mut self) -> Result<JsValue, JsValue> {
        Ok(match self.inner.poll_transmit() {
            Some((id, request)) => {
                object(&[("id", to_js(&id)?), ("request", request_to_js(&request))])
            }
            None => JsValue::UNDEFINED,
        })
    }

    /// Feeds the response to request `id`.
    ///
    /// # Errors
    /// `INVALID_ARGUMENT` when `id` or `response` has the wrong shape.
    #[wasm_bindgen(js_name = handleResponse)]
    pub fn handle_response(&mut self, id: JsValue, response: JsValue) -> Result<(), JsValue> {
        let id: RequestId = from_js("id", id)?;
        let response = response_from_js("response", &response)?;
        self.inner.handle_response(id, response);
        Ok(())
    }

    /// Reports that request `id` got no response (network error, CORS, timeout).
    ///
    /// # Errors
    /// `INVALID_ARGUMENT` when `id` has the wrong shape.
    #[wasm_bindgen(js_name = handleFailure)]
    pub fn handle_failure(&mut self, id: JsValue, reason: &str) -> Result<(), JsValue> {
        let id: RequestId = from_js("id", id)?;
        self.inner.handle_failure(id, reason);
        Ok(())
    }

    /// The outcome once discovery has finished: the `Discovered` record, or the error thrown;
    /// `undefined` while requests are still outstanding.
    ///
    /// # Errors
    /// Discovery's error (`DISCOVERY_FAILED`, `ISSUER_MISMATCH`, `RESOURCE_MISMATCH`, ...).
    #[wasm_bindgen(js_name = pollResult)]
    pub fn poll_result(&mut self) -> Result<JsValue, JsValue> {
        match self.inner.poll_result() {
            None => Ok(JsValue::UNDEFINED),
            Some(Ok(discovered)) => Ok(to_js(&discovered)?),
            Some(Err(e)) => Err(Failure::from(e).into()),
        }
    }
}

impl DiscoveryJs {
    /// The machine, for the async driver.
    pub(crate) fn into_inner(self) -> discovery::Discovery {
        self.inner
    }
}

/// Parses an absolute URL argument.
pub(crate) fn parse_url(name: &'static str, url: &str) -> Result<url::Url, Failure> {
    url::Url::parse(url).map_err(|e| Failure::argument(name, &format!("not an absolute URL: {e}")))
}
