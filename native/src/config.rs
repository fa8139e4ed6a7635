//! Named servers, and where mcpauth keeps its files.
//!
//! `config.toml` in the [config directory](config_dir) names servers so that `mcpauth login
//! work` works, and holds what discovery cannot find out: a pre-registered client, a scope,
//! endpoints for servers without metadata, extra authorization parameters. Well-known public
//! servers are named already (see [`known_servers`] and `mcpauth servers`): `mcpauth login
//! linear` works without a configuration file, and a table here with the same name replaces
//! the built-in entry as a whole.
//!
//! ```toml
//! profile = "personal"                 # optional: the profile of every login (see below)
//!
//! [servers.work]
//! url = "https://mcp.example.com/mcp"
//! client_id = "mcpauth-cli"
//! client_secret_file = "work.secret"   # relative to the config directory; `~/` works
//! scope = "tools:read tools:call"
//! authorization_endpoint = "https://auth.example.com/authorize"  # with token_endpoint,
//! token_endpoint = "https://auth.example.com/token"              # for servers without metadata
//! omit_resource = false
//! dangerously_assume_pkce_s256 = false  # a legacy server that supports S256 without saying so
//! # client_required = "..."  # set by built-in entries: a login without client_id stops early
//! profile = "work"                     # this entry's logins are profile `work`'s
//!
//! [servers.work.extra_params]
//! audience = "mcp"
//!
//! [servers.work.headers]
//! X-Tenant = "acme"
//!
//! [servers.agent]                       # a machine login: no user, no browser
//! url = "https://mcp.example.com/mcp"
//! client_credentials = true             # the client credentials grant (RFC 6749 §4.4)
//! client_id = "build-bot"
//! private_key = "bot.pem"               # private_key_jwt (PEM or a private JWK); or client_secret_file
//! dpop = true                           # DPoP-bound tokens (RFC 9449)
//! audience = "https://api.example.com"  # for servers that want an `audience` parameter
//!
//! [servers.k8s]                         # workload identity: jwt-bearer with the workload's token
//! url = "https://mcp.example.com/mcp"
//! client_id = "ci"
//! workload_token_file = "/var/run/secrets/tokens/mcp"   # or workload_token_env = "VAR"
//!
//! [servers.corp]                        # enterprise-managed authorization (ID-JAG)
//! url = "https://mcp.example.com/mcp"
//! client_id = "mcp-client"
//! client_secret_file = "corp.secret"
//! id_token_env = "CORP_ID_TOKEN"        # or id_token_file = "..."
//! idp_token_endpoint = "https://idp.example.com/oauth2/token"
//! idp_client_id = "idp-client"
//! idp_client_secret_file = "idp.secret" # if the client is confidential at the IdP
//!
//! [servers.github]                      # replaces the built-in `github` entry
//! url = "https://api.githubcopilot.com/mcp/"
//! client_id = "Ov23li..."               # your GitHub OAuth app
//! client_secret_file = "github.secret"
//! ```
//!
//! Profiles keep several logins to one server apart, such as two accounts: the grant of each
//! is stored on its own (see [`mcpauth_core::flow::Profile`]). `--profile NAME` (or
//! `MCPAUTH_PROFILE`) wins over a server's `profile`, which wins over the top-level one.
//!
//! Directories: `MCPAUTH_CONFIG_DIR` and `MCPAUTH_DATA_DIR` override the platform ones
//! (`~/.config/mcpauth` and `~/.local/share/mcpauth` on Linux).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mcpauth_core::{ClientSecret, ResourceUri};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Error, NEEDS_PREREGISTERED_CLIENT, Result};

mod known;
mod machine;

pub use known::{KnownServer, known_server, known_servers};
pub use machine::{MachineSettings, Naming};

/// Overrides the configuration directory.
pub const CONFIG_DIR_ENV: &str = "MCPAUTH_CONFIG_DIR";
/// Overrides the data directory (the file token store, lock files).
pub const DATA_DIR_ENV: &str = "MCPAUTH_DATA_DIR";
/// The configuration file's name inside the configuration directory.
pub const CONFIG_FILE: &str = "config.toml";

/// The configuration directory: `$MCPAUTH_CONFIG_DIR`, else the platform's (for example
/// `~/.config/mcpauth` on Linux, `~/Library/Application Support/dev.mcpauth.mcpauth` on macOS).
///
/// # Errors
/// [`Error::Config`] when neither is available (no home directory).
pub fn config_dir() -> Result<PathBuf> {
    dir_from(std::env::var_os(CONFIG_DIR_ENV), |p| p.config_dir())
}

/// The data directory: `$MCPAUTH_DATA_DIR`, else the platform's (for example
/// `~/.local/share/mcpauth` on Linux).
///
/// # Errors
/// [`Error::Config`] when neither is available (no home directory).
pub fn data_dir() -> Result<PathBuf> {
    dir_from(std::env::var_os(DATA_DIR_ENV), |p| p.data_dir())
}

fn dir_from(
    env: Option<std::ffi::OsString>,
    pick: impl FnOnce(&directories::ProjectDirs) -> &Path,
) -> Result<PathBuf> {
    if let Some(dir) = env.filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    directories::ProjectDirs::from("dev", "mcpauth", "mcpauth")
        .map(|p| pick(&p).to_path_buf())
        .ok_or_else(|| Error::Config {
            reason: format!(
                "no home directory to keep files in; set {CONFIG_DIR_ENV} and {DATA_DIR_ENV}"
            ),
        })
}

/// The parsed configuration file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// Servers by name.
    #[serde(default)]
    pub servers: BTreeMap<String, ServerConfig>,
    /// The profile to use where neither `--profile` nor the server's entry names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// The file this was read from, for messages; `None` when there was none.
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

/// One server: its URL and the settings discovery cannot find out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The name in the configuration file; `None` for a server given by URL only.
    #[serde(skip)]
    pub name: Option<String>,
    /// The MCP server URL.
    pub url: Url,
    /// A client id pre-registered with the server's authorization server.
    pub client_id: Option<String>,
    /// A file holding the client secret (its first line), for confidential clients.
    /// Relative paths are relative to the configuration directory; `~/` is the home directory.
    pub client_secret_file: Option<PathBuf>,
    /// The scope to request instead of the one discovery suggests.
    pub scope: Option<String>,
    /// The authorization endpoint, for servers that publish no metadata.
    pub authorization_endpoint: Option<Url>,
    /// The token endpoint, for servers that publish no metadata.
    pub token_endpoint: Option<Url>,
    /// Extra parameters for the authorization request (such as `audience`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra_params: BTreeMap<String, String>,
    /// Extra headers to send to the MCP server.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Leave out the RFC 8707 `resource` parameter, for authorization servers that reject it.
    /// This weakens audience binding of the tokens; use it only when a server requires it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub omit_resource: bool,
    /// The profile of this entry's logins, so that two entries can name two accounts on one
    /// server (`--profile` still wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Authorize even though the authorization server does not advertise PKCE S256 in its
    /// metadata, trusting that it supports it.
    ///
    /// # Security
    /// Without PKCE a stolen authorization code can be redeemed by anyone. Only for a server
    /// known to enforce S256 without advertising it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dangerously_assume_pkce_s256: bool,
    /// The server's authorization server has no dynamic client registration: where to get a
    /// pre-registered client. Set by [built-in entries](known_servers); a login without a
    /// client id then stops before any request (see [`check_client`](Self::check_client)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_required: Option<String>,
    /// Ask for DPoP-bound tokens (RFC 9449).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dpop: bool,
    /// An `audience` parameter for authorization servers that want one (Auth0), sent with the
    /// authorization, token and refresh requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// Log in with the client credentials grant (no user), with `client_id` and its
    /// `client_secret_file` or `private_key`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub client_credentials: bool,
    /// The client's private key for `private_key_jwt` (PEM or a private JWK), resolved like
    /// `client_secret_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key: Option<PathBuf>,
    /// Workload identity: log in with the jwt-bearer grant and the workload token in this
    /// file (read again on each expiry), resolved like `client_secret_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_token_file: Option<PathBuf>,
    /// Workload identity, with the workload token in this environment variable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_token_env: Option<String>,
    /// Enterprise-managed authorization: the user's ID token from the enterprise IdP, in this
    /// file (resolved like `client_secret_file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_file: Option<PathBuf>,
    /// Enterprise-managed authorization, with the ID token in this environment variable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_env: Option<String>,
    /// The enterprise IdP's token endpoint, where the ID token is exchanged for an ID-JAG.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_token_endpoint: Option<Url>,
    /// This client's id at the enterprise IdP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_client_id: Option<String>,
    /// A file holding this client's secret at the enterprise IdP, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_client_secret_file: Option<PathBuf>,
}

impl ServerConfig {
    /// A server known by its URL only, with every setting left to discovery.
    #[must_use]
    pub fn for_url(url: Url) -> Self {
        Self {
            name: None,
            url,
            client_id: None,
            client_secret_file: None,
            scope: None,
            authorization_endpoint: None,
            token_endpoint: None,
            extra_params: BTreeMap::new(),
            headers: BTreeMap::new(),
            omit_resource: false,
            profile: None,
            dangerously_assume_pkce_s256: false,
            client_required: None,
            dpop: false,
            audience: None,
            client_credentials: false,
            private_key: None,
            workload_token_file: None,
            workload_token_env: None,
            id_token_file: None,
            id_token_env: None,
            idp_token_endpoint: None,
            idp_client_id: None,
            idp_client_secret_file: None,
        }
    }

    /// Stops a login that cannot succeed: the server needs a pre-registered client
    /// ([`client_required`](Self::client_required)) and none was given, neither here nor as
    /// `client_id` (a flag, say).
    ///
    /// # Errors
    /// [`Error::Config`] naming what the server needs and how to configure `client_id`.
    pub fn check_client(&self, client_id: Option<&str>) -> Result<()> {
        let Some(need) = &self.client_required else {
            return Ok(());
        };
        if client_id.is_some() || self.client_id.is_some() {
            return Ok(());
        }
        let name = self.name.as_deref().unwrap_or("<name>");
        Err(Error::Config {
            reason: format!(
                "`{name}` ({}) {NEEDS_PREREGISTERED_CLIENT}, having no dynamic registration: \
                 {need}; then give its id with --client-id or as client_id under \
                 [servers.{name}] in {CONFIG_FILE}",
                self.url
            ),
        })
    }

    /// Reads the client secret from [`client_secret_file`](Self::client_secret_file): its
    /// first line, without surrounding whitespace.
    ///
    /// # Errors
    /// [`Error::Config`] when the file cannot be read or is empty.
    pub fn client_secret(&self) -> Result<Option<ClientSecret>> {
        let Some(path) = &self.client_secret_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            reason: format!("cannot read client_secret_file {}: {e}", path.display()),
        })?;
        let secret = text.lines().next().unwrap_or_default().trim();
        if secret.is_empty() {
            return Err(Error::Config {
                reason: format!("client_secret_file {} is empty", path.display()),
            });
        }
        Ok(Some(ClientSecret::new(secret)))
    }
}

impl Config {
    /// Reads `config.toml` from [`config_dir`]; no file is an empty configuration.
    ///
    /// # Errors
    /// [`Error::Config`] when the file cannot be read or is invalid.
    pub fn load() -> Result<Self> {
        let dir = config_dir()?;
        Self::load_from(&dir.join(CONFIG_FILE))
    }

    /// Reads a configuration file; a missing file is an empty configuration. Relative
    /// `client_secret_file`s are resolved against the file's directory.
    ///
    /// # Errors
    /// [`Error::Config`] when the file cannot be read or is invalid.
    pub fn load_from(path: &Path) -> Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self {
                    path: Some(path.to_owned()),
                    ..Self::default()
                });
            }
            Err(e) => {
                return Err(Error::Config {
                    reason: format!("cannot read {}: {e}", path.display()),
                });
            }
        };
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        let mut config = Self::parse(&text, base).map_err(|reason| Error::Config {
            reason: format!("{}: {reason}", path.display()),
        })?;
        config.path = Some(path.to_owned());
        Ok(config)
    }

    /// Parses configuration text, resolving relative secret files against `base`.
    fn parse(text: &str, base: &Path) -> std::result::Result<Self, String> {
        let mut config: Self = toml::from_str(text).map_err(|e| e.to_string())?;
        for (name, server) in &mut config.servers {
            if name.is_empty() || name.contains([':', '/']) {
                return Err(format!(
                    "server name `{name}` must be non-empty and contain no `:` or `/` (it would read as a URL)"
                ));
            }
            server.name = Some(name.clone());
            for file in [
                &mut server.client_secret_file,
                &mut server.private_key,
                &mut server.workload_token_file,
                &mut server.id_token_file,
                &mut server.idp_client_secret_file,
            ] {
                if let Some(path) = file.take() {
                    *file = Some(resolve_path(&path, base));
                }
            }
        }
        Ok(config)
    }

    /// The server a command line argument means, looked up in this order: a configured name,
    /// a [well-known](known_servers) name, or a URL (with the settings of the configured, else
    /// the well-known, server that has this URL, if any, but not a configured entry's profile).
    ///
    /// A configured server replaces the well-known one of the same name as a whole: nothing
    /// of the built-in entry is merged into it.
    ///
    /// URLs are compared in their canonical form (RFC 8707 §2: no trailing slash for the
    /// root, lowercase scheme and host).
    ///
    /// # Errors
    /// [`Error::Config`] when the argument is neither a configured nor a well-known name nor
    /// an http(s) URL.
    pub fn resolve(&self, name_or_url: &str) -> Result<ServerConfig> {
        if let Some(server) = self.servers.get(name_or_url) {
            return Ok(server.clone());
        }
        if let Some(known) = known_server(name_or_url) {
            return Ok(known.server_config());
        }
        let url = Url::parse(name_or_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| self.unknown(name_or_url))?;
        let wanted = ResourceUri::parse(url.as_str()).ok();
        let same = |candidate: &Url| {
            wanted.is_some() && ResourceUri::parse(candidate.as_str()).ok() == wanted
                || *candidate == url
        };
        if let Some(configured) = self.servers.values().find(|s| same(&s.url)) {
            // By URL, an entry lends its server settings but not its profile: the profile is
            // the account the entry's name stands for, and two entries may name one URL.
            return Ok(ServerConfig {
                profile: None,
                ..configured.clone()
            });
        }
        Ok(known_servers()
            .iter()
            .find(|s| same(&s.url))
            .map_or_else(|| ServerConfig::for_url(url), KnownServer::server_config))
    }

    fn unknown(&self, name: &str) -> Error {
        let known: Vec<&str> = self.servers.keys().map(String::as_str).collect();
        let file = self
            .path
            .as_deref()
            .map_or_else(|| CONFIG_FILE.to_owned(), |p| p.display().to_string());
        let known = if known.is_empty() {
            "none are configured".to_owned()
        } else {
            format!("configured: {}", known.join(", "))
        };
        Error::Config {
            reason: format!(
                "`{name}` is neither a server in {file} ({known}), nor a well-known server \
                 (`mcpauth servers` lists them), nor an http(s) URL"
            ),
        }
    }
}

/// `~/x` to the home directory, relative paths to `base`.
fn resolve_path(path: &Path, base: &Path) -> PathBuf {
    if let Ok(rest) = path.strip_prefix("~") {
        if let Some(home) = directories::BaseDirs::new() {
            return home.home_dir().join(rest);
        }
    }
    if path.is_relative() {
        base.join(path)
    } else {
        path.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
        [servers.work]
        url = "https://mcp.example.com/mcp"
        client_id = "cli"
        client_secret_file = "work.secret"
        scope = "tools:read"
        authorization_endpoint = "https://auth.example.com/authorize"
        token_endpoint = "https://auth.example.com/token"
        omit_resource = true
        dangerously_assume_pkce_s256 = true

        [servers.work.extra_params]
        audience = "mcp"

        [servers.work.headers]
        X-Tenant = "acme"

        [servers.local]
        url = "http://127.0.0.1:3000/"
    "#;

    fn sample() -> Config {
        Config::parse(SAMPLE, Path::new("/etc/mcpauth")).unwrap()
    }

    #[test]
    fn every_documented_field_is_read() {
        let work = sample().resolve("work").unwrap();
        assert_eq!(work.name.as_deref(), Some("work"));
        assert_eq!(work.url.as_str(), "https://mcp.example.com/mcp");
        assert_eq!(work.client_id.as_deref(), Some("cli"));
        assert_eq!(
            work.client_secret_file.as_deref(),
            Some(Path::new("/etc/mcpauth/work.secret"))
        );
        assert_eq!(work.scope.as_deref(), Some("tools:read"));
        assert!(work.authorization_endpoint.is_some() && work.token_endpoint.is_some());
        assert_eq!(work.extra_params["audience"], "mcp");
        assert_eq!(work.headers["X-Tenant"], "acme");
        assert!(work.omit_resource);
        assert!(work.dangerously_assume_pkce_s256);
    }

    #[test]
    fn a_url_resolves_to_the_configured_server_with_that_url() {
        let config = sample();
        let by_url = config.resolve("https://MCP.example.com/mcp").unwrap();
        assert_eq!(by_url.name.as_deref(), Some("work"));
        let root = config.resolve("http://127.0.0.1:3000").unwrap();
        assert_eq!(root.name.as_deref(), Some("local"));
    }

    #[test]
    fn an_unconfigured_url_resolves_to_a_bare_server() {
        let server = sample().resolve("https://other.example/mcp").unwrap();
        assert_eq!(server, ServerConfig::for_url(server.url.clone()));
    }

    /// The wasm module's lock pins idna to its back end without Unicode tables; this crate's
    /// lock does not, so an internationalized host resolves, and in its punycode form matches
    /// the same configured server as its Unicode form.
    #[test]
    fn an_internationalized_host_resolves_to_its_punycode_form() {
        let server = sample().resolve("https://bücher.example/mcp").unwrap();
        assert_eq!(server.url.as_str(), "https://xn--bcher-kva.example/mcp");
        let canonical = ResourceUri::parse("https://BÜCHER.example/mcp/").unwrap();
        assert_eq!(canonical.as_str(), "https://xn--bcher-kva.example/mcp");
    }

    #[test]
    fn an_unknown_name_lists_the_configured_ones() {
        let err = sample().resolve("wrok").unwrap_err();
        assert_eq!(err.code(), "CONFIG");
        let msg = err.to_string();
        assert!(msg.contains("wrok") && msg.contains("local, work"), "{msg}");
        let err = Config::default().resolve("ftp://x").unwrap_err();
        assert!(err.to_string().contains("none are configured"), "{err}");
    }

    #[test]
    fn typos_in_field_names_are_errors() {
        let err = Config::parse(
            "[servers.a]\nurl = \"https://a.example\"\nscopes = \"x\"\n",
            Path::new("."),
        )
        .unwrap_err();
        assert!(err.contains("scopes"), "{err}");
    }

    #[test]
    fn urls_are_parsed_at_load_time() {
        let err = Config::parse("[servers.a]\nurl = \"not a url\"\n", Path::new(".")).unwrap_err();
        assert!(err.contains("url") || err.contains("relative"), "{err}");
    }

    #[test]
    fn names_that_read_as_urls_are_refused() {
        let err = Config::parse(
            "[servers.\"https://a\"]\nurl = \"https://a.example\"\n",
            Path::new("."),
        )
        .unwrap_err();
        assert!(err.contains("server name"), "{err}");
    }

    #[test]
    fn a_missing_file_is_an_empty_config_and_a_bad_one_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CONFIG_FILE);
        let empty = Config::load_from(&path).unwrap();
        assert!(empty.servers.is_empty());
        std::fs::write(&path, "[servers.a]\n").unwrap();
        let err = Config::load_from(&path).unwrap_err();
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn client_secrets_are_read_from_their_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("s"), "  top-secret \nignored\n").unwrap();
        let text = "[servers.a]\nurl = \"https://a.example\"\nclient_secret_file = \"s\"\n";
        std::fs::write(dir.path().join(CONFIG_FILE), text).unwrap();
        let config = Config::load_from(&dir.path().join(CONFIG_FILE)).unwrap();
        let secret = config
            .resolve("a")
            .unwrap()
            .client_secret()
            .unwrap()
            .unwrap();
        assert_eq!(secret.secret(), "top-secret");
        std::fs::write(dir.path().join("s"), "\n").unwrap();
        assert!(config.resolve("a").unwrap().client_secret().is_err());
    }

    #[test]
    fn env_overrides_win_over_platform_dirs() {
        let dir = dir_from(Some("/tmp/x".into()), |p| p.config_dir()).unwrap();
        assert_eq!(dir, PathBuf::from("/tmp/x"));
        // An empty override is ignored rather than meaning the current directory.
        if let Ok(platform) = dir_from(Some("".into()), |p| p.config_dir()) {
            assert_ne!(platform, PathBuf::new());
        }
    }

    #[test]
    fn a_well_known_name_resolves_to_its_registry_url() {
        let linear = Config::default().resolve("linear").unwrap();
        assert_eq!(linear.name.as_deref(), Some("linear"));
        assert_eq!(linear.url.as_str(), "https://mcp.linear.app/mcp");
        assert_eq!(linear.url, known_server("linear").unwrap().url);
        // Its URL means the same entry, in any canonical spelling.
        let by_url = Config::default()
            .resolve("HTTPS://MCP.LINEAR.APP/mcp/")
            .unwrap();
        assert_eq!(by_url.name.as_deref(), Some("linear"));
    }

    #[test]
    fn a_configured_server_replaces_the_well_known_one_of_that_name() {
        let text = "[servers.github]\nurl = \"https://ghe.example/mcp\"\nclient_id = \"mine\"\n";
        let config = Config::parse(text, Path::new("/")).unwrap();
        let github = config.resolve("github").unwrap();
        assert_eq!(github.url.as_str(), "https://ghe.example/mcp");
        assert_eq!(github.client_id.as_deref(), Some("mine"));
        // Replaced as a whole: nothing of the built-in entry is merged in.
        assert_eq!(github.client_required, None);
        // By URL too, the configured server wins over the well-known one.
        let text = "[servers.mine]\nurl = \"https://mcp.linear.app/mcp\"\nscope = \"read\"\n";
        let config = Config::parse(text, Path::new("/")).unwrap();
        let by_url = config.resolve("https://mcp.linear.app/mcp").unwrap();
        assert_eq!(by_url.name.as_deref(), Some("mine"));
        assert_eq!(config.resolve("linear").unwrap().scope, None);
    }

    #[test]
    fn a_server_that_needs_a_client_stops_a_login_without_one() {
        let github = Config::default().resolve("github").unwrap();
        let err = github.check_client(None).unwrap_err();
        assert!(matches!(err, Error::Config { .. }), "{err:?}");
        assert_eq!(err.code(), "CONFIG");
        let msg = err.to_string();
        assert!(
            msg.contains("`github`")
                && msg.contains(NEEDS_PREREGISTERED_CLIENT)
                && msg.contains("OAuth app")
                && msg.contains("[servers.github]"),
            "{msg}"
        );
        let hint = err.hint().unwrap();
        assert!(
            hint.contains("--client-id") && hint.contains("client_id"),
            "{hint}"
        );
        // A client id from a flag or from the configuration lets the login go on.
        github.check_client(Some("Ov23li")).unwrap();
        let mut configured = github.clone();
        configured.client_id = Some("Ov23li".into());
        configured.check_client(None).unwrap();
        // Servers with dynamic registration need nothing.
        sample()
            .resolve("local")
            .unwrap()
            .check_client(None)
            .unwrap();
        // Other configuration errors keep their own hint.
        let other = sample().resolve("wrok").unwrap_err();
        assert_ne!(other.hint(), err.hint());
    }

    #[test]
    fn an_unknown_name_points_at_the_well_known_list() {
        let err = Config::default().resolve("linaer").unwrap_err();
        assert!(err.to_string().contains("mcpauth servers"), "{err}");
    }

    #[test]
    fn round_trips_through_toml() {
        let config = sample();
        let text = toml::to_string(&config).unwrap();
        let back = Config::parse(&text, Path::new("/")).unwrap();
        assert_eq!(back.servers, config.servers);
    }
}
