//! Authorization server metadata (RFC 8414, OpenID Connect Discovery 1.0) in the MCP order.

use url::Url;

use crate::error::{Result, SecurityError, UsageError};
use crate::http::{HttpRequest, HttpResponse};
use crate::metadata::AuthorizationServerMetadata;
use crate::policy::Policy;
use crate::response::success_json;

/// The metadata URLs to try for `issuer`, in the order the MCP spec gives.
///
/// For an issuer with a path (`https://a.ex/tenant1`): the path-inserted RFC 8414 URL, the
/// path-inserted OpenID URL, then the OpenID URL appended to the path. For a root issuer:
/// RFC 8414 then OpenID. A trailing `/` on the issuer path is not inserted.
///
/// ```
/// let urls = mcpauth_core::discovery::authorization_server_metadata_urls(
///     "https://a.ex/tenant1", &mcpauth_core::Policy::default()).unwrap();
/// let urls: Vec<&str> = urls.iter().map(|u| u.as_str()).collect();
/// assert_eq!(urls, [
///     "https://a.ex/.well-known/oauth-authorization-server/tenant1",
///     "https://a.ex/.well-known/openid-configuration/tenant1",
///     "https://a.ex/tenant1/.well-known/openid-configuration",
/// ]);
/// ```
///
/// # Errors
/// [`UsageError::InvalidUrl`] when `issuer` is not an absolute URL without query or fragment
/// (RFC 8414 §2); [`SecurityError::InsecureUrl`] when it is plain http on a public host.
pub fn authorization_server_metadata_urls(issuer: &str, policy: &Policy) -> Result<Vec<Url>> {
    let invalid = |reason: &str| UsageError::InvalidUrl {
        what: "issuer",
        url: issuer.to_owned(),
        reason: reason.to_owned(),
    };
    let url = Url::parse(issuer).map_err(|e| invalid(&e.to_string()))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("an issuer has no query or fragment (RFC 8414 §2)").into());
    }
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(invalid("an issuer is an absolute URL with a host").into());
    }
    policy.check_endpoint("issuer", &url)?;
    let path = url.path().trim_end_matches('/').to_owned();
    let at = |p: String| {
        let mut u = url.clone();
        u.set_path(&p);
        u
    };
    Ok(if path.is_empty() {
        vec![
            at("/.well-known/oauth-authorization-server".into()),
            at("/.well-known/openid-configuration".into()),
        ]
    } else {
        vec![
            at(format!("/.well-known/oauth-authorization-server{path}")),
            at(format!("/.well-known/openid-configuration{path}")),
            at(format!("{path}/.well-known/openid-configuration")),
        ]
    })
}

/// The request for one metadata URL.
#[must_use]
pub fn authorization_server_metadata_request(url: Url, policy: &Policy) -> HttpRequest {
    let mut req = HttpRequest::get_json(url);
    req.max_response_bytes = policy.max_response_bytes;
    req
}

/// Validates a metadata response fetched for `expected_issuer`.
///
/// The document's `issuer` must be identical, byte for byte, to the issuer the URL was built
/// from (RFC 8414 §3.3; MCP 2026-07-28); otherwise the document must not be used.
///
/// # Errors
/// [`ProtocolError`](crate::ProtocolError) for a bad status, body or field;
/// [`SecurityError::IssuerMismatch`]; [`SecurityError::InsecureUrl`] for a plain-http endpoint.
pub fn process_authorization_server_metadata_response(
    expected_issuer: &str,
    url: &Url,
    resp: &HttpResponse,
    policy: &Policy,
) -> Result<AuthorizationServerMetadata> {
    let json = success_json(url, resp, policy.max_response_bytes)?;
    let found = json.req_str("issuer")?;
    if found != expected_issuer {
        return Err(SecurityError::IssuerMismatch {
            url: url.to_string(),
            expected: expected_issuer.to_owned(),
            found,
        }
        .into());
    }
    AuthorizationServerMetadata::from_json(&json, policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(issuer: &str) -> Vec<String> {
        authorization_server_metadata_urls(issuer, &Policy::default())
            .unwrap()
            .into_iter()
            .map(String::from)
            .collect()
    }

    #[test]
    fn root_issuer_tries_rfc8414_then_openid() {
        let want = [
            "https://as.example/.well-known/oauth-authorization-server",
            "https://as.example/.well-known/openid-configuration",
        ];
        assert_eq!(urls("https://as.example"), want);
        assert_eq!(urls("https://as.example/"), want);
    }

    #[test]
    fn path_issuer_trailing_slash_is_not_inserted() {
        assert_eq!(
            urls("http://localhost:9000/tenant1/"),
            [
                "http://localhost:9000/.well-known/oauth-authorization-server/tenant1",
                "http://localhost:9000/.well-known/openid-configuration/tenant1",
                "http://localhost:9000/tenant1/.well-known/openid-configuration",
            ]
        );
    }

    #[test]
    fn bad_issuers_are_refused() {
        let p = Policy::default();
        for bad in [
            "as.example",
            "https://as.example/?q=1",
            "https://as.example/#f",
            "mailto:a@b",
        ] {
            assert_eq!(
                authorization_server_metadata_urls(bad, &p)
                    .unwrap_err()
                    .code(),
                "INVALID_URL",
                "{bad}"
            );
        }
        assert_eq!(
            authorization_server_metadata_urls("http://as.example", &p)
                .unwrap_err()
                .code(),
            "INSECURE_URL"
        );
    }

    fn process(expected: &str, body: &str) -> Result<AuthorizationServerMetadata> {
        let url = Url::parse("https://as.example/.well-known/oauth-authorization-server").unwrap();
        process_authorization_server_metadata_response(
            expected,
            &url,
            &HttpResponse::json(200, body),
            &Policy::default(),
        )
    }

    #[test]
    fn issuer_must_match_byte_for_byte() {
        let doc = r#"{"issuer":"https://as.example","token_endpoint":"https://as.example/token"}"#;
        assert!(process("https://as.example", doc).is_ok());
        for other in [
            "https://as.example/",
            "https://AS.example",
            "https://as.example:443",
        ] {
            let err = process(other, doc).unwrap_err();
            assert_eq!(err.code(), "ISSUER_MISMATCH", "{other}");
        }
        let err = process("https://as.example/", doc).unwrap_err();
        assert_eq!(
            err.to_string(),
            "https://as.example/.well-known/oauth-authorization-server describes issuer `https://as.example`, but it was fetched for issuer `https://as.example/`"
        );
    }

    #[test]
    fn not_found_is_a_status_error() {
        let url = Url::parse("https://as.example/.well-known/oauth-authorization-server").unwrap();
        let err = process_authorization_server_metadata_response(
            "https://as.example",
            &url,
            &HttpResponse::new(404, vec![], "nf"),
            &Policy::default(),
        )
        .unwrap_err();
        assert_eq!(err.code(), "UNEXPECTED_STATUS");
    }
}
