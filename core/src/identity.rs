//! Which client identity to use with an authorization server (MCP client-registration).
//!
//! MCP gives a priority when several ways to get a `client_id` are available:
//! pre-registered credentials for this server, then a client ID metadata document (CIMD)
//! when the server supports it, then dynamic client registration (DCR). A DCR registration
//! from an earlier run is reused only at the exact issuer that issued it.
//! [`plan_client_identity`] applies that order and either hands back credentials or the
//! registration request to send.
//!
//! # Binding to the issuer
//! Client credentials belong to one authorization server (MCP
//! client-registration#authorization-server-binding). Drivers must:
//! - cache DCR registrations keyed by the exact `issuer` of the server that issued them, and
//!   keep registrations (and tokens) for each server apart;
//! - never present one server's credentials to another: when the protected resource moves to
//!   a new authorization server, register again there;
//! - drop a cached registration when the server answers `invalid_client`
//!   ([`is_invalid_client`]) or its secret expires, then plan again.
//!
//! CIMD client ids are URLs the client controls, so they are portable across servers.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::client::{ClientCredentials, TokenEndpointAuthMethod};
use crate::error::{Error, Result, UsageError};
use crate::http::HttpRequest;
use crate::metadata::AuthorizationServerMetadata;
use crate::policy::Policy;
use crate::registration::{ClientMetadata, check_redirect_uris, registration_request};

/// What the client has to identify itself with, for [`plan_client_identity`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityOptions {
    /// Credentials registered out of band, bound to the issuer they were registered with.
    pub preregistered: Option<ClientCredentials>,
    /// Credentials from an earlier dynamic registration (cached keyed by issuer; see the
    /// module docs). Pass only a registration whose secret has not expired.
    pub cached_registration: Option<ClientCredentials>,
    /// The https URL where the client hosts its client ID metadata document
    /// ([`client_id_metadata_document`]); it is the `client_id` at servers that support CIMD.
    pub metadata_document_url: Option<String>,
    /// The metadata to register with when dynamic registration is needed.
    pub client_metadata: ClientMetadata,
}

/// The outcome of [`plan_client_identity`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdentityPlan {
    /// Use these credentials; they are bound to the server's issuer.
    Ready(ClientCredentials),
    /// Send this registration request, then pass the response to
    /// [`process_registration_response`](crate::registration::process_registration_response)
    /// and cache the result keyed by the issuer.
    Register(HttpRequest),
}

/// Chooses the client identity to use with `server`, in the MCP priority order
/// (client-registration, "Client Registration Approaches"):
///
/// 1. `preregistered` credentials. If they belong to another issuer this is an error rather
///    than a silent fallback: the user configured them for a server that is no longer in use.
/// 2. `metadata_document_url` as a CIMD `client_id`, when the server advertises
///    `client_id_metadata_document_supported`. CIMD client ids are portable, so the
///    credentials are simply bound to this server's issuer.
/// 3. `cached_registration`, only if its issuer equals `server.issuer` exactly. A registration
///    from another server is ignored: MCP requires registering again when the server changes.
/// 4. Dynamic registration, when the server has a `registration_endpoint`: the request is
///    built by [`registration_request`] (a public client asks for auth method `none`).
///
/// ```
/// use mcpauth_core::identity::{IdentityOptions, IdentityPlan, plan_client_identity};
/// use mcpauth_core::registration::ClientMetadata;
/// use mcpauth_core::{AuthorizationServerMetadata, ClientCredentials, Policy};
///
/// let server = AuthorizationServerMetadata::with_default_endpoints("https://as.example");
/// let options = IdentityOptions {
///     // Registered earlier with a server the resource no longer uses.
///     cached_registration: Some(ClientCredentials::public("https://old-as.example", "abc")),
///     client_metadata: ClientMetadata::native("My CLI", vec!["http://127.0.0.1:33418/cb".into()]),
///     ..IdentityOptions::default()
/// };
/// let plan = plan_client_identity(&server, &options, &Policy::default()).unwrap();
/// assert!(matches!(plan, IdentityPlan::Register(_)));
/// ```
///
/// # Errors
/// [`SecurityError::CredentialsForOtherIssuer`](crate::SecurityError::CredentialsForOtherIssuer)
/// for pre-registered credentials of another issuer; [`UsageError::InvalidUrl`] for an invalid
/// CIMD URL; the errors of [`registration_request`]; [`UsageError::NoClientIdentity`] when no
/// approach applies (ask the user for a client id).
pub fn plan_client_identity(
    server: &AuthorizationServerMetadata,
    options: &IdentityOptions,
    policy: &Policy,
) -> Result<IdentityPlan> {
    if let Some(pre) = &options.preregistered {
        pre.ensure_issuer(&server.issuer)?;
        return Ok(IdentityPlan::Ready(pre.clone()));
    }
    if let Some(url) = options
        .metadata_document_url
        .as_deref()
        .filter(|_| server.client_id_metadata_document_supported)
    {
        check_metadata_document_url(url)?;
        return Ok(IdentityPlan::Ready(ClientCredentials::public(
            server.issuer.clone(),
            url,
        )));
    }
    if let Some(cached) = options
        .cached_registration
        .as_ref()
        .filter(|c| c.issuer == server.issuer)
    {
        return Ok(IdentityPlan::Ready(cached.clone()));
    }
    if server.registration_endpoint.is_some() {
        return registration_request(server, &options.client_metadata, policy)
            .map(IdentityPlan::Register);
    }
    Err(UsageError::NoClientIdentity {
        issuer: server.issuer.clone(),
    }
    .into())
}

/// Whether `err` means the server no longer knows the client, so a cached dynamic
/// registration must be dropped and the identity planned again.
///
/// That is the OAuth error `invalid_client` (RFC 6749 §5.2: "client authentication failed,
/// e.g. unknown client"), from any endpoint that authenticates the client.
/// `unauthorized_client` is not included: there the client was authenticated but may not use
/// the grant, and registering again with the same metadata would not change that.
#[must_use]
pub fn is_invalid_client(err: &Error) -> bool {
    err.oauth().is_some_and(|e| e.error == "invalid_client")
}

/// The client ID metadata document to host at `client_id` (MCP
/// client-registration#client-id-metadata-documents), as JSON.
///
/// The document holds `client_id` (exactly the string given, which is the URL it must be
/// served from) followed by the metadata. MCP requires `client_name` and `redirect_uris`.
///
/// ```
/// use mcpauth_core::identity::client_id_metadata_document;
/// use mcpauth_core::registration::ClientMetadata;
///
/// let meta = ClientMetadata::native("My CLI", vec!["http://127.0.0.1:33418/cb".into()]);
/// let doc = client_id_metadata_document("https://cli.example/oauth/client.json", &meta).unwrap();
/// let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
/// assert_eq!(doc["client_id"], "https://cli.example/oauth/client.json");
/// assert!(client_id_metadata_document("https://cli.example/", &meta).is_err());
/// ```
///
/// # Errors
/// [`UsageError::InvalidUrl`] unless `client_id` is an https URL with a path other than `/`,
/// no credentials, no fragment, in normalized form; and for a redirect URI that is not https
/// or loopback http. [`UsageError::InvalidClientMetadata`] when `client_name` or
/// `redirect_uris` is missing, or the auth method is a client secret method (a published
/// document cannot hold a secret).
pub fn client_id_metadata_document(client_id: &str, client: &ClientMetadata) -> Result<String> {
    check_metadata_document_url(client_id)?;
    let missing = |field: &'static str| UsageError::InvalidClientMetadata {
        field,
        reason: "is required in a client ID metadata document".into(),
    };
    if client.client_name.as_deref().is_none_or(str::is_empty) {
        return Err(missing("client_name").into());
    }
    if client.redirect_uris.is_empty() {
        return Err(missing("redirect_uris").into());
    }
    check_redirect_uris(client, false)?;
    if matches!(
        client.token_endpoint_auth_method,
        Some(
            TokenEndpointAuthMethod::ClientSecretBasic | TokenEndpointAuthMethod::ClientSecretPost
        )
    ) {
        return Err(UsageError::InvalidClientMetadata {
            field: "token_endpoint_auth_method",
            reason: "cannot be a client secret method in a published metadata document".into(),
        }
        .into());
    }
    #[derive(Serialize)]
    struct Document<'a> {
        client_id: &'a str,
        #[serde(flatten)]
        metadata: &'a ClientMetadata,
    }
    serde_json::to_string_pretty(&Document {
        client_id,
        metadata: client,
    })
    .map_err(|e| {
        UsageError::InvalidClientMetadata {
            field: "client_id",
            reason: e.to_string(),
        }
        .into()
    })
}

/// A CIMD `client_id` must be an https URL with a path component (MCP; the IETF draft adds:
/// no credentials, no fragment, no dot segments). It must also be in normalized form, so that
/// the string the server compares is the URL it fetches.
fn check_metadata_document_url(client_id: &str) -> Result<()> {
    let invalid = |reason: String| UsageError::InvalidUrl {
        what: "client ID metadata document URL",
        url: client_id.to_owned(),
        reason,
    };
    let url = Url::parse(client_id).map_err(|e| invalid(e.to_string()))?;
    if url.scheme() != "https" {
        return Err(invalid("it must use https".into()).into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("it must not carry credentials".into()).into());
    }
    if url.fragment().is_some() {
        return Err(invalid("it must not have a fragment".into()).into());
    }
    if url.path() == "/" {
        return Err(invalid("it must have a path, such as /client.json".into()).into());
    }
    if url.as_str() != client_id {
        return Err(invalid(format!(
            "it is not in normalized form (no dot segments, default port or uppercase host); use `{url}`"
        ))
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{OAuthError, SecurityError};
    use crate::secret::ClientSecret;
    use serde_json::Value;

    const AS_A: &str = "https://as-a.example";
    const AS_B: &str = "https://as-b.example/tenant";
    const CIMD: &str = "https://client.example/oauth/metadata.json";

    fn metadata() -> ClientMetadata {
        ClientMetadata::native("Test CLI", vec!["http://127.0.0.1:8976/callback".into()])
    }

    fn options() -> IdentityOptions {
        IdentityOptions {
            client_metadata: metadata(),
            ..IdentityOptions::default()
        }
    }

    fn server(issuer: &str) -> AuthorizationServerMetadata {
        AuthorizationServerMetadata::for_tests(issuer)
    }

    fn plan(
        server: &AuthorizationServerMetadata,
        options: &IdentityOptions,
    ) -> Result<IdentityPlan> {
        plan_client_identity(server, options, &Policy::default())
    }

    fn ready(plan: Result<IdentityPlan>) -> ClientCredentials {
        match plan.unwrap() {
            IdentityPlan::Ready(c) => c,
            IdentityPlan::Register(r) => panic!("expected credentials, got {r:?}"),
        }
    }

    fn register(plan: Result<IdentityPlan>) -> HttpRequest {
        match plan.unwrap() {
            IdentityPlan::Register(r) => r,
            IdentityPlan::Ready(c) => panic!("expected a registration, got {c:?}"),
        }
    }

    fn everything_for(issuer: &str) -> IdentityOptions {
        IdentityOptions {
            preregistered: Some(ClientCredentials::confidential(
                issuer,
                "pre",
                ClientSecret::new("s"),
                TokenEndpointAuthMethod::ClientSecretBasic,
            )),
            cached_registration: Some(ClientCredentials::public(issuer, "cached")),
            metadata_document_url: Some(CIMD.into()),
            ..options()
        }
    }

    #[test]
    fn preregistered_credentials_come_first() {
        let mut s = server(AS_A);
        s.client_id_metadata_document_supported = true;
        let c = ready(plan(&s, &everything_for(AS_A)));
        assert_eq!(c.client_id, "pre");
        assert_eq!(c.auth_method, TokenEndpointAuthMethod::ClientSecretBasic);
    }

    #[test]
    fn preregistered_credentials_for_another_issuer_are_an_error_not_a_fallback() {
        let mut s = server(AS_B);
        s.client_id_metadata_document_supported = true;
        let err = plan(&s, &everything_for(AS_A)).unwrap_err();
        assert_eq!(
            err,
            Error::Security(SecurityError::CredentialsForOtherIssuer {
                registered_for: AS_A.into(),
                issuer: AS_B.into(),
            })
        );
    }

    #[test]
    fn cimd_is_used_when_the_server_supports_it() {
        let mut s = server(AS_A);
        s.client_id_metadata_document_supported = true;
        let opts = IdentityOptions {
            preregistered: None,
            ..everything_for(AS_A)
        };
        let c = ready(plan(&s, &opts));
        assert_eq!(c, ClientCredentials::public(AS_A, CIMD));
        // Portable: the same URL serves any server that supports CIMD.
        let mut b = server(AS_B);
        b.client_id_metadata_document_supported = true;
        assert_eq!(
            ready(plan(&b, &opts)),
            ClientCredentials::public(AS_B, CIMD)
        );
    }

    #[test]
    fn cimd_is_skipped_when_the_server_does_not_support_it() {
        let opts = IdentityOptions {
            metadata_document_url: Some(CIMD.into()),
            ..options()
        };
        register(plan(&server(AS_A), &opts));
        let mut no_dcr = server(AS_A);
        no_dcr.registration_endpoint = None;
        assert_eq!(
            plan(&no_dcr, &opts).unwrap_err().code(),
            "NO_CLIENT_IDENTITY"
        );
    }

    #[test]
    fn invalid_cimd_url_is_a_usage_error() {
        let mut s = server(AS_A);
        s.client_id_metadata_document_supported = true;
        let opts = IdentityOptions {
            metadata_document_url: Some("http://client.example/metadata.json".into()),
            ..options()
        };
        assert_eq!(plan(&s, &opts).unwrap_err().code(), "INVALID_URL");
    }

    #[test]
    fn cached_registration_is_reused_at_its_own_issuer() {
        let opts = IdentityOptions {
            cached_registration: Some(ClientCredentials::public(AS_A, "cached")),
            ..options()
        };
        assert_eq!(ready(plan(&server(AS_A), &opts)).client_id, "cached");
    }

    #[test]
    fn migration_to_a_new_server_ignores_the_old_registration_and_registers_again() {
        let opts = IdentityOptions {
            cached_registration: Some(ClientCredentials::public(AS_A, "as1-client-id")),
            ..options()
        };
        let req = register(plan(&server(AS_B), &opts));
        assert_eq!(req.url.as_str(), "https://as-b.example/register");
        assert!(
            !String::from_utf8(req.body)
                .unwrap()
                .contains("as1-client-id")
        );
        // The issuer must match exactly: a trailing slash is another issuer.
        let slash = format!("{AS_A}/");
        register(plan(&server(&slash), &opts));
    }

    #[test]
    fn registration_requests_a_public_client() {
        let mut m = metadata();
        m.token_endpoint_auth_method = None;
        let opts = IdentityOptions {
            client_metadata: m,
            ..IdentityOptions::default()
        };
        let req = register(plan(&server(AS_A), &opts));
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(body["token_endpoint_auth_method"], "none");
        assert_eq!(body["application_type"], "native");
    }

    #[test]
    fn nothing_available_is_no_client_identity() {
        let mut s = server(AS_A);
        s.registration_endpoint = None;
        let err = plan(&s, &options()).unwrap_err();
        assert_eq!(err.code(), "NO_CLIENT_IDENTITY");
        assert!(err.to_string().contains(AS_A), "{err}");
    }

    #[test]
    fn only_invalid_client_drops_a_registration() {
        let oauth = |code: &str| {
            Error::from(OAuthError {
                error: code.into(),
                error_description: None,
                error_uri: None,
                status: 401,
                where_: "https://as.example/token".into(),
            })
        };
        assert!(is_invalid_client(&oauth("invalid_client")));
        assert!(!is_invalid_client(&oauth("unauthorized_client")));
        assert!(!is_invalid_client(&oauth("invalid_grant")));
        assert!(!is_invalid_client(&Error::from(UsageError::NoRefreshToken)));
    }

    #[test]
    fn metadata_document_holds_client_id_name_and_redirects() {
        let doc = client_id_metadata_document(CIMD, &metadata()).unwrap();
        let doc: Value = serde_json::from_str(&doc).unwrap();
        assert_eq!(doc["client_id"], CIMD);
        assert_eq!(doc["client_name"], "Test CLI");
        assert_eq!(doc["redirect_uris"][0], "http://127.0.0.1:8976/callback");
        assert_eq!(doc["token_endpoint_auth_method"], "none");
        assert!(doc.get("client_secret").is_none());
        // With a query, the string is still kept exactly.
        let q = "https://client.example/meta?v=2";
        let doc: Value =
            serde_json::from_str(&client_id_metadata_document(q, &metadata()).unwrap()).unwrap();
        assert_eq!(doc["client_id"], q);
    }

    #[test]
    fn metadata_document_url_must_be_https_with_a_path() {
        for bad in [
            "http://client.example/metadata.json",
            "https://client.example",
            "https://client.example/",
            "https://user:pw@client.example/m.json",
            "https://client.example/m.json#x",
            "https://client.example/a/../m.json",
            "https://client.example:443/m.json",
            "https://Client.Example/m.json",
            "client.example/m.json",
            "urn:example:client",
        ] {
            let err = client_id_metadata_document(bad, &metadata()).unwrap_err();
            assert_eq!(err.code(), "INVALID_URL", "{bad}");
        }
    }

    #[test]
    fn metadata_document_requires_name_and_redirect_uris() {
        let mut m = metadata();
        m.client_name = None;
        let err = client_id_metadata_document(CIMD, &m).unwrap_err();
        assert_eq!(err.code(), "INVALID_CLIENT_METADATA");
        assert!(err.to_string().contains("client_name"), "{err}");
        let mut m = metadata();
        m.redirect_uris.clear();
        m.grant_types = vec![crate::registration::GRANT_DEVICE_CODE.into()];
        let err = client_id_metadata_document(CIMD, &m).unwrap_err();
        assert!(err.to_string().contains("redirect_uris"), "{err}");
        let mut m = metadata();
        m.redirect_uris = vec!["http://evil.example/cb".into()];
        assert_eq!(
            client_id_metadata_document(CIMD, &m).unwrap_err().code(),
            "INVALID_URL"
        );
    }

    #[test]
    fn metadata_document_cannot_use_a_client_secret() {
        let m =
            metadata().with_token_endpoint_auth_method(TokenEndpointAuthMethod::ClientSecretPost);
        let err = client_id_metadata_document(CIMD, &m).unwrap_err();
        assert_eq!(err.code(), "INVALID_CLIENT_METADATA");
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_metadata_document_urls_never_panic(url in ".{0,40}") {
            let _ = client_id_metadata_document(&url, &metadata());
        }
    }
}
