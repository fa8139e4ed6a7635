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
use crate::jws::{JwsPlace, JwsTemplate, SigningKey};
use crate::secret::ClientSecret;
use serde_json::Map;

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
    /// goes through here, so the methods are implemented once. With `private_key_jwt` the
    /// request carries the [`client_assertion`](Self::client_assertion) in
    /// [`signatures`](HttpRequest::signatures), for the driver to sign.
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
            (TokenEndpointAuthMethod::PrivateKeyJwt, _) => {
                pairs.push(("client_assertion_type", CLIENT_ASSERTION_TYPE_JWT_BEARER));
                let mut req = HttpRequest::post_form(endpoint, &pairs);
                req.signatures.push(self.client_assertion());
                return req;
            }
            _ => pairs.push(("client_id", &self.client_id)),
        }
        HttpRequest::post_form(endpoint, &pairs)
    }

    /// The `private_key_jwt` client assertion (RFC 7523 §2.2, §3), written here and signed by
    /// the driver with the client's key ([`SigningKey::Client`]) when it sends the request.
    ///
    /// - `iss` and `sub` are the `client_id` (§3 items 1 and 2);
    /// - `aud` is the authorization server's issuer identifier, the one value that
    ///   draft-ietf-oauth-rfc7523bis (which the MCP client credentials extension follows) lets
    ///   a client use, whichever endpoint receives the assertion;
    /// - `exp` is a minute after `iat`; `iat` and a fresh `jti` are added when the driver
    ///   stamps it, so every request (a DPoP nonce retry included) carries a new assertion;
    /// - the header's `typ` is `JWT` (RFC 7519 §5.1), which every server accepts, and `kid`
    ///   names the key when the client was given one.
    #[must_use]
    pub fn client_assertion(&self) -> JwsTemplate {
        let mut header = Map::new();
        header.insert("typ".into(), "JWT".into());
        if let Some(kid) = &self.key_id {
            header.insert("kid".into(), kid.clone().into());
        }
        let mut claims = Map::new();
        claims.insert("iss".into(), self.client_id.clone().into());
        claims.insert("sub".into(), self.client_id.clone().into());
        claims.insert("aud".into(), self.issuer.clone().into());
        JwsTemplate {
            key: SigningKey::Client,
            alg: self.key_alg.unwrap_or_default(),
            header,
            claims,
            lifetime_secs: Some(CLIENT_ASSERTION_LIFETIME_SECS),
            place: JwsPlace::Form("client_assertion".into()),
        }
    }
}

/// The `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub const CLIENT_ASSERTION_TYPE_JWT_BEARER: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long a client assertion is valid, in seconds: long enough for clock skew and a slow
/// request, short enough that a captured one is soon useless (RFC 7523 §3 item 4).
pub const CLIENT_ASSERTION_LIFETIME_SECS: u64 = 60;

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

    fn decode(part: &str) -> serde_json::Value {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    fn key_client(key_id: Option<&str>) -> ClientCredentials {
        let mut c = ClientCredentials::public("https://as.example", "cc-client");
        c.auth_method = TokenEndpointAuthMethod::PrivateKeyJwt;
        c.key_alg = Some(crate::jws::JwsAlg::ES256);
        c.key_id = key_id.map(str::to_owned);
        c
    }

    #[test]
    fn private_key_jwt_sends_an_rfc_7523_assertion_for_the_driver_to_sign() {
        let req = key_client(Some("k1"))
            .authenticated_post(token_url(), &[("grant_type", "client_credentials")]);
        assert_eq!(
            body(&req),
            "grant_type=client_credentials\
             &client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
        );
        assert_eq!(req.header("authorization"), None);
        let [template] = req.signatures.as_slice() else {
            panic!("one assertion: {:?}", req.signatures);
        };
        assert_eq!(template.key, SigningKey::Client);
        assert_eq!(template.place, JwsPlace::Form("client_assertion".into()));
        let signing = template.stamp_with(crate::Time::from_unix_secs(1_000), "jti-1");
        let (header, claims) = signing.input.split_once('.').unwrap();
        assert_eq!(
            decode(header),
            serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": "k1"})
        );
        // RFC 7523 §3: iss and sub are the client id, aud the authorization server (its
        // issuer identifier, draft-ietf-oauth-rfc7523bis), exp bounds it, jti is unique.
        assert_eq!(
            decode(claims),
            serde_json::json!({
                "iss": "cc-client", "sub": "cc-client", "aud": "https://as.example",
                "iat": 1000, "exp": 1060, "jti": "jti-1"
            })
        );
    }

    #[test]
    fn a_private_key_jwt_assertion_names_no_kid_without_one_and_signs_with_the_keys_alg() {
        let mut c = key_client(None);
        c.key_alg = Some(crate::jws::JwsAlg::RS256);
        let template = c.client_assertion();
        assert_eq!(template.alg, crate::jws::JwsAlg::RS256);
        assert!(!template.header.contains_key("kid"));
        let mut req = c.authenticated_post(token_url(), &[("grant_type", "client_credentials")]);
        let signing = req
            .signatures
            .remove(0)
            .stamp_with(crate::Time::from_unix_secs(5), "j");
        signing.attach(&mut req, &[1, 2, 3]).unwrap();
        let form: std::collections::BTreeMap<String, String> =
            url::form_urlencoded::parse(&req.body)
                .into_owned()
                .collect();
        assert_eq!(form["client_assertion"], format!("{}.AQID", signing.input));
        assert!(!form.contains_key("client_secret"));
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
