//! The registry of well-known remote MCP servers shipped with mcpauth (`known-servers.toml` in
//! the crate), so that `mcpauth login linear` works without a URL.
//!
//! Each entry names the public documentation that gave its URL, and what discovery cannot
//! find out about the server: that its authorization server rejects the RFC 8707 `resource`
//! parameter, or that it has no dynamic client registration and so needs a pre-registered
//! client. Entries can go stale; a `[servers.<name>]` table in the user's `config.toml`
//! replaces the entry of the same name as a whole (see [`Config::resolve`]).
//!
//! [`Config::resolve`]: super::Config::resolve

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use url::Url;

use super::ServerConfig;

/// The registry, as shipped.
const REGISTRY: &str = include_str!("../../known-servers.toml");

/// One well-known server: where it is, where that is documented, and what it needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct KnownServer {
    /// The name to log in with (the table key), lowercase.
    #[serde(skip_deserializing)]
    pub name: String,
    /// The MCP endpoint.
    pub url: Url,
    /// The service's name for people.
    pub title: String,
    /// The public documentation that gives [`url`](Self::url).
    pub source: Url,
    /// The authorization server rejects the RFC 8707 `resource` parameter (Microsoft Entra ID
    /// does), so logins leave it out; tokens are then not bound to this server.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub omit_resource: bool,
    /// The authorization server has no dynamic client registration: where to get a
    /// pre-registered client. A login without a client id fails early with this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_required: Option<String>,
    /// The scope to request instead of the one discovery suggests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Anything else worth knowing before logging in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

impl KnownServer {
    /// The entry as a server configuration: its name, URL, scope and needs; everything else
    /// is left to discovery.
    #[must_use]
    pub fn server_config(&self) -> ServerConfig {
        let mut server = ServerConfig::for_url(self.url.clone());
        server.name = Some(self.name.clone());
        server.scope = self.scope.clone();
        server.omit_resource = self.omit_resource;
        server.client_required = self.client_required.clone();
        server
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Registry {
    servers: BTreeMap<String, KnownServer>,
}

/// Every well-known server, sorted by name.
#[must_use]
pub fn known_servers() -> &'static [KnownServer] {
    static PARSED: OnceLock<Vec<KnownServer>> = OnceLock::new();
    PARSED.get_or_init(parse_shipped)
}

#[expect(
    clippy::expect_used,
    reason = "the registry is a file of this crate, parsed by the test \
              `the_shipped_registry_parses`: it cannot fail at run time"
)]
fn parse_shipped() -> Vec<KnownServer> {
    parse(REGISTRY).expect("known-servers.toml parses")
}

/// The well-known server called `name`, if there is one.
#[must_use]
pub fn known_server(name: &str) -> Option<&'static KnownServer> {
    known_servers().iter().find(|s| s.name == name)
}

fn parse(text: &str) -> Result<Vec<KnownServer>, String> {
    let registry: Registry = toml::from_str(text).map_err(|e| e.to_string())?;
    Ok(registry
        .servers
        .into_iter()
        .map(|(name, mut server)| {
            server.name = name;
            server
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcpauth_core::ResourceUri;

    #[test]
    fn the_shipped_registry_parses() {
        let servers = parse(REGISTRY).unwrap();
        assert!(servers.len() >= 6, "{} entries", servers.len());
        assert_eq!(known_servers(), servers.as_slice());
    }

    #[test]
    fn every_entry_has_https_urls_and_a_usable_mcp_endpoint() {
        for s in known_servers() {
            assert_eq!(s.url.scheme(), "https", "{}: url {}", s.name, s.url);
            assert_eq!(
                s.source.scheme(),
                "https",
                "{}: source {}",
                s.name,
                s.source
            );
            ResourceUri::parse(s.url.as_str())
                .unwrap_or_else(|e| panic!("{}: {} is no MCP server URL: {e}", s.name, s.url));
            assert!(!s.title.trim().is_empty(), "{}: empty title", s.name);
            if let Some(need) = &s.client_required {
                assert!(!need.trim().is_empty(), "{}: empty client_required", s.name);
            }
        }
    }

    #[test]
    fn names_are_unique_lowercase_and_never_read_as_urls() {
        let names: Vec<&str> = known_servers().iter().map(|s| s.name.as_str()).collect();
        let mut unique = names.clone();
        unique.dedup();
        assert_eq!(names, unique, "sorted and unique");
        for name in names {
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{name}: lowercase letters, digits and `-` only"
            );
        }
    }

    #[test]
    fn a_duplicate_or_misspelt_field_is_refused() {
        let twice = "[servers.a]\nurl = \"https://a.example\"\ntitle = \"A\"\nsource = \"https://a.example/doc\"\n[servers.a]\n";
        assert!(parse(twice).is_err());
        let typo = "[servers.a]\nurl = \"https://a.example\"\ntitle = \"A\"\nsource = \"https://a.example/doc\"\nclient_requried = \"x\"\n";
        let err = parse(typo).unwrap_err();
        assert!(err.contains("client_requried"), "{err}");
    }

    #[test]
    fn an_entry_becomes_a_server_config_with_its_needs() {
        let github = known_server("github").unwrap().server_config();
        assert_eq!(github.name.as_deref(), Some("github"));
        assert_eq!(github.url.as_str(), "https://api.githubcopilot.com/mcp/");
        assert!(github.client_required.is_some());
        assert!(github.client_id.is_none());
        let linear = known_server("linear").unwrap().server_config();
        assert!(linear.client_required.is_none() && !linear.omit_resource);
        assert!(known_server("nope").is_none());
    }
}
