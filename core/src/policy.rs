//! Security policy (RFC 9700, MCP security considerations) and canonical resource URIs.
//!
//! Everything is safe by default; each option that weakens a check has a name that says so.

use serde::{Deserialize, Serialize};
use url::{Host, Url};

use crate::error::{Result, SecurityError, UsageError};
use crate::http::DEFAULT_MAX_RESPONSE_BYTES;

/// The checks the core applies. `Policy::default()` is what production code should use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(default, rename_all = "camelCase")]
#[non_exhaustive]
pub struct Policy {
    /// Allows plain `http://` endpoints on any host.
    ///
    /// # Security
    /// For tests against non-loopback test hosts only. Tokens and codes then cross the network
    /// in clear. Loopback hosts (`localhost`, `127.0.0.0/8`, `::1`) are always allowed.
    #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
    pub dangerously_allow_insecure_http: bool,
    /// Assumes PKCE S256 when the server's metadata has no `code_challenge_methods_supported`.
    ///
    /// # Security
    /// The MCP spec requires refusing such servers: without the field the client cannot know
    /// that the code is bound to the verifier. Enable only for a known legacy server.
    #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
    pub dangerously_assume_pkce_s256: bool,
    /// Enables the 2025-03-26 MCP fallbacks: authorization server metadata at the MCP server's
    /// origin, then the default `/authorize`, `/token` and `/register` paths.
    #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
    pub legacy_2025_03_26_fallbacks: bool,
    /// The largest response body accepted.
    #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
    pub max_response_bytes: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            dangerously_allow_insecure_http: false,
            dangerously_assume_pkce_s256: false,
            legacy_2025_03_26_fallbacks: false,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

impl Policy {
    /// The default policy with plain HTTP allowed everywhere: for test servers only.
    #[must_use]
    pub fn dangerously_insecure_for_tests() -> Self {
        Self {
            dangerously_allow_insecure_http: true,
            ..Self::default()
        }
    }

    /// Refuses `url` unless it is `https`, or `http` on a loopback host.
    ///
    /// # Errors
    /// [`SecurityError::InsecureUrl`] naming `what` and the URL.
    pub fn check_endpoint(&self, what: &'static str, url: &Url) -> Result<()> {
        let ok = match url.scheme() {
            "https" => true,
            "http" => self.dangerously_allow_insecure_http || is_loopback(url),
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(SecurityError::InsecureUrl {
                what,
                url: url.to_string(),
            }
            .into())
        }
    }
}

/// Whether the URL's host is a loopback host (`localhost`, `*.localhost`, `127.0.0.0/8`, `::1`).
#[must_use]
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => {
            let d = d.trim_end_matches('.');
            d.eq_ignore_ascii_case("localhost") || d.to_ascii_lowercase().ends_with(".localhost")
        }
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The canonical URI of a protected resource (an MCP server), used in `resource` parameters
/// and as a storage key (MCP authorization "Canonical Server URI", RFC 8707 §2).
///
/// Canonical means: lowercase scheme and host, default port dropped, no fragment, and no
/// trailing slash on the path (`https://ex.com/` becomes `https://ex.com`, `https://ex.com/mcp/`
/// becomes `https://ex.com/mcp`). The query is kept: it can identify the resource.
///
/// ```
/// use mcpauth_core::ResourceUri;
/// let r = ResourceUri::parse("HTTPS://MCP.Example.com:443/Server/#frag").unwrap();
/// assert_eq!(r.as_str(), "https://mcp.example.com/Server");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export, type = "string"))]
#[serde(try_from = "String", into = "String")]
pub struct ResourceUri {
    url: Url,
    text: String,
}

impl ResourceUri {
    /// Parses and canonicalizes an absolute `http(s)` URL.
    ///
    /// # Errors
    /// [`UsageError::InvalidUrl`] when it is not an absolute http(s) URL with a host.
    pub fn parse(input: &str) -> Result<Self> {
        let invalid = |reason: String| UsageError::InvalidUrl {
            what: "resource URI",
            url: input.to_owned(),
            reason,
        };
        let mut url = Url::parse(input.trim()).map_err(|e| invalid(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https".into()).into());
        }
        if url.host().is_none() {
            return Err(invalid("it has no host".into()).into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("it must not carry credentials".into()).into());
        }
        url.set_fragment(None);
        let trimmed = url.path().trim_end_matches('/').to_owned();
        url.set_path(&trimmed);
        let mut text = url.to_string();
        if url.path() == "/" && url.query().is_none() {
            text.pop();
        }
        Ok(Self { url, text })
    }

    /// The canonical string.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parsed URL (its path is `/` for a root resource).
    #[must_use]
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The origin-level resource (`https://ex.com`) of this resource.
    #[must_use]
    pub fn origin(&self) -> ResourceUri {
        let mut url = self.url.clone();
        url.set_path("/");
        url.set_query(None);
        let mut text = url.to_string();
        text.pop();
        ResourceUri { url, text }
    }

    /// Whether the path is the root (no path segments).
    #[must_use]
    pub fn is_root(&self) -> bool {
        self.url.path() == "/"
    }
}

impl std::fmt::Display for ResourceUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl TryFrom<String> for ResourceUri {
    type Error = crate::Error;
    fn try_from(s: String) -> Result<Self> {
        Self::parse(&s)
    }
}

impl From<ResourceUri> for String {
    fn from(r: ResourceUri) -> String {
        r.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn https_required_except_loopback() {
        let p = Policy::default();
        assert!(
            p.check_endpoint("token_endpoint", &u("https://as.example/t"))
                .is_ok()
        );
        for ok in [
            "http://localhost:3000/t",
            "http://127.0.0.1/t",
            "http://127.8.0.1/t",
            "http://[::1]:80/t",
            "http://a.localhost/t",
        ] {
            assert!(p.check_endpoint("token_endpoint", &u(ok)).is_ok(), "{ok}");
        }
        let err = p
            .check_endpoint("token_endpoint", &u("http://as.example/t"))
            .unwrap_err();
        assert_eq!(err.code(), "INSECURE_URL");
        assert_eq!(
            err.to_string(),
            "token_endpoint http://as.example/t must use https (plain http is allowed only for loopback hosts)"
        );
        assert!(
            p.check_endpoint("x", &u("http://localhost.evil.com/"))
                .is_err()
        );
        assert!(p.check_endpoint("x", &u("ftp://localhost/")).is_err());
        assert!(
            Policy::dangerously_insecure_for_tests()
                .check_endpoint("x", &u("http://as.example/"))
                .is_ok()
        );
    }

    #[test]
    fn canonical_resource_uris() {
        let cases = [
            ("https://mcp.example.com", "https://mcp.example.com"),
            ("https://mcp.example.com/", "https://mcp.example.com"),
            ("HTTPS://MCP.EXAMPLE.COM/mcp", "https://mcp.example.com/mcp"),
            (
                "https://mcp.example.com:443/mcp/",
                "https://mcp.example.com/mcp",
            ),
            (
                "https://mcp.example.com:8443/mcp#x",
                "https://mcp.example.com:8443/mcp",
            ),
            (
                "https://mcp.example.com/server/mcp",
                "https://mcp.example.com/server/mcp",
            ),
            (
                "http://localhost:3000/mcp?tenant=a",
                "http://localhost:3000/mcp?tenant=a",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(ResourceUri::parse(input).unwrap().as_str(), want, "{input}");
        }
        let r = ResourceUri::parse("https://ex.com/a/b").unwrap();
        assert_eq!(r.origin().as_str(), "https://ex.com");
        assert!(r.origin().is_root());
    }

    #[test]
    fn invalid_resource_uris_are_refused() {
        for bad in [
            "",
            "mcp.example.com",
            "file:///etc/passwd",
            "https://user:pw@ex.com/",
            "data:text/plain,hi",
        ] {
            let err = ResourceUri::parse(bad).unwrap_err();
            assert_eq!(err.code(), "INVALID_URL", "{bad}");
        }
    }

    #[test]
    fn resource_uri_round_trips_through_serde() {
        let r = ResourceUri::parse("https://EX.com/mcp/").unwrap();
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(s, "\"https://ex.com/mcp\"");
        assert_eq!(serde_json::from_str::<ResourceUri>(&s).unwrap(), r);
    }
}
