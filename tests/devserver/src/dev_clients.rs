//! `POST /_dev/clients` and `POST /_dev/issuers`: pre-registering clients (with a secret or
//! a public key) and trusting assertion issuers, for tests that drive the server from
//! another process or language.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::assertion::TrustedIssuer;
use crate::jws::PublicJwk;
use crate::register::{ClientAuth, RegisteredClient};
use crate::state::App;

/// The body of `POST /_dev/clients`: a client to pre-register (or replace), which may then
/// use every grant type, client credentials included. For example
/// `{"client_id":"svc","token_endpoint_auth_method":"client_secret_basic","client_secret":"s3cret"}`
/// or `{"client_id":"svc-jwt","token_endpoint_auth_method":"private_key_jwt","jwk":{"kty":"EC","crv":"P-256","x":"…","y":"…"}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevClient {
    /// The `client_id`.
    pub client_id: String,
    /// `none`, `client_secret_basic`, `client_secret_post` or `private_key_jwt`.
    pub token_endpoint_auth_method: String,
    /// The secret, for the two `client_secret_*` methods.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// The client's public key (a P-256 JWK), for `private_key_jwt`.
    #[serde(default)]
    pub jwk: Option<Value>,
    /// Allowed redirect URIs; `["http://127.0.0.1/callback"]` (any loopback port) when left
    /// out.
    #[serde(default)]
    pub redirect_uris: Option<Vec<String>>,
}

impl DevClient {
    /// The client it describes.
    ///
    /// # Errors
    /// When the method is unknown, or its secret or key is missing or not a P-256 public
    /// key.
    pub fn client(self) -> Result<RegisteredClient, String> {
        let secret = || {
            self.client_secret
                .clone()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| format!("{} needs a client_secret", self.token_endpoint_auth_method))
        };
        let auth = match self.token_endpoint_auth_method.as_str() {
            "none" => ClientAuth::None,
            "client_secret_basic" => ClientAuth::ClientSecretBasic(secret()?),
            "client_secret_post" => ClientAuth::ClientSecretPost(secret()?),
            "private_key_jwt" => {
                let jwk = self.jwk.as_ref().ok_or("private_key_jwt needs a jwk")?;
                ClientAuth::PrivateKeyJwt(PublicJwk::from_json(jwk)?)
            }
            other => {
                return Err(format!(
                    "token_endpoint_auth_method {other} is not supported"
                ));
            }
        };
        Ok(RegisteredClient {
            client_id: self.client_id,
            auth,
            redirect_uris: self
                .redirect_uris
                .unwrap_or_else(|| vec!["http://127.0.0.1/callback".to_owned()]),
        })
    }
}

/// The body of `POST /_dev/issuers`: `{"issuer": "https://idp.example", "jwk": {…}}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DevIssuer {
    issuer: String,
    jwk: Value,
}

/// `POST /_dev/clients`: pre-register a client (`204`), or `400 {"error": why}`.
pub(crate) async fn register(State(app): State<App>, Json(client): Json<DevClient>) -> Response {
    match client.client() {
        Ok(client) => {
            let mut db = app.db();
            db.client_grants.remove(&client.client_id);
            db.clients.insert(client.client_id.clone(), client);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(why) => refused(why),
    }
}

/// `POST /_dev/issuers`: trust an assertion issuer and its key (`204`), or
/// `400 {"error": why}`.
pub(crate) async fn trust(State(app): State<App>, Json(issuer): Json<DevIssuer>) -> Response {
    match PublicJwk::from_json(&issuer.jwk) {
        Ok(jwk) => {
            let trusted = TrustedIssuer {
                issuer: issuer.issuer,
                jwk,
            };
            app.db().trusted_issuers.insert(trusted.issuer, trusted.jwk);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(why) => refused(why),
    }
}

fn refused(why: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": why }))).into_response()
}
