//! Client identity for JavaScript: the MCP identity plan (pre-registered, client ID metadata
//! document, cached or dynamic registration), the RFC 7591 registration pair and CIMD documents.

use mcpauth_core::identity::client_id_metadata_document;
use mcpauth_core::registration::{
    choose_token_endpoint_auth_method, process_registration_response, registration_request,
};
use mcpauth_core::{
    ApplicationType, AuthorizationServerMetadata, ClientCredentials, ClientMetadata,
    IdentityOptions, IdentityPlan, Registration, plan_client_identity,
};
use serde::Deserialize;
use wasm_bindgen::prelude::*;

use crate::convert::{
    from_js, now_or, object, read_policy, request_to_js, response_from_js, to_js,
};
use crate::discovery::parse_url;
use crate::error::Failure;

/// `IdentityOptions` as JavaScript passes them (camelCase; the records inside keep the core's
/// shape).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IdentityOptionsJs {
    #[serde(default)]
    preregistered: Option<ClientCredentials>,
    #[serde(default)]
    cached_registration: Option<ClientCredentials>,
    #[serde(default)]
    metadata_document_url: Option<String>,
    client_metadata: ClientMetadata,
}

impl From<IdentityOptionsJs> for IdentityOptions {
    fn from(o: IdentityOptionsJs) -> Self {
        IdentityOptions {
            preregistered: o.preregistered,
            cached_registration: o.cached_registration,
            metadata_document_url: o.metadata_document_url,
            client_metadata: o.client_metadata,
        }
    }
}

/// Reads the `identityOptions` argument.
pub(crate) fn identity_options(value: JsValue) -> Result<IdentityOptions, Failure> {
    from_js::<IdentityOptionsJs>("identityOptions", value).map(IdentityOptions::from)
}

/// Chooses how to identify the client at `metadata`'s server, in the MCP order:
/// `{ kind: "ready", credentials }` or `{ kind: "register", request }` (send it, then
/// `processRegistrationResponse`).
///
/// # Errors
/// `CREDENTIALS_FOR_OTHER_ISSUER`, `NO_CLIENT_IDENTITY`, `INVALID_CLIENT_METADATA`, `INVALID_URL`.
#[wasm_bindgen(js_name = planClientIdentity)]
pub fn plan_client_identity_js(
    metadata: JsValue,
    identity_options_js: JsValue,
    policy: JsValue,
) -> Result<JsValue, JsValue> {
    let policy = read_policy(policy)?;
    let metadata: AuthorizationServerMetadata = from_js("metadata", metadata)?;
    let options = identity_options(identity_options_js)?;
    Ok(
        match plan_client_identity(&metadata, &options, &policy).map_err(Failure::from)? {
            IdentityPlan::Ready(credentials) => object(&[
                ("kind", "ready".into()),
                ("credentials", to_js(&credentials)?),
            ]),
            IdentityPlan::Register(request) => object(&[
                ("kind", "register".into()),
                ("request", request_to_js(&request)),
            ]),
        },
    )
}

/// The RFC 7591 registration request for `clientMetadata` at `metadata`'s
/// `registration_endpoint`.
///
/// # Errors
/// `MISSING_ENDPOINT`, `INSECURE_URL`, `INVALID_CLIENT_METADATA`, `INVALID_URL`.
#[wasm_bindgen(js_name = registrationRequest)]
pub fn registration_request_js(
    metadata: JsValue,
    client_metadata: JsValue,
    policy: JsValue,
) -> Result<JsValue, JsValue> {
    let policy = read_policy(policy)?;
    let metadata: AuthorizationServerMetadata = from_js("metadata", metadata)?;
    let client: ClientMetadata = from_js("clientMetadata", client_metadata)?;
    let request = registration_request(&metadata, &client, &policy).map_err(Failure::from)?;
    Ok(request_to_js(&request))
}

/// Validates a registration response from `url` into a `Registration` (RFC 7591 §3.2).
///
/// # Errors
/// `OAUTH_ERROR` (for example `invalid_client_metadata`), the core's protocol errors.
#[wasm_bindgen(js_name = processRegistrationResponse)]
pub fn process_registration_response_js(
    metadata: JsValue,
    url: &str,
    response: JsValue,
    policy: JsValue,
) -> Result<JsValue, JsValue> {
    let policy = read_policy(policy)?;
    let metadata: AuthorizationServerMetadata = from_js("metadata", metadata)?;
    let response = response_from_js("response", &response)?;
    let url = parse_url("url", url)?;
    let registration = process_registration_response(&metadata, &url, &response, &policy)
        .map_err(Failure::from)?;
    Ok(to_js(&registration)?)
}

/// The JSON of a client ID metadata document for `clientId` (the https URL it is served at).
///
/// # Errors
/// `INVALID_URL` for a `clientId` that is not a normalized https URL with a path;
/// `INVALID_CLIENT_METADATA` for missing or secret-based fields.
#[wasm_bindgen(js_name = clientIdMetadataDocument)]
pub fn client_id_metadata_document_js(
    client_id: &str,
    client_metadata: JsValue,
) -> Result<String, JsValue> {
    let client: ClientMetadata = from_js("clientMetadata", client_metadata)?;
    Ok(client_id_metadata_document(client_id, &client).map_err(Failure::from)?)
}

/// Options of [`client_metadata`], camelCase.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClientMetadataOptions {
    client_name: String,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    application_type: Option<ApplicationType>,
    #[serde(default)]
    device_grant: bool,
}

/// The client metadata a public MCP client registers: `authorization_code` and
/// `refresh_token` with its redirect URIs, plus the device code grant when `deviceGrant`; with
/// no redirect URI, a device-only client (no `authorization_code`, no response types). Without
/// `applicationType`, registration infers it from the redirect URIs (all loopback: native).
///
/// # Errors
/// `INVALID_ARGUMENT` without a `clientName`.
#[wasm_bindgen(js_name = clientMetadata)]
pub fn client_metadata(options: JsValue) -> Result<JsValue, JsValue> {
    let options: ClientMetadataOptions = from_js("options", options)?;
    let device_only = options.redirect_uris.is_empty() && options.device_grant;
    let mut metadata = match options.application_type {
        _ if device_only => ClientMetadata::device_only(options.client_name),
        Some(ApplicationType::Web) => {
            ClientMetadata::web(options.client_name, options.redirect_uris)
        }
        _ => ClientMetadata::native(options.client_name, options.redirect_uris),
    };
    if !device_only {
        // Unset means "infer from the redirect URIs" at registration.
        metadata.application_type = options.application_type;
    }
    if options.device_grant {
        metadata = metadata.with_device_code_grant();
    }
    Ok(to_js(&metadata)?)
}

/// The token endpoint authentication method to use with `metadata`'s server for a client with
/// or without a secret (RFC 7591 §2 defaults, narrowed by the server's supported methods).
///
/// # Errors
/// `INVALID_ARGUMENT` for malformed metadata.
#[wasm_bindgen(js_name = chooseTokenEndpointAuthMethod)]
pub fn choose_token_endpoint_auth_method_js(
    metadata: JsValue,
    has_secret: bool,
) -> Result<String, JsValue> {
    let metadata: AuthorizationServerMetadata = from_js("metadata", metadata)?;
    Ok(choose_token_endpoint_auth_method(&metadata, has_secret)
        .as_str()
        .to_owned())
}

/// Whether `registration`'s client secret has expired (then register again). `now` defaults to
/// `Date.now()`.
///
/// # Errors
/// `INVALID_ARGUMENT` for a malformed registration.
#[wasm_bindgen(js_name = registrationIsSecretExpired)]
pub fn registration_is_secret_expired(
    registration: JsValue,
    now: Option<f64>,
) -> Result<bool, JsValue> {
    let registration: Registration = from_js("registration", registration)?;
    Ok(registration.is_secret_expired(now_or(now)?))
}
