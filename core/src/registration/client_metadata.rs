//! Client metadata (RFC 7591 §2) and the MCP rules on redirect URIs.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::client::TokenEndpointAuthMethod;
use crate::error::{Result, UsageError};
use crate::policy::is_loopback;

/// The `authorization_code` grant type (RFC 6749 §4.1).
pub const GRANT_AUTHORIZATION_CODE: &str = "authorization_code";
/// The `refresh_token` grant type (RFC 6749 §6).
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";
/// The device authorization grant type (RFC 8628 §3.4).
pub const GRANT_DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The kind of application, as OpenID Connect Dynamic Client Registration §2 defines it.
///
/// MCP 2026-07-28 requires sending it in registration requests: `native` for desktop, CLI and
/// localhost apps, `web` for remotely hosted web apps
/// (MCP client-registration#dynamic-client-registration).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "lowercase")]
pub enum ApplicationType {
    /// A desktop, mobile or command-line app; redirects go to loopback hosts.
    Native,
    /// A web app hosted remotely; redirects go to https URLs.
    Web,
}

/// Client metadata (RFC 7591 §2), as sent in a registration request or published in a client
/// ID metadata document. Serializes with the RFC field names and omits unset fields.
///
/// URIs are kept as the exact strings given: authorization servers compare redirect URIs by
/// string, so the core never normalizes them.
///
/// ```
/// use mcpauth_core::registration::{ApplicationType, ClientMetadata};
/// let m = ClientMetadata::native("My CLI", vec!["http://127.0.0.1:33418/callback".into()])
///     .with_device_code_grant();
/// assert_eq!(m.application_type, Some(ApplicationType::Native));
/// assert!(m.grant_types.iter().any(|g| g == "urn:ietf:params:oauth:grant-type:device_code"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export, optional_fields))]
#[non_exhaustive]
pub struct ClientMetadata {
    /// Redirection URIs for redirect-based flows; https, or http on a loopback host (MCP).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
    pub redirect_uris: Vec<String>,
    /// A human-readable name shown to the user on the consent screen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// `native` or `web`; filled in by [`registration_request`](super::registration_request) when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_type: Option<ApplicationType>,
    /// Grant types the client uses; RFC 7591 defaults to `authorization_code` when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
    pub grant_types: Vec<String>,
    /// Response types the client uses; RFC 7591 defaults to `code` when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
    pub response_types: Vec<String>,
    /// How the client authenticates at the token endpoint; chosen by
    /// [`registration_request`](super::registration_request) from the server's metadata when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
    /// Space-separated scopes the client may request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The client's home page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    /// The client's logo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    /// An identifier of the client software, the same for every instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_id: Option<String>,
    /// The version of the client software.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_version: Option<String>,
}

impl ClientMetadata {
    /// A public native client (desktop, CLI): `application_type` `native`, the
    /// `authorization_code` and `refresh_token` grants (MCP: include `refresh_token`),
    /// response type `code`, token endpoint auth method `none`.
    #[must_use]
    pub fn native(client_name: impl Into<String>, redirect_uris: Vec<String>) -> Self {
        Self::public(ApplicationType::Native, client_name.into(), redirect_uris)
    }

    /// A public web client (remotely hosted, for example in a browser): as
    /// [`native`](Self::native) but with `application_type` `web`. Set
    /// [`token_endpoint_auth_method`](Self::with_token_endpoint_auth_method) for a
    /// confidential server-side client.
    #[must_use]
    pub fn web(client_name: impl Into<String>, redirect_uris: Vec<String>) -> Self {
        Self::public(ApplicationType::Web, client_name.into(), redirect_uris)
    }

    /// A native public client that only uses the device authorization grant (RFC 8628): no
    /// redirect URI, so no `authorization_code` grant and an explicit empty `response_types`
    /// (RFC 7591 §2 would otherwise default it to `code`, which needs a redirect URI).
    ///
    /// ```
    /// let m = mcpauth_core::ClientMetadata::device_only("my-cli");
    /// assert_eq!(m.grant_types, ["refresh_token", "urn:ietf:params:oauth:grant-type:device_code"]);
    /// assert!(m.redirect_uris.is_empty() && m.response_types.is_empty());
    /// ```
    #[must_use]
    pub fn device_only(client_name: impl Into<String>) -> Self {
        Self {
            grant_types: vec![GRANT_REFRESH_TOKEN.into()],
            response_types: Vec::new(),
            ..Self::public(ApplicationType::Native, client_name.into(), Vec::new())
        }
        .with_device_code_grant()
    }

    fn public(
        application_type: ApplicationType,
        client_name: String,
        redirect_uris: Vec<String>,
    ) -> Self {
        Self {
            redirect_uris,
            client_name: Some(client_name),
            application_type: Some(application_type),
            grant_types: vec![GRANT_AUTHORIZATION_CODE.into(), GRANT_REFRESH_TOKEN.into()],
            response_types: vec!["code".into()],
            token_endpoint_auth_method: Some(TokenEndpointAuthMethod::None),
            ..Self::default()
        }
    }

    /// Adds a grant type unless already listed.
    #[must_use]
    pub fn with_grant_type(mut self, grant_type: impl Into<String>) -> Self {
        let grant_type = grant_type.into();
        if !self.grant_types.contains(&grant_type) {
            self.grant_types.push(grant_type);
        }
        self
    }

    /// Adds the device authorization grant (RFC 8628 §3.4), for headless logins.
    #[must_use]
    pub fn with_device_code_grant(self) -> Self {
        self.with_grant_type(GRANT_DEVICE_CODE)
    }

    /// Sets the space-separated `scope`.
    #[must_use]
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Sets the token endpoint authentication method to request.
    #[must_use]
    pub fn with_token_endpoint_auth_method(mut self, method: TokenEndpointAuthMethod) -> Self {
        self.token_endpoint_auth_method = Some(method);
        self
    }

    /// Sets `software_id` and `software_version`.
    #[must_use]
    pub fn with_software(mut self, id: impl Into<String>, version: impl Into<String>) -> Self {
        self.software_id = Some(id.into());
        self.software_version = Some(version.into());
        self
    }

    /// The grant types in effect: RFC 7591 §2 defaults an empty list to `authorization_code`.
    fn uses_redirects(&self) -> bool {
        self.grant_types.is_empty()
            || self
                .grant_types
                .iter()
                .any(|g| g == GRANT_AUTHORIZATION_CODE)
    }
}

/// `native` when every redirect URI is on a loopback host (or there is none), else `web`.
pub(super) fn infer_application_type(redirect_uris: &[String]) -> ApplicationType {
    let all_loopback = redirect_uris
        .iter()
        .all(|u| Url::parse(u).is_ok_and(|u| is_loopback(&u)));
    if all_loopback {
        ApplicationType::Native
    } else {
        ApplicationType::Web
    }
}

/// Checks every redirect URI of `client`, and that redirect-based grants have one.
pub(crate) fn check_redirect_uris(
    client: &ClientMetadata,
    allow_insecure_http: bool,
) -> Result<()> {
    if client.redirect_uris.is_empty() && client.uses_redirects() {
        return Err(UsageError::InvalidClientMetadata {
            field: "redirect_uris",
            reason: "must list at least one URI for the authorization_code grant".into(),
        }
        .into());
    }
    client
        .redirect_uris
        .iter()
        .try_for_each(|uri| check_redirect_uri(uri, allow_insecure_http))
}

/// A redirect URI must be absolute, without fragment (RFC 6749 §3.1.2), and https or http on
/// a loopback host (MCP security-considerations#communication-security).
fn check_redirect_uri(uri: &str, allow_insecure_http: bool) -> Result<()> {
    let invalid = |reason: String| UsageError::InvalidUrl {
        what: "redirect URI",
        url: uri.to_owned(),
        reason,
    };
    let url = Url::parse(uri).map_err(|e| invalid(e.to_string()))?;
    if url.fragment().is_some() {
        return Err(invalid("it must not have a fragment (RFC 6749 §3.1.2)".into()).into());
    }
    let ok = match url.scheme() {
        "https" => true,
        "http" => allow_insecure_http || is_loopback(&url),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(invalid("it must be https, or http on a loopback host (MCP)".into()).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn device_code_grant_is_added_once() {
        let m = ClientMetadata::native("c", vec![])
            .with_device_code_grant()
            .with_device_code_grant();
        assert_eq!(
            m.grant_types,
            ["authorization_code", "refresh_token", GRANT_DEVICE_CODE]
        );
    }

    #[test]
    fn client_metadata_uses_rfc_names_and_skips_unset_fields() {
        assert_eq!(
            serde_json::to_string(&ClientMetadata::default()).unwrap(),
            "{}"
        );
        let m: ClientMetadata = serde_json::from_str(
            r#"{"redirect_uris":["https://a/cb"],"application_type":"native","token_endpoint_auth_method":"client_secret_post","unknown":1}"#,
        )
        .unwrap();
        assert_eq!(m.application_type, Some(ApplicationType::Native));
        assert_eq!(
            m.token_endpoint_auth_method,
            Some(TokenEndpointAuthMethod::ClientSecretPost)
        );
    }

    proptest! {
        #[test]
        fn client_metadata_round_trips(
            name in proptest::option::of(".{0,16}"),
            uris in proptest::collection::vec(".{0,16}", 0..3),
            scope in proptest::option::of(".{0,16}"),
            native in any::<bool>(),
        ) {
            let mut m = if native { ClientMetadata::native("n", uris) } else { ClientMetadata::web("w", uris) };
            m.client_name = name;
            m.scope = scope;
            let text = serde_json::to_string(&m).unwrap();
            prop_assert_eq!(serde_json::from_str::<ClientMetadata>(&text).unwrap(), m);
        }
    }
}
