//! Client metadata and dynamic client registration (RFC 7591).
//!
//! MCP 2026-07-28 deprecates dynamic client registration (DCR) in favour of client ID
//! metadata documents, but keeps it for backwards compatibility; most deployed MCP
//! authorization servers still rely on it. [`registration_request`] builds the `POST`,
//! [`process_registration_response`] turns the answer into a [`Registration`] bound to the
//! issuer that issued it. Which identity to use at all is decided by
//! [`plan_client_identity`](crate::identity::plan_client_identity).
//!
//! # Caching
//! A [`Registration`] is valid only at the authorization server that issued it (MCP
//! client-registration#authorization-server-binding). Cache it keyed by the exact issuer,
//! never reuse it with another one, and drop it when the server answers `invalid_client`
//! ([`is_invalid_client`](crate::identity::is_invalid_client)) or the secret expires
//! ([`Registration::is_secret_expired`]).

use serde::{Deserialize, Serialize};
use url::Url;

use crate::client::{ClientCredentials, TokenEndpointAuthMethod};
use crate::error::{ProtocolError, Result, UsageError};
use crate::http::{HttpRequest, HttpResponse};
use crate::metadata::AuthorizationServerMetadata;
use crate::policy::Policy;
use crate::response::{Json, check_transport, oauth_error, temporarily_unavailable};
use crate::secret::{ClientSecret, RegistrationAccessToken};
use crate::time::Time;

mod client_metadata;

pub(crate) use client_metadata::check_redirect_uris;
use client_metadata::infer_application_type;
pub use client_metadata::{
    ApplicationType, ClientMetadata, GRANT_AUTHORIZATION_CODE, GRANT_DEVICE_CODE,
    GRANT_REFRESH_TOKEN,
};

/// The result of a successful registration (RFC 7591 §3.2.1), ready to cache.
///
/// Cache it keyed by `credentials.issuer` and use it with that issuer only; drop it on
/// `invalid_client` ([`is_invalid_client`](crate::identity::is_invalid_client)).
/// It serializes with the client secret and registration access token in clear: store it as
/// securely as tokens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "ts",
    derive(ts_rs::TS),
    ts(export, optional_fields = nullable)
)]
#[non_exhaustive]
pub struct Registration {
    /// The client id, secret and auth method, bound to the issuing server's issuer.
    pub credentials: ClientCredentials,
    /// When the client id was issued, if the server said.
    pub client_id_issued_at: Option<Time>,
    /// When the client secret expires; `None` for never (the server sent 0) or not stated.
    pub client_secret_expires_at: Option<Time>,
    /// The token for the client configuration endpoint (RFC 7592 §3), if any.
    pub registration_access_token: Option<RegistrationAccessToken>,
    /// The client configuration endpoint (RFC 7592 §2), if any.
    pub registration_client_uri: Option<Url>,
}

impl Registration {
    /// Whether the client secret has expired at `now`, so the registration must be redone.
    #[must_use]
    pub fn is_secret_expired(&self, now: Time) -> bool {
        self.credentials.client_secret.is_some()
            && self.client_secret_expires_at.is_some_and(|at| now >= at)
    }
}

/// Builds the registration request (RFC 7591 §3.1): a JSON `POST` of the client metadata to
/// the server's `registration_endpoint`.
///
/// Unset fields are filled in: `application_type` becomes `native` when every redirect URI is
/// on a loopback host (or there is none) and `web` otherwise (MCP requires sending it), and
/// `token_endpoint_auth_method` becomes `none` (a public client) unless the server lists
/// `token_endpoint_auth_methods_supported` without `none`, in which case a client secret
/// method it supports is requested.
///
/// # Errors
/// [`UsageError::MissingEndpoint`] without a `registration_endpoint`;
/// [`UsageError::InvalidUrl`] for a redirect URI that is not https or loopback http (MCP
/// security-considerations#communication-security) or has a fragment;
/// [`UsageError::InvalidClientMetadata`] when redirect-based grants have no redirect URI;
/// [`SecurityError::InsecureUrl`](crate::SecurityError::InsecureUrl) for a plain-http endpoint.
pub fn registration_request(
    server: &AuthorizationServerMetadata,
    client: &ClientMetadata,
    policy: &Policy,
) -> Result<HttpRequest> {
    let endpoint =
        server
            .registration_endpoint
            .clone()
            .ok_or_else(|| UsageError::MissingEndpoint {
                issuer: server.issuer.clone(),
                endpoint: "registration_endpoint",
            })?;
    policy.check_endpoint("registration_endpoint", &endpoint)?;
    check_redirect_uris(client, policy.dangerously_allow_insecure_http)?;
    let mut metadata = client.clone();
    if metadata.application_type.is_none() {
        metadata.application_type = Some(infer_application_type(&metadata.redirect_uris));
    }
    if metadata.token_endpoint_auth_method.is_none() {
        metadata.token_endpoint_auth_method = Some(requested_auth_method(server));
    }
    let encoding_error = |e: serde_json::Error| UsageError::InvalidClientMetadata {
        field: "client metadata",
        reason: e.to_string(),
    };
    let mut body = serde_json::to_value(&metadata).map_err(encoding_error)?;
    // RFC 7591 §2: an omitted `response_types` means `code`, which needs redirect URIs. A
    // client without the code grant (device flow only) must send the empty list, or servers
    // such as oidc-provider refuse it for having no redirect URIs.
    let without_code = !metadata.grant_types.is_empty()
        && !metadata
            .grant_types
            .iter()
            .any(|g| g == GRANT_AUTHORIZATION_CODE);
    if metadata.response_types.is_empty() && without_code {
        if let Some(object) = body.as_object_mut() {
            object.insert(
                "response_types".into(),
                serde_json::Value::Array(Vec::new()),
            );
        }
    }
    let body = serde_json::to_vec(&body).map_err(encoding_error)?;
    let mut req = HttpRequest::post_json(endpoint, body);
    req.max_response_bytes = policy.max_response_bytes;
    Ok(req)
}

/// Validates a registration response (RFC 7591 §3.2) from `server`'s registration endpoint
/// at `url`, and binds the credentials to `server.issuer`.
///
/// `201 Created` is the RFC's status; `200` is accepted too. The authentication method is the
/// response's `token_endpoint_auth_method`; when the server omits it, a client without a
/// secret is public (`none`) and one with a secret uses
/// [`choose_token_endpoint_auth_method`].
///
/// # Errors
/// [`OAuthError`](crate::OAuthError) for an RFC 7591 §3.2.2 error such as
/// `invalid_redirect_uri` or `invalid_client_metadata` (show its description to the user;
/// MCP allows retrying with other redirect URIs or `application_type`);
/// [`ProtocolError`] for another status, a body that is not JSON, a missing or mistyped
/// field, an unsupported `token_endpoint_auth_method`, or a secret method without a secret.
pub fn process_registration_response(
    server: &AuthorizationServerMetadata,
    url: &Url,
    resp: &HttpResponse,
    policy: &Policy,
) -> Result<Registration> {
    check_transport(url, resp, policy.max_response_bytes)?;
    if !matches!(resp.status, 200 | 201) {
        if let Some(e) = oauth_error(url, resp) {
            return Err(e.into());
        }
        if let Some(unavailable) = temporarily_unavailable(url, resp) {
            return Err(unavailable.into());
        }
        return Err(ProtocolError::UnexpectedStatus {
            url: url.to_string(),
            status: resp.status,
            expected: "201 Created",
        }
        .into());
    }
    let json = Json::parse(url, &resp.body)?;
    parse_registration(server, &json)
}

fn parse_registration(server: &AuthorizationServerMetadata, json: &Json) -> Result<Registration> {
    let client_id = json.req_str("client_id")?;
    if client_id.is_empty() {
        return Err(invalid(json, "client_id", "must not be empty"));
    }
    let secret = json
        .str("client_secret")?
        .filter(|s| !s.is_empty())
        .map(ClientSecret::new);
    let auth_method = match json.str("token_endpoint_auth_method")? {
        // A registration carries no key, so a server choosing `private_key_jwt` for it is
        // refused like a method the core does not know.
        Some(name) => TokenEndpointAuthMethod::parse(&name)
            .filter(|m| *m != TokenEndpointAuthMethod::PrivateKeyJwt)
            .ok_or_else(|| {
                invalid(
                    json,
                    "token_endpoint_auth_method",
                    format!("is `{name}`, which mcpauth does not support"),
                )
            })?,
        None => choose_token_endpoint_auth_method(server, secret.is_some()),
    };
    if auth_method != TokenEndpointAuthMethod::None && secret.is_none() {
        return Err(invalid(
            json,
            "token_endpoint_auth_method",
            format!(
                "is `{}`, but the response has no client_secret",
                auth_method.as_str()
            ),
        ));
    }
    let credentials = ClientCredentials {
        issuer: server.issuer.clone(),
        client_id,
        client_secret: secret,
        auth_method,
        key_alg: None,
        key_id: None,
    };
    Ok(Registration {
        credentials,
        client_id_issued_at: json.u64("client_id_issued_at")?.map(Time::from_unix_secs),
        client_secret_expires_at: json
            .u64("client_secret_expires_at")?
            .filter(|&s| s != 0)
            .map(Time::from_unix_secs),
        registration_access_token: json
            .str("registration_access_token")?
            .map(RegistrationAccessToken::new),
        registration_client_uri: json.url_field("registration_client_uri")?,
    })
}

fn invalid(json: &Json, field: &'static str, reason: impl Into<String>) -> crate::Error {
    ProtocolError::InvalidField {
        url: json.url().to_owned(),
        field,
        reason: reason.into(),
    }
    .into()
}

/// The token endpoint authentication method to use with `server` (RFC 8414 §2).
///
/// Without a secret the client is public: `none`. With one (pre-registered, or issued by a
/// registration that did not state a method), `client_secret_basic` when the server lists it
/// or lists nothing (RFC 8414's default), else `client_secret_post` when listed, else `none`
/// (the server only takes public clients; the secret is then not sent).
#[must_use]
pub fn choose_token_endpoint_auth_method(
    server: &AuthorizationServerMetadata,
    has_secret: bool,
) -> TokenEndpointAuthMethod {
    if !has_secret {
        return TokenEndpointAuthMethod::None;
    }
    let Some(supported) = &server.token_endpoint_auth_methods_supported else {
        return TokenEndpointAuthMethod::ClientSecretBasic;
    };
    let lists = |m: TokenEndpointAuthMethod| supported.iter().any(|s| s == m.as_str());
    [
        TokenEndpointAuthMethod::ClientSecretBasic,
        TokenEndpointAuthMethod::ClientSecretPost,
    ]
    .into_iter()
    .find(|&m| lists(m))
    .unwrap_or(TokenEndpointAuthMethod::None)
}

/// The method to ask for in a registration: `none` unless the server rules it out.
fn requested_auth_method(server: &AuthorizationServerMetadata) -> TokenEndpointAuthMethod {
    match &server.token_endpoint_auth_methods_supported {
        Some(supported) if !supported.iter().any(|s| s == "none") => {
            choose_token_endpoint_auth_method(server, true)
        }
        _ => TokenEndpointAuthMethod::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    const ISSUER: &str = "https://server.example.com";

    fn server() -> AuthorizationServerMetadata {
        AuthorizationServerMetadata::for_tests(ISSUER)
    }

    fn server_with_methods(methods: &[&str]) -> AuthorizationServerMetadata {
        let mut s = server();
        s.token_endpoint_auth_methods_supported =
            Some(methods.iter().map(|m| (*m).to_owned()).collect());
        s
    }

    fn reg_url() -> Url {
        Url::parse("https://server.example.com/register").unwrap()
    }

    fn body_json(req: &HttpRequest) -> Value {
        serde_json::from_slice(&req.body).unwrap()
    }

    fn process_with(
        server: &AuthorizationServerMetadata,
        status: u16,
        body: &str,
    ) -> Result<Registration> {
        process_registration_response(
            server,
            &reg_url(),
            &HttpResponse::json(status, body),
            &Policy::default(),
        )
    }

    fn process(status: u16, body: &str) -> Result<Registration> {
        process_with(&server(), status, body)
    }

    /// RFC 7591 §3.1's example request, minus the members mcpauth does not model.
    #[test]
    fn builds_the_rfc7591_request_example() {
        let client = ClientMetadata {
            redirect_uris: vec![
                "https://client.example.org/callback".into(),
                "https://client.example.org/callback2".into(),
            ],
            client_name: Some("My Example Client".into()),
            token_endpoint_auth_method: Some(TokenEndpointAuthMethod::ClientSecretBasic),
            logo_uri: Some("https://client.example.org/logo.png".into()),
            ..ClientMetadata::default()
        };
        let req = registration_request(&server(), &client, &Policy::default()).unwrap();
        assert_eq!(req.method, crate::Method::Post);
        assert_eq!(req.url.as_str(), "https://server.example.com/register");
        assert_eq!(req.header("content-type"), Some("application/json"));
        assert_eq!(req.header("accept"), Some("application/json"));
        assert!(!req.follow_redirects);
        assert_eq!(
            body_json(&req),
            json!({
                "redirect_uris": [
                    "https://client.example.org/callback",
                    "https://client.example.org/callback2"],
                "client_name": "My Example Client",
                "application_type": "web",
                "token_endpoint_auth_method": "client_secret_basic",
                "logo_uri": "https://client.example.org/logo.png"
            })
        );
    }

    #[test]
    fn native_client_sends_application_type_and_public_defaults() {
        let client = ClientMetadata::native("cli", vec!["http://127.0.0.1:8976/cb".into()])
            .with_scope("mcp offline_access")
            .with_software("mcpauth", "0.1.0");
        let policy = Policy {
            max_response_bytes: 4096,
            ..Policy::default()
        };
        let req = registration_request(&server(), &client, &policy).unwrap();
        assert_eq!(req.max_response_bytes, 4096);
        assert_eq!(
            body_json(&req),
            json!({
                "redirect_uris": ["http://127.0.0.1:8976/cb"],
                "client_name": "cli",
                "application_type": "native",
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
                "scope": "mcp offline_access",
                "software_id": "mcpauth",
                "software_version": "0.1.0"
            })
        );
        let web = ClientMetadata::web("app", vec!["https://app.example/cb".into()]);
        assert_eq!(web.application_type, Some(ApplicationType::Web));
        assert_eq!(
            web.token_endpoint_auth_method,
            Some(TokenEndpointAuthMethod::None)
        );
    }

    #[test]
    fn a_client_without_the_code_grant_says_it_uses_no_response_type() {
        // Omitted, `response_types` would default to `code` (RFC 7591 §2) and oidc-provider
        // would demand redirect URIs.
        let mut client = ClientMetadata::native("device only", Vec::new()).with_device_code_grant();
        client.grant_types = vec![GRANT_REFRESH_TOKEN.into(), GRANT_DEVICE_CODE.into()];
        client.response_types = Vec::new();
        let body =
            body_json(&registration_request(&server(), &client, &Policy::default()).unwrap());
        assert_eq!(body["response_types"], json!([]));
        assert!(body.get("redirect_uris").is_none());

        // With the code grant, or with no grant types at all, nothing changes.
        let browser = ClientMetadata::native("cli", vec!["http://127.0.0.1:1/cb".into()]);
        let body =
            body_json(&registration_request(&server(), &browser, &Policy::default()).unwrap());
        assert_eq!(body["response_types"], json!(["code"]));
        let mut bare = browser.clone();
        bare.grant_types = Vec::new();
        bare.response_types = Vec::new();
        let body = body_json(&registration_request(&server(), &bare, &Policy::default()).unwrap());
        assert!(body.get("response_types").is_none());
    }

    #[test]
    fn unset_application_type_is_inferred_from_redirect_uris() {
        let mut client = ClientMetadata::native("c", vec!["http://localhost:1/cb".into()]);
        client.application_type = None;
        let req = registration_request(&server(), &client, &Policy::default()).unwrap();
        assert_eq!(body_json(&req)["application_type"], "native");
        client.redirect_uris.push("https://app.example/cb".into());
        let req = registration_request(&server(), &client, &Policy::default()).unwrap();
        assert_eq!(body_json(&req)["application_type"], "web");
    }

    #[test]
    fn unset_auth_method_is_none_unless_the_server_rules_it_out() {
        let mut client = ClientMetadata::native("c", vec!["http://localhost/cb".into()]);
        client.token_endpoint_auth_method = None;
        let requested = |s: &AuthorizationServerMetadata| {
            let req = registration_request(s, &client, &Policy::default()).unwrap();
            body_json(&req)["token_endpoint_auth_method"].clone()
        };
        assert_eq!(requested(&server()), "none");
        assert_eq!(
            requested(&server_with_methods(&["client_secret_basic", "none"])),
            "none"
        );
        assert_eq!(
            requested(&server_with_methods(&["client_secret_basic"])),
            "client_secret_basic"
        );
        assert_eq!(
            requested(&server_with_methods(&["client_secret_post"])),
            "client_secret_post"
        );
        assert_eq!(
            requested(&server_with_methods(&["private_key_jwt"])),
            "none"
        );
    }

    #[test]
    fn registration_needs_a_registration_endpoint() {
        let mut s = server();
        s.registration_endpoint = None;
        let client = ClientMetadata::native("c", vec!["http://localhost/cb".into()]);
        let err = registration_request(&s, &client, &Policy::default()).unwrap_err();
        assert_eq!(err.code(), "MISSING_ENDPOINT");
        assert!(err.to_string().contains("registration_endpoint"), "{err}");
        s.registration_endpoint = Some(Url::parse("http://server.example.com/register").unwrap());
        let err = registration_request(&s, &client, &Policy::default()).unwrap_err();
        assert_eq!(err.code(), "INSECURE_URL");
    }

    #[test]
    fn redirect_uris_must_be_https_or_loopback_http() {
        let check = |uri: &str, policy: &Policy| {
            let client = ClientMetadata::native("c", vec![uri.into()]);
            registration_request(&server(), &client, policy).map(|_| ())
        };
        let strict = Policy::default();
        for ok in [
            "https://app.example/cb",
            "http://localhost:3000/callback",
            "http://127.0.0.1/cb",
            "http://[::1]:9/cb",
        ] {
            assert!(check(ok, &strict).is_ok(), "{ok}");
        }
        for bad in [
            "http://app.example/cb",
            "com.example.app:/oauth2redirect",
            "/relative/cb",
            "https://app.example/cb#frag",
            "ftp://localhost/cb",
        ] {
            let err = check(bad, &strict).unwrap_err();
            assert_eq!(err.code(), "INVALID_URL", "{bad}");
            assert!(err.to_string().contains("redirect URI"), "{err}");
        }
        assert!(
            check(
                "http://app.example/cb",
                &Policy::dangerously_insecure_for_tests()
            )
            .is_ok()
        );
    }

    #[test]
    fn redirect_grants_need_a_redirect_uri() {
        let err = registration_request(
            &server(),
            &ClientMetadata::native("c", vec![]),
            &Policy::default(),
        )
        .unwrap_err();
        assert_eq!(err.code(), "INVALID_CLIENT_METADATA");
        let mut device_only = ClientMetadata::native("c", vec![]);
        device_only.grant_types = vec![GRANT_DEVICE_CODE.into(), GRANT_REFRESH_TOKEN.into()];
        assert!(registration_request(&server(), &device_only, &Policy::default()).is_ok());
    }

    /// RFC 7591 §3.2.1's example response.
    const RFC7591_RESPONSE: &str = r#"{
        "client_id": "s6BhdRkqt3",
        "client_secret": "cf136dc3c1fc93f31185e5885805d",
        "client_id_issued_at": 2893256800,
        "client_secret_expires_at": 2893276800,
        "redirect_uris": [
            "https://client.example.org/callback",
            "https://client.example.org/callback2"],
        "grant_types": ["authorization_code", "refresh_token"],
        "client_name": "My Example Client",
        "client_name#ja-Jpan-JP": "\u30AF\u30E9\u30A4\u30A2\u30F3\u30C8\u540D",
        "token_endpoint_auth_method": "client_secret_basic",
        "logo_uri": "https://client.example.org/logo.png",
        "jwks_uri": "https://client.example.org/my_public_keys.jwks",
        "example_extension_parameter": "example_value"
    }"#;

    #[test]
    fn parses_the_rfc7591_response_example_bound_to_the_issuer() {
        let r = process(201, RFC7591_RESPONSE).unwrap();
        assert_eq!(r.credentials.issuer, ISSUER);
        assert_eq!(r.credentials.client_id, "s6BhdRkqt3");
        assert_eq!(
            r.credentials.client_secret.as_ref().unwrap().secret(),
            "cf136dc3c1fc93f31185e5885805d"
        );
        assert_eq!(
            r.credentials.auth_method,
            TokenEndpointAuthMethod::ClientSecretBasic
        );
        assert_eq!(
            r.client_id_issued_at,
            Some(Time::from_unix_secs(2_893_256_800))
        );
        assert_eq!(
            r.client_secret_expires_at,
            Some(Time::from_unix_secs(2_893_276_800))
        );
        assert!(!r.is_secret_expired(Time::from_unix_secs(2_893_276_799)));
        assert!(r.is_secret_expired(Time::from_unix_secs(2_893_276_800)));
        assert!(r.credentials.ensure_issuer(ISSUER).is_ok());
        assert!(
            r.credentials
                .ensure_issuer("https://other.example")
                .is_err()
        );
    }

    #[test]
    fn ok_is_accepted_leniently_but_other_statuses_are_not() {
        assert!(process(200, r#"{"client_id":"a"}"#).is_ok());
        for status in [202, 204, 404, 500] {
            let err = process(status, r#"{"client_id":"a"}"#).unwrap_err();
            assert_eq!(err.code(), "UNEXPECTED_STATUS", "{status}");
        }
        let err = process(302, "").unwrap_err();
        assert_eq!(err.code(), "UNEXPECTED_REDIRECT");
        let err = process(201, "<html>").unwrap_err();
        assert_eq!(err.code(), "INVALID_JSON");
        let err = process(503, "<html>Service Unavailable</html>").unwrap_err();
        assert_eq!(
            err.code(),
            "TEMPORARILY_UNAVAILABLE",
            "an overloaded server"
        );
    }

    /// RFC 7591 §3.2.2's two example error responses.
    #[test]
    fn rfc7591_error_responses_are_oauth_errors() {
        let err = process(
            400,
            r#"{"error": "invalid_redirect_uri",
                "error_description": "The redirection URI http://sketchy.example.com is not allowed by this server."}"#,
        )
        .unwrap_err();
        let oauth = err.oauth().unwrap();
        assert_eq!(oauth.error, "invalid_redirect_uri");
        assert_eq!(oauth.status, 400);
        assert_eq!(oauth.where_, "https://server.example.com/register");
        assert!(
            oauth
                .error_description
                .as_deref()
                .unwrap()
                .contains("sketchy")
        );
        let err = process(
            400,
            r#"{"error": "invalid_client_metadata",
                "error_description": "The grant type 'authorization_code' must be registered along with the response type 'code' but found only 'implicit' instead."}"#,
        )
        .unwrap_err();
        assert_eq!(err.oauth().unwrap().error, "invalid_client_metadata");
    }

    #[test]
    fn server_chosen_auth_method_wins() {
        let r = process(201, r#"{"client_id":"a","client_secret":"s","token_endpoint_auth_method":"client_secret_post"}"#).unwrap();
        assert_eq!(
            r.credentials.auth_method,
            TokenEndpointAuthMethod::ClientSecretPost
        );
        let r = process(
            201,
            r#"{"client_id":"a","token_endpoint_auth_method":"none"}"#,
        )
        .unwrap();
        assert_eq!(r.credentials.auth_method, TokenEndpointAuthMethod::None);
        assert!(r.credentials.client_secret.is_none());
    }

    #[test]
    fn secret_method_without_secret_is_a_protocol_error() {
        for body in [
            r#"{"client_id":"a","token_endpoint_auth_method":"client_secret_basic"}"#,
            r#"{"client_id":"a","client_secret":"","token_endpoint_auth_method":"client_secret_post"}"#,
        ] {
            let err = process(201, body).unwrap_err();
            assert_eq!(err.code(), "INVALID_FIELD", "{body}");
            assert!(err.to_string().contains("no client_secret"), "{err}");
        }
    }

    #[test]
    fn unknown_auth_method_names_the_field() {
        let err = process(
            201,
            r#"{"client_id":"a","token_endpoint_auth_method":"private_key_jwt"}"#,
        )
        .unwrap_err();
        assert_eq!(err.code(), "INVALID_FIELD");
        assert_eq!(
            err.to_string(),
            "https://server.example.com/register: field `token_endpoint_auth_method` is `private_key_jwt`, which mcpauth does not support"
        );
    }

    #[test]
    fn omitted_auth_method_follows_secret_and_server_metadata() {
        let method = |s: &AuthorizationServerMetadata, body: &str| {
            process_with(s, 201, body).unwrap().credentials.auth_method
        };
        let public = r#"{"client_id":"a"}"#;
        let with_secret = r#"{"client_id":"a","client_secret":"s"}"#;
        assert_eq!(method(&server(), public), TokenEndpointAuthMethod::None);
        assert_eq!(
            method(&server(), with_secret),
            TokenEndpointAuthMethod::ClientSecretBasic
        );
        assert_eq!(
            method(&server_with_methods(&["client_secret_post"]), with_secret),
            TokenEndpointAuthMethod::ClientSecretPost
        );
        // A server that only takes public clients but hands out a secret anyway.
        let r = process_with(&server_with_methods(&["none"]), 201, with_secret).unwrap();
        assert_eq!(r.credentials.auth_method, TokenEndpointAuthMethod::None);
        assert!(r.credentials.client_secret.is_some());
    }

    #[test]
    fn zero_secret_expiry_means_never() {
        let r = process(
            201,
            r#"{"client_id":"a","client_secret":"s","client_secret_expires_at":0}"#,
        )
        .unwrap();
        assert_eq!(r.client_secret_expires_at, None);
        assert!(!r.is_secret_expired(Time::from_unix_millis(u64::MAX)));
    }

    #[test]
    fn keeps_rfc7592_management_fields() {
        let r = process(
            201,
            r#"{"client_id":"a","registration_access_token":"reg-23410913-abewfq.123483",
                "registration_client_uri":"https://server.example.com/register/a"}"#,
        )
        .unwrap();
        assert_eq!(
            r.registration_access_token.as_ref().unwrap().secret(),
            "reg-23410913-abewfq.123483"
        );
        assert_eq!(
            r.registration_client_uri.as_ref().unwrap().as_str(),
            "https://server.example.com/register/a"
        );
    }

    #[test]
    fn malformed_fields_are_named() {
        let cases = [
            (r#"{"client_secret":"s"}"#, "MISSING_FIELD", "client_id"),
            (r#"{"client_id":""}"#, "INVALID_FIELD", "client_id"),
            (r#"{"client_id":7}"#, "INVALID_FIELD", "client_id"),
            (
                r#"{"client_id":"a","client_id_issued_at":"soon"}"#,
                "INVALID_FIELD",
                "client_id_issued_at",
            ),
            (
                r#"{"client_id":"a","client_secret_expires_at":-1}"#,
                "INVALID_FIELD",
                "client_secret_expires_at",
            ),
            (
                r#"{"client_id":"a","registration_client_uri":"nope"}"#,
                "INVALID_FIELD",
                "registration_client_uri",
            ),
        ];
        for (body, code, field) in cases {
            let err = process(201, body).unwrap_err();
            assert_eq!(err.code(), code, "{body}");
            assert!(err.to_string().contains(field), "{err}");
        }
    }

    #[test]
    fn registration_round_trips_and_hides_secrets_in_debug() {
        let r = process(
            201,
            r#"{"client_id":"a","client_secret":"TOPSECRET","registration_access_token":"REGSECRET","client_id_issued_at":5}"#,
        )
        .unwrap();
        let shown = format!("{r:?}");
        assert!(
            !shown.contains("TOPSECRET") && !shown.contains("REGSECRET"),
            "{shown}"
        );
        let stored = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Registration>(&stored).unwrap(), r);
    }

    proptest! {
        #[test]
        fn arbitrary_bodies_never_panic(status in 0u16..600, body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = process_registration_response(
                &server(), &reg_url(), &HttpResponse::json(status, body), &Policy::default());
        }

        #[test]
        fn arbitrary_registration_objects_never_panic(
            fields in proptest::collection::vec((
                prop::sample::select(vec![
                    "client_id", "client_secret", "token_endpoint_auth_method",
                    "client_id_issued_at", "client_secret_expires_at",
                    "registration_access_token", "registration_client_uri", "error",
                ]),
                prop_oneof![
                    Just(Value::Null),
                    any::<bool>().prop_map(Value::from),
                    any::<i64>().prop_map(Value::from),
                    any::<f64>().prop_map(Value::from),
                    ".{0,12}".prop_map(Value::from),
                    prop::sample::select(vec!["none", "client_secret_basic", "client_secret_post", "https://x/y"]).prop_map(Value::from),
                ],
            ), 0..8),
            status in prop::sample::select(vec![200u16, 201, 400, 401]),
            methods in proptest::option::of(proptest::collection::vec(
                prop::sample::select(vec!["none", "client_secret_basic", "client_secret_post", "x"]), 0..3)),
        ) {
            let body: serde_json::Map<String, Value> =
                fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            let mut s = server();
            s.token_endpoint_auth_methods_supported = methods.map(|m| m.into_iter().map(str::to_owned).collect());
            if let Ok(r) = process_with(&s, status, &Value::Object(body).to_string()) {
                // Whatever was accepted is usable: a secret method always has its secret.
                prop_assert!(r.credentials.auth_method == TokenEndpointAuthMethod::None
                    || r.credentials.client_secret.is_some());
                prop_assert_eq!(r.credentials.issuer.as_str(), ISSUER);
            }
        }

    }
}
