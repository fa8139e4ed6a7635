//! The fake server's side of machine logins: the client credentials and JWT bearer grants at
//! its token endpoint, and an enterprise IdP's token exchange at `/idp/token`.
//!
//! The test driver does not sign, so a request's JWTs are still templates: the fake reads
//! the client assertion's claims and the DPoP proof's from them.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Value, json};

use super::fake::{Fake, ISSUER, MCP};
use crate::http::{HttpRequest, HttpResponse};
use crate::jws::{JwsPlace, JwsTemplate, SigningKey};
use crate::time::Time;

pub(super) const IDP_TOKEN: &str = "https://idp.example/idp/token";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const ID_JAG: &str = "urn:ietf:params:oauth:token-type:id-jag";

/// One token request of a machine grant, as the fake saw it.
#[derive(Debug, Clone)]
pub(super) struct Seen {
    /// The form.
    pub form: BTreeMap<String, String>,
    /// How the client authenticated: `basic`, `post`, `private_key_jwt` or `none`.
    pub auth: &'static str,
    /// The client assertion's claims, stamped, for `private_key_jwt`.
    pub assertion: Option<Value>,
    /// The DPoP proof's claims, stamped, if one came.
    pub proof: Option<Value>,
}

/// Switches and state of the machine grants.
#[derive(Debug, Default)]
pub(super) struct MachineFake {
    /// Confidential clients: id → secret.
    pub secrets: BTreeMap<String, String>,
    /// Refuse JWT bearer requests with this OAuth error.
    pub jwt_bearer_error: Option<&'static str>,
    /// The IdP answers with this `issued_token_type` instead of the ID-JAG's.
    pub idp_issued_type: Option<&'static str>,
    /// Require this DPoP nonce in token request proofs (`use_dpop_nonce` otherwise).
    pub dpop_nonce: Option<&'static str>,
    /// The token requests of machine grants at the authorization server.
    pub token_requests: Vec<Seen>,
    /// The IdP's token exchanges.
    pub idp_requests: Vec<Seen>,
    /// ID-JAGs the IdP issued.
    pub id_jags: Vec<String>,
}

/// The claims of `template` once dated.
fn claims(template: &JwsTemplate) -> Value {
    let signing = template.stamp_with(Time::from_unix_secs(1_000_000), "jti");
    let payload = signing.input.split_once('.').map(|(_, c)| c).unwrap_or("");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or_default()
}

fn error(status: u16, error: &str) -> HttpResponse {
    HttpResponse::json(status, json!({ "error": error }).to_string())
}

impl Fake {
    /// Answers the machine grants' requests; `None` for every other request.
    pub(super) fn machine_answer(
        &mut self,
        req: &HttpRequest,
        form: &BTreeMap<String, String>,
    ) -> Option<HttpResponse> {
        let grant = form.get("grant_type").map(String::as_str);
        let at_idp = req.url.as_str() == IDP_TOKEN;
        let machine = matches!(grant, Some("client_credentials" | JWT_BEARER));
        let at_token = req.url.path() == "/token" && machine;
        if !(at_idp || at_token) {
            return None;
        }
        let seen = self.seen(req, form);
        if let Some(nonce) = self.machine.dpop_nonce {
            let carried = seen.proof.as_ref().and_then(|p| p["nonce"].as_str());
            if seen.proof.is_some() && carried != Some(nonce) {
                return Some(HttpResponse::new(
                    400,
                    vec![
                        ("content-type".into(), "application/json".into()),
                        ("dpop-nonce".into(), nonce.into()),
                    ],
                    json!({ "error": "use_dpop_nonce" }).to_string(),
                ));
            }
        }
        if at_idp {
            return Some(self.idp(seen));
        }
        self.machine.token_requests.push(seen.clone());
        Some(match grant {
            Some("client_credentials") if seen.auth == "none" => error(401, "invalid_client"),
            Some(JWT_BEARER) if !form.contains_key("assertion") => error(400, "invalid_request"),
            Some(JWT_BEARER) if self.machine.jwt_bearer_error.is_some() => {
                error(400, self.machine.jwt_bearer_error.unwrap_or_default())
            }
            _ => {
                let mut body = json!({
                    "access_token": self.next_token("mt"),
                    "token_type": "Bearer",
                    "expires_in": self.lifetime,
                });
                if let Some(scope) = form.get("scope") {
                    body["scope"] = json!(scope);
                }
                HttpResponse::json(200, body.to_string())
            }
        })
    }

    fn idp(&mut self, seen: Seen) -> HttpResponse {
        let f = &seen.form;
        let wanted = [
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("requested_token_type", ID_JAG),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:id_token",
            ),
            ("audience", ISSUER),
            ("resource", MCP),
        ];
        let complete = wanted
            .iter()
            .all(|(k, v)| f.get(*k).map(String::as_str) == Some(*v));
        self.machine.idp_requests.push(seen.clone());
        if !complete || !f.contains_key("subject_token") {
            return error(400, "invalid_request");
        }
        let jag = self.next_token("idjag");
        self.machine.id_jags.push(jag.clone());
        let issued = self.machine.idp_issued_type.unwrap_or(ID_JAG);
        HttpResponse::json(
            200,
            json!({ "access_token": jag, "issued_token_type": issued, "token_type": "N_A" })
                .to_string(),
        )
    }

    fn seen(&self, req: &HttpRequest, form: &BTreeMap<String, String>) -> Seen {
        let proof = req
            .signatures
            .iter()
            .find(|t| t.place == JwsPlace::Header("dpop".into()))
            .map(claims);
        let assertion = req
            .signatures
            .iter()
            .find(|t| t.key == SigningKey::Client)
            .filter(|t| t.place == JwsPlace::Form("client_assertion".into()))
            .map(claims);
        let basic = req
            .header("authorization")
            .and_then(|h| h.strip_prefix("Basic "))
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .and_then(|b| String::from_utf8(b).ok());
        let known = |id: &str, secret: &str| {
            self.machine.secrets.get(id).map(String::as_str) == Some(secret)
        };
        let auth = if let Some(pair) = basic {
            let (id, secret) = pair.split_once(':').unwrap_or_default();
            if known(id, secret) { "basic" } else { "none" }
        } else if assertion.is_some() {
            let a = assertion
                .as_ref()
                .map(|a| (&a["iss"], &a["sub"], &a["aud"]));
            let type_ok = form.get("client_assertion_type").map(String::as_str)
                == Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
            match a {
                Some((iss, sub, aud)) if type_ok && iss == sub && *aud == json!(ISSUER) => {
                    "private_key_jwt"
                }
                _ => "none",
            }
        } else if let (Some(id), Some(secret)) = (form.get("client_id"), form.get("client_secret"))
        {
            if known(id, secret) { "post" } else { "none" }
        } else {
            "none"
        };
        Seen {
            form: form.clone(),
            auth,
            assertion,
            proof,
        }
    }
}
