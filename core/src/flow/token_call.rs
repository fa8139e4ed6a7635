//! [`TokenCall`]: one request to a token endpoint, with its DPoP proof and at most one retry
//! for the server's nonce.
//!
//! Every grant goes through here (code exchange, device polls, refresh, client credentials,
//! jwt-bearer, token exchange at an enterprise IdP), so that DPoP is added, and a
//! `use_dpop_nonce` answered, the same way everywhere (RFC 9449 §5, §8).

use crate::dpop;
use crate::http::{HttpRequest, HttpResponse};
use crate::jws::DpopKey;

/// A token request in flight (see the [module docs](self)).
#[allow(dead_code)] // used by the grants as they adopt it
#[derive(Debug, Clone)]
pub(crate) struct TokenCall {
    base: HttpRequest,
    dpop: Option<DpopKey>,
    nonce: Option<String>,
    retried: bool,
}

#[allow(dead_code)]
impl TokenCall {
    /// A call of `base`, with a proof by `dpop` if given, carrying `nonce` (one the same
    /// server gave earlier in this operation) if any.
    pub(crate) fn new(base: HttpRequest, dpop: Option<&DpopKey>, nonce: Option<String>) -> Self {
        Self {
            base,
            dpop: dpop.cloned(),
            nonce,
            retried: false,
        }
    }

    /// The request to send: the base request with its proof.
    pub(crate) fn request(&self) -> HttpRequest {
        let mut request = self.base.clone();
        if let Some(key) = &self.dpop {
            let proof = dpop::proof(key, "POST", &request.url, self.nonce.as_deref(), None);
            request.signatures.insert(0, proof);
        }
        request
    }

    /// The request to send again when `resp` asks for a nonce (RFC 9449 §8): once per call,
    /// and only with a proof to put it in. `None`: `resp` is the answer.
    pub(crate) fn retry(&mut self, resp: &HttpResponse) -> Option<HttpRequest> {
        if self.retried || self.dpop.is_none() {
            return None;
        }
        let nonce = dpop::nonce_challenge(resp)?;
        self.retried = true;
        self.nonce = Some(nonce);
        Some(self.request())
    }

    /// The newest nonce the server gave (from a challenge or a `DPoP-Nonce` on success), to
    /// carry in the operation's next proof to the same server.
    pub(crate) fn nonce_after(&self, resp: &HttpResponse) -> Option<String> {
        resp.header(dpop::DPOP_NONCE_HEADER)
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .or_else(|| self.nonce.clone())
    }

    /// Whether the request carries a DPoP proof (then a `DPoP` token type is expected).
    pub(crate) fn with_proof(&self) -> bool {
        self.dpop.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jws::{EcPublicJwk, KeyHandle};
    use url::Url;

    fn key() -> DpopKey {
        DpopKey::new(
            EcPublicJwk::p256("x", "y"),
            KeyHandle::Stored { id: "k".into() },
        )
    }

    fn base() -> HttpRequest {
        HttpRequest::post_form(
            Url::parse("https://as.example/token").unwrap(),
            &[("grant_type", "client_credentials")],
        )
    }

    fn nonce_400(nonce: &str) -> HttpResponse {
        HttpResponse::new(
            400,
            vec![("dpop-nonce".into(), nonce.into())],
            br#"{"error":"use_dpop_nonce"}"#.to_vec(),
        )
    }

    #[test]
    fn a_nonce_challenge_is_answered_once_with_a_new_proof() {
        let mut call = TokenCall::new(base(), Some(&key()), None);
        let first = call.request();
        assert_eq!(first.signatures.len(), 1);
        assert!(!first.signatures[0].claims.contains_key("nonce"));
        let again = call.retry(&nonce_400("n1")).expect("one retry");
        assert_eq!(again.signatures[0].claims["nonce"], "n1");
        assert!(call.retry(&nonce_400("n2")).is_none(), "never twice");
    }

    #[test]
    fn without_dpop_there_is_no_proof_and_no_retry() {
        let mut call = TokenCall::new(base(), None, None);
        assert!(call.request().signatures.is_empty());
        assert!(call.retry(&nonce_400("n")).is_none());
        assert!(!call.with_proof());
    }

    #[test]
    fn the_newest_nonce_is_carried_forward() {
        let call = TokenCall::new(base(), Some(&key()), Some("old".into()));
        let ok = HttpResponse::new(
            200,
            vec![("dpop-nonce".into(), "new".into())],
            b"{}".to_vec(),
        );
        assert_eq!(call.nonce_after(&ok).as_deref(), Some("new"));
        let plain = HttpResponse::json(200, b"{}".to_vec());
        assert_eq!(call.nonce_after(&plain).as_deref(), Some("old"));
    }
}
