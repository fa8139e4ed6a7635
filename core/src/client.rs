//! Client credentials and client authentication at the token endpoint (RFC 6749 §2.3).
//!
//! Credentials are bound to the issuer they were obtained from (MCP: "key credentials by the
//! authorization server issuer"); [`ClientCredentials::ensure_issuer`] refuses to send them to
//! any other server.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Result, SecurityError};
use crate::http::HttpRequest;
use crate::secret::ClientSecret;

/// How the client authenticates at the token endpoint (RFC 7591 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TokenEndpointAuthMethod {
    /// A public client: `client_id` in the body, no secret.
    #[default]
    None,
    /// HTTP Basic with the form-encoded id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the body.
    ClientSecretPost,
    /// A JWT signed with the client's private key (RFC 7523 §2.2), in `client_assertion`.
    PrivateKeyJwt,
}

impl TokenEndpointAuthMethod {
    /// The registered name (`none`, `client_secret_basic`, `client_secret_post`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
        }
    }

    /// Parses a registered name; `None` for methods the core does not implement.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "none" => Some(Self::None),
            "client_secret_basic" => Some(Self::ClientSecretBasic),
            "client_secret_post" => Some(Self::ClientSecretPost),
            "private_key_jwt" => Some(Self::PrivateKeyJwt),
            _ => None,
        }
    }
}

/// A client identity at one authorization server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "ts",
    derive(ts_rs::TS),
    ts(export, optional_fields = nullable)
)]
#[non_exhaustive]
pub struct ClientCredentials {
    /// The issuer these credentials belong to. They are never sent to another server.
    pub issuer: String,
    /// The client identifier (for a client ID metadata document, its https URL).
    pub client_id: String,
    /// The secret of a confidential client.
    pub client_secret: Option<ClientSecret>,
    /// How to authenticate at the token endpoint.
    pub auth_method: TokenEndpointAuthMethod,
    /// For `private_key_jwt`: the algorithm of the key the driver signs assertions with.
    #[serde(default)]
    pub key_alg: Option<crate::jws::JwsAlg>,
    /// For `private_key_jwt`: the assertion's `kid`, if the server needs one.
    #[serde(default)]
    pub key_id: Option<String>,
}

impl ClientCredentials {
    /// A public client (`token_endpoint_auth_method` `none`).
    #[must_use]
    pub fn public(issuer: impl Into<String>, client_id: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            client_id: client_id.into(),
            client_secret: None,
            auth_method: TokenEndpointAuthMethod::None,
            key_alg: None,
            key_id: None,
        }
    }

    /// A confidential client with a secret and its authentication method.
    #[must_use]
    pub fn confidential(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        secret: ClientSecret,
        auth_method: TokenEndpointAuthMethod,
    ) -> Self {
        Self {
            issuer: issuer.into(),
            client_id: client_id.into(),
            client_secret: Some(secret),
            auth_method,
            key_alg: None,
            key_id: None,
        }
    }

    /// Refuses to use these credentials with an issuer other than their own (exact match).
    ///
    /// # Errors
    /// [`SecurityError::CredentialsForOtherIssuer`].
    pub fn ensure_issuer(&self, issuer: &str) -> Result<()> {
        if self.issuer == issuer {
            Ok(())
        } else {
            Err(SecurityError::CredentialsForOtherIssuer {
                registered_for: self.issuer.clone(),
                issuer: issuer.to_owned(),
            }
            .into())
        }
    }

    /// Builds a form `POST` to `endpoint` with this client's authentication applied.
    ///
    /// Every endpoint that authenticates the client (token, device authorization, revocation)
    /// goes through here, so the three methods are implemented once.
    pub(crate) fn authenticated_post(&self, endpoint: Url, form: &[(&str, &str)]) -> HttpRequest {
        let secret = self.client_secret.as_ref().map(ClientSecret::secret);
        let mut pairs: Vec<(&str, &str)> = form.to_vec();
        match (self.auth_method, secret) {
            (TokenEndpointAuthMethod::ClientSecretBasic, Some(secret)) => {
                let mut req = HttpRequest::post_form(endpoint, &pairs);
                req.push_header("authorization", basic_auth(&self.client_id, secret));
                return req;
            }
            (TokenEndpointAuthMethod::ClientSecretPost, Some(secret)) => {
                pairs.push(("client_id", &self.client_id));
                pairs.push(("client_secret", secret));
            }
            _ => pairs.push(("client_id", &self.client_id)),
        }
        HttpRequest::post_form(endpoint, &pairs)
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))`, as RFC 6749 §2.3.1 requires.
fn basic_auth(id: &str, secret: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let raw = format!("{}:{}", enc(id), enc(secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token_url() -> Url {
        Url::parse("https://as.example/token").unwrap()
    }

    fn body(req: &HttpRequest) -> String {
        String::from_utf8(req.body.clone()).unwrap()
    }

    #[test]
    fn public_client_sends_client_id_in_body() {
        let c = ClientCredentials::public("https://as.example", "abc");
        let req = c.authenticated_post(token_url(), &[("grant_type", "x")]);
        assert_eq!(body(&req), "grant_type=x&client_id=abc");
        assert_eq!(req.header("authorization"), None);
    }

    #[test]
    fn basic_auth_form_encodes_before_base64() {
        // RFC 6749 §2.3.1: id and secret are application/x-www-form-urlencoded first.
        let c = ClientCredentials::confidential(
            "https://as.example",
            "my client",
            ClientSecret::new("s3:cr/t"),
            TokenEndpointAuthMethod::ClientSecretBasic,
        );
        let req = c.authenticated_post(token_url(), &[("grant_type", "x")]);
        let expected = base64::engine::general_purpose::STANDARD.encode("my+client:s3%3Acr%2Ft");
        assert_eq!(
            req.header("authorization"),
            Some(format!("Basic {expected}").as_str())
        );
        assert_eq!(body(&req), "grant_type=x");
    }

    #[test]
    fn post_auth_puts_secret_in_body() {
        let c = ClientCredentials::confidential(
            "https://as.example",
            "id",
            ClientSecret::new("sec"),
            TokenEndpointAuthMethod::ClientSecretPost,
        );
        let req = c.authenticated_post(token_url(), &[]);
        assert_eq!(body(&req), "client_id=id&client_secret=sec");
    }

    #[test]
    fn credentials_are_bound_to_their_issuer() {
        let c = ClientCredentials::public("https://as.example", "id");
        assert!(c.ensure_issuer("https://as.example").is_ok());
        let err = c.ensure_issuer("https://as.example/").unwrap_err();
        assert_eq!(err.code(), "CREDENTIALS_FOR_OTHER_ISSUER");
    }

    #[test]
    fn debug_hides_the_secret() {
        let c = ClientCredentials::confidential(
            "i",
            "id",
            ClientSecret::new("TOPSECRET"),
            TokenEndpointAuthMethod::ClientSecretPost,
        );
        assert!(!format!("{c:?}").contains("TOPSECRET"));
    }
}
