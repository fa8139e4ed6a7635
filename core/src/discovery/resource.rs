//! Protected resource metadata (RFC 9728) in the MCP order: which URLs to try, and which
//! documents to accept for a server.

use url::Url;

use crate::error::{ProtocolError, Result, SecurityError, UsageError};
use crate::http::{HttpRequest, HttpResponse};
use crate::metadata::ProtectedResourceMetadata;
use crate::policy::{Policy, ResourceUri};
use crate::response::success_json;

/// The RFC 9728 §3 well-known suffix.
const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// The protected resource metadata URLs to try for `server`, in order (RFC 9728 §3.1, §5.1;
/// MCP authorization server discovery).
///
/// 1. `from_challenge`, the `resource_metadata` parameter of the server's `WWW-Authenticate`
///    challenge, exactly as given.
/// 2. The path-inserted well-known URL, `{origin}/.well-known/oauth-protected-resource{path}`,
///    with a trailing `/` of the path dropped and the server URL's query kept: RFC 9728 §3.1
///    inserts the well-known string "between the host component and the path and/or query
///    components", and the MCP TS SDK keeps the query the same way. Skipped when the server URL
///    has neither path nor query.
/// 3. The root well-known URL, `{origin}/.well-known/oauth-protected-resource`.
///
/// Duplicates are dropped. The MCP spec builds the well-known URLs only when the challenge has
/// no `resource_metadata`; mcpauth also falls back to them when the challenge URL *fails*
/// (non-2xx, transport failure, unusable document). Every document goes through the same
/// resource check ([`process_protected_resource_metadata_response`]), so the fallback cannot
/// substitute another resource's metadata, and it rescues servers whose challenge advertises a
/// stale URL. A challenge URL that is malformed or plain http on a public host is an error, not
/// silently skipped: it signals a broken or tampered server.
///
/// ```
/// use mcpauth_core::{Policy, ResourceUri};
/// use mcpauth_core::discovery::protected_resource_metadata_urls;
/// let server = ResourceUri::parse("https://ex.com/public/mcp").unwrap();
/// let urls = protected_resource_metadata_urls(&server, None, &Policy::default()).unwrap();
/// let urls: Vec<&str> = urls.iter().map(|u| u.as_str()).collect();
/// assert_eq!(urls, [
///     "https://ex.com/.well-known/oauth-protected-resource/public/mcp",
///     "https://ex.com/.well-known/oauth-protected-resource",
/// ]);
/// ```
///
/// # Errors
/// [`UsageError::InvalidUrl`] when `from_challenge` is not an absolute URL with a host;
/// [`SecurityError::InsecureUrl`] when it or the server is plain http on a public host.
pub fn protected_resource_metadata_urls(
    server: &ResourceUri,
    from_challenge: Option<&str>,
    policy: &Policy,
) -> Result<Vec<Url>> {
    let mut urls = Vec::with_capacity(3);
    if let Some(given) = from_challenge {
        urls.push(challenge_url(given, policy)?);
    }
    let base = server.url();
    if !server.is_root() || base.query().is_some() {
        let mut inserted = base.clone();
        let path = base.path().trim_end_matches('/');
        inserted.set_path(&format!("{WELL_KNOWN}{path}"));
        urls.push(inserted);
    }
    let mut root = base.clone();
    root.set_path(WELL_KNOWN);
    root.set_query(None);
    urls.push(root);
    for url in urls.iter().skip(usize::from(from_challenge.is_some())) {
        policy.check_endpoint("protected resource metadata URL", url)?;
    }
    let mut unique: Vec<Url> = Vec::with_capacity(urls.len());
    for url in urls {
        if !unique.contains(&url) {
            unique.push(url);
        }
    }
    Ok(unique)
}

fn challenge_url(given: &str, policy: &Policy) -> Result<Url> {
    let invalid = |reason: String| UsageError::InvalidUrl {
        what: "resource_metadata URL",
        url: given.to_owned(),
        reason,
    };
    let url = Url::parse(given).map_err(|e| invalid(e.to_string()))?;
    if url.host().is_none() {
        return Err(invalid("it has no host".into()).into());
    }
    policy.check_endpoint("resource_metadata URL", &url)?;
    Ok(url)
}

/// The request for one protected resource metadata URL (RFC 9728 §3.1).
#[must_use]
pub fn protected_resource_metadata_request(url: Url, policy: &Policy) -> HttpRequest {
    let mut req = HttpRequest::get_json(url);
    req.max_response_bytes = policy.max_response_bytes;
    req
}

/// Validates a protected resource metadata response fetched for `server` from `url`
/// (RFC 9728 §3.2, §3.3).
///
/// Checks, in order: transport and status, JSON, field types, `resource`, a non-empty
/// `authorization_servers`, then each listed issuer (an absolute URL without query or fragment,
/// RFC 8414 §2, that passes [`Policy::check_endpoint`]).
///
/// # Which `resource` is accepted
/// RFC 9728 §3.3 requires the document's `resource` to be the identifier the client used. The
/// rule here, after canonicalizing both sides with [`ResourceUri::parse`]:
/// - equal to the server's canonical URI: accepted;
/// - same origin (scheme, host, port), no query, and a path that is a whole-segment prefix of
///   the server's path (`https://ex.com` or `https://ex.com/api` for `https://ex.com/api/mcp`):
///   accepted, whichever URL served it. A document at the root well-known URL describes the
///   origin (RFC 9728 §3.1 builds that URL from the identifier `https://ex.com`), the MCP
///   conformance suite serves exactly that (`auth/metadata-var2`), and the MCP TS SDK accepts
///   such prefixes (`checkResourceAllowed`). The origin controls every URL under it, so a
///   prefix lets it claim nothing it could not claim already;
/// - anything else (another origin, a sibling path like `/mcp2`, a longer path, a query):
///   [`SecurityError::ResourceMismatch`] (conformance `auth/resource-mismatch`).
///
/// The document is returned as published. Its `resource` is the value to send as the RFC 8707
/// `resource` parameter: it is what the resource server checks token audiences against, and
/// the conformance suite checks that clients send the PRM's value.
///
/// ```
/// use mcpauth_core::{HttpResponse, Policy, ResourceUri};
/// use mcpauth_core::discovery::process_protected_resource_metadata_response;
/// let server = ResourceUri::parse("https://ex.com/mcp").unwrap();
/// let url = "https://ex.com/.well-known/oauth-protected-resource".parse().unwrap();
/// let check = |resource: &str| {
///     let body = format!(r#"{{"resource":"{resource}","authorization_servers":["https://as.ex.com"]}}"#);
///     process_protected_resource_metadata_response(
///         &server, &url, &HttpResponse::json(200, body), &Policy::default())
/// };
/// assert!(check("https://ex.com").is_ok());
/// assert_eq!(check("https://evil.example.com/mcp").unwrap_err().code(), "RESOURCE_MISMATCH");
/// ```
///
/// # Errors
/// [`ProtocolError`] for a bad status, body or field, including an empty
/// `authorization_servers` (`INVALID_FIELD`); [`SecurityError::ResourceMismatch`] when the
/// document describes another resource; [`SecurityError::InsecureUrl`] for a plain-http issuer
/// on a public host.
pub fn process_protected_resource_metadata_response(
    server: &ResourceUri,
    url: &Url,
    resp: &HttpResponse,
    policy: &Policy,
) -> Result<ProtectedResourceMetadata> {
    let json = success_json(url, resp, policy.max_response_bytes)?;
    let prm = ProtectedResourceMetadata::from_json(&json)?;
    let invalid = |field: &'static str, reason: String| ProtocolError::InvalidField {
        url: url.to_string(),
        field,
        reason,
    };
    let described = ResourceUri::parse(&prm.resource)
        .map_err(|e| invalid("resource", format!("is not an http(s) URL: {e}")))?;
    if !resource_covers(&described, server) {
        return Err(SecurityError::ResourceMismatch {
            url: url.to_string(),
            expected: server.as_str().to_owned(),
            found: prm.resource,
        }
        .into());
    }
    if prm.authorization_servers.is_empty() {
        return Err(invalid(
            "authorization_servers",
            "must list at least one authorization server".into(),
        )
        .into());
    }
    for issuer in &prm.authorization_servers {
        let parsed = Url::parse(issuer)
            .map_err(|e| invalid("authorization_servers", format!("has `{issuer}`: {e}")))?;
        if parsed.host().is_none() || parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(invalid(
                "authorization_servers",
                format!("has `{issuer}`, which is not an issuer identifier (RFC 8414 §2)"),
            )
            .into());
        }
        policy.check_endpoint("authorization server", &parsed)?;
    }
    Ok(prm)
}

/// Whether a document describing `described` may be used for `server`: equal, or a same-origin,
/// query-less, whole-segment path prefix (see
/// [`process_protected_resource_metadata_response`]).
pub(crate) fn resource_covers(described: &ResourceUri, server: &ResourceUri) -> bool {
    if described == server {
        return true;
    }
    let (d, s) = (described.url(), server.url());
    if d.scheme() != s.scheme()
        || d.host() != s.host()
        || d.port_or_known_default() != s.port_or_known_default()
        || d.query().is_some()
    {
        return false;
    }
    let prefix = d.path();
    prefix == "/"
        || s.path() == prefix
        || s.path()
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn res(s: &str) -> ResourceUri {
        ResourceUri::parse(s).unwrap()
    }

    fn urls(server: &str, challenge: Option<&str>) -> Vec<String> {
        protected_resource_metadata_urls(&res(server), challenge, &Policy::default())
            .unwrap()
            .into_iter()
            .map(String::from)
            .collect()
    }

    #[test]
    fn path_form_then_root_form() {
        assert_eq!(
            urls("https://ex.com/public/mcp/", None),
            [
                "https://ex.com/.well-known/oauth-protected-resource/public/mcp",
                "https://ex.com/.well-known/oauth-protected-resource",
            ]
        );
    }

    #[test]
    fn root_server_skips_the_path_form() {
        assert_eq!(
            urls("https://ex.com/", None),
            ["https://ex.com/.well-known/oauth-protected-resource"]
        );
    }

    #[test]
    fn query_is_kept_on_the_path_form_only() {
        assert_eq!(
            urls("http://localhost:3000/mcp?tenant=a", None),
            [
                "http://localhost:3000/.well-known/oauth-protected-resource/mcp?tenant=a",
                "http://localhost:3000/.well-known/oauth-protected-resource",
            ]
        );
        assert_eq!(
            urls("https://ex.com/?tenant=a", None),
            [
                "https://ex.com/.well-known/oauth-protected-resource?tenant=a",
                "https://ex.com/.well-known/oauth-protected-resource",
            ]
        );
    }

    #[test]
    fn challenge_url_comes_first_exactly_and_is_not_repeated() {
        assert_eq!(
            urls(
                "https://ex.com/mcp",
                Some("https://meta.ex.com/custom/location.json")
            ),
            [
                "https://meta.ex.com/custom/location.json",
                "https://ex.com/.well-known/oauth-protected-resource/mcp",
                "https://ex.com/.well-known/oauth-protected-resource",
            ]
        );
        assert_eq!(
            urls(
                "https://ex.com/mcp",
                Some("https://ex.com/.well-known/oauth-protected-resource/mcp")
            ),
            [
                "https://ex.com/.well-known/oauth-protected-resource/mcp",
                "https://ex.com/.well-known/oauth-protected-resource",
            ]
        );
    }

    #[test]
    fn bad_challenge_urls_and_insecure_servers_are_errors() {
        let p = Policy::default();
        let server = res("https://ex.com/mcp");
        for (given, code) in [
            ("/relative/path", "INVALID_URL"),
            ("mailto:a@b", "INVALID_URL"),
            ("http://meta.ex.com/prm", "INSECURE_URL"),
            ("ftp://ex.com/prm", "INSECURE_URL"),
        ] {
            let err = protected_resource_metadata_urls(&server, Some(given), &p).unwrap_err();
            assert_eq!(err.code(), code, "{given}");
        }
        let err =
            protected_resource_metadata_urls(&res("http://ex.com/mcp"), None, &p).unwrap_err();
        assert_eq!(err.code(), "INSECURE_URL");
        assert!(
            protected_resource_metadata_urls(
                &res("http://ex.com/mcp"),
                None,
                &Policy::dangerously_insecure_for_tests()
            )
            .is_ok()
        );
    }

    #[test]
    fn request_is_a_capped_get() {
        let p = Policy {
            max_response_bytes: 4096,
            ..Policy::default()
        };
        let url = Url::parse("https://ex.com/.well-known/oauth-protected-resource").unwrap();
        let req = protected_resource_metadata_request(url.clone(), &p);
        assert_eq!(req.url, url);
        assert_eq!(req.max_response_bytes, 4096);
        assert_eq!(req.header("accept"), Some("application/json"));
        assert!(!req.follow_redirects);
    }

    fn process(server: &str, body: &str) -> Result<ProtectedResourceMetadata> {
        let url = Url::parse("https://ex.com/.well-known/oauth-protected-resource/mcp").unwrap();
        process_protected_resource_metadata_response(
            &res(server),
            &url,
            &HttpResponse::json(200, body),
            &Policy::default(),
        )
    }

    fn doc(resource: &str) -> String {
        format!(r#"{{"resource":"{resource}","authorization_servers":["https://as.ex.com"]}}"#)
    }

    #[test]
    fn resource_equal_after_canonicalization_is_accepted() {
        for published in [
            "https://ex.com/mcp",
            "https://EX.com:443/mcp/",
            "https://ex.com/mcp#f",
        ] {
            let prm = process("https://ex.com/mcp", &doc(published)).unwrap();
            assert_eq!(prm.resource, published, "returned as published");
        }
    }

    #[test]
    fn resource_that_is_a_same_origin_path_prefix_is_accepted() {
        for published in ["https://ex.com", "https://ex.com/", "https://ex.com/api"] {
            assert!(
                process("https://ex.com/api/mcp", &doc(published)).is_ok(),
                "{published}"
            );
        }
    }

    #[test]
    fn resource_of_another_origin_or_path_is_a_mismatch() {
        for published in [
            "https://evil.example.com/mcp",
            "http://ex.com/api/mcp",
            "https://ex.com:8443/api/mcp",
            "https://ex.com/ap",
            "https://ex.com/api/mcp2",
            "https://ex.com/api/mcp/sub",
            "https://ex.com/other",
            "https://ex.com/api?x=1",
            "https://ex.com/?x=1",
            "https://sub.ex.com/api/mcp",
        ] {
            let err = process("https://ex.com/api/mcp", &doc(published)).unwrap_err();
            assert_eq!(err.code(), "RESOURCE_MISMATCH", "{published}");
        }
        let err = process("https://ex.com/mcp", &doc("https://evil.example.com/mcp")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "https://ex.com/.well-known/oauth-protected-resource/mcp describes resource `https://evil.example.com/mcp`, but the server is `https://ex.com/mcp`"
        );
    }

    #[test]
    fn server_query_is_covered_by_the_bare_path_but_not_by_another_query() {
        assert!(process("https://ex.com/mcp?t=a", &doc("https://ex.com/mcp")).is_ok());
        assert!(process("https://ex.com/mcp?t=a", &doc("https://ex.com/mcp?t=a")).is_ok());
        let err = process("https://ex.com/mcp?t=a", &doc("https://ex.com/mcp?t=b")).unwrap_err();
        assert_eq!(err.code(), "RESOURCE_MISMATCH");
    }

    #[test]
    fn unparsable_resource_is_a_field_error() {
        let err = process("https://ex.com/mcp", &doc("urn:example:mcp")).unwrap_err();
        assert_eq!(err.code(), "INVALID_FIELD");
        assert!(err.to_string().contains("`resource`"), "{err}");
    }

    #[test]
    fn authorization_servers_must_be_listed() {
        for body in [
            r#"{"resource":"https://ex.com/mcp"}"#,
            r#"{"resource":"https://ex.com/mcp","authorization_servers":[]}"#,
        ] {
            let err = process("https://ex.com/mcp", body).unwrap_err();
            assert_eq!(err.code(), "INVALID_FIELD", "{body}");
            assert!(err.to_string().contains("authorization_servers"), "{err}");
        }
    }

    #[test]
    fn each_issuer_must_be_a_secure_issuer_identifier() {
        let with = |issuers: &str| {
            format!(r#"{{"resource":"https://ex.com/mcp","authorization_servers":{issuers}}}"#)
        };
        assert!(process("https://ex.com/mcp", &with(r#"["https://as.ex.com/t1/"]"#)).is_ok());
        assert!(process("https://ex.com/mcp", &with(r#"["http://localhost:9000"]"#)).is_ok());
        for (issuers, code) in [
            (
                r#"["https://as.ex.com","http://as.ex.com"]"#,
                "INSECURE_URL",
            ),
            (r#"["as.ex.com"]"#, "INVALID_FIELD"),
            (r#"["https://as.ex.com/?x=1"]"#, "INVALID_FIELD"),
            (r#"["https://as.ex.com/#f"]"#, "INVALID_FIELD"),
            (r#"["urn:x:y"]"#, "INVALID_FIELD"),
            (r#"[1]"#, "INVALID_FIELD"),
        ] {
            let err = process("https://ex.com/mcp", &with(issuers)).unwrap_err();
            assert_eq!(err.code(), code, "{issuers}");
        }
    }

    #[test]
    fn status_and_body_errors_come_first() {
        let url = Url::parse("https://ex.com/.well-known/oauth-protected-resource").unwrap();
        let p = Policy::default();
        let server = res("https://ex.com/mcp");
        let check = |resp: HttpResponse| {
            process_protected_resource_metadata_response(&server, &url, &resp, &p)
                .unwrap_err()
                .code()
        };
        assert_eq!(
            check(HttpResponse::new(404, vec![], "nope")),
            "UNEXPECTED_STATUS"
        );
        assert_eq!(check(HttpResponse::json(200, "[]")), "INVALID_JSON");
        assert_eq!(
            check(HttpResponse::json(
                200,
                vec![b' '; p.max_response_bytes + 1]
            )),
            "RESPONSE_TOO_LARGE"
        );
        assert_eq!(
            check(HttpResponse::new(
                301,
                vec![("location".into(), "https://evil/".into())],
                ""
            )),
            "UNEXPECTED_REDIRECT"
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bodies_never_panic(status in 0u16..600, body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let url = Url::parse("https://ex.com/.well-known/oauth-protected-resource").unwrap();
            let _ = process_protected_resource_metadata_response(
                &res("https://ex.com/mcp"), &url, &HttpResponse::json(status, body), &Policy::default());
        }

        #[test]
        fn arbitrary_resources_never_panic_and_cover_themselves(
            scheme in "https?", host in "[a-z]{1,8}(\\.[a-z]{1,5})?", path in "(/[a-zA-Z0-9%._~-]{0,6}){0,4}",
            other in "\\PC{0,40}",
        ) {
            let server = res(&format!("{scheme}://{host}{path}"));
            prop_assert!(resource_covers(&server, &server));
            prop_assert!(resource_covers(&server.origin(), &server));
            if let Ok(d) = ResourceUri::parse(&other) {
                let _ = resource_covers(&d, &server);
            }
            let _ = protected_resource_metadata_urls(&server, Some(&other), &Policy::default());
        }
    }
}
