//! The command line: subcommands, flags, and the policy they amount to.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use mcpauth::config::{MachineSettings, ServerConfig};
use mcpauth_core::Policy;

/// Environment variable holding a static bearer token, used instead of OAuth by `token`.
pub const BEARER_TOKEN_ENV: &str = "MCPAUTH_BEARER_TOKEN";

#[derive(Parser)]
#[command(name = "mcpauth", version, about = "OAuth 2.1 logins for MCP servers")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Allow plain-http authorization servers on non-loopback hosts. For test setups only:
    /// tokens then cross the network in clear.
    #[arg(long, global = true, hide = true)]
    pub dangerously_allow_insecure_http: bool,
    /// Accept MCP servers of the 2025-03-26 revision (authorization server at the MCP
    /// server's origin, default endpoints).
    #[arg(long, global = true)]
    pub legacy_2025_03_26: bool,
    /// Seconds each HTTP request may take.
    #[arg(long, global = true, default_value_t = 30)]
    pub http_timeout: u64,
    /// Which of several logins to a server to use, such as `work` or `personal` (default: the
    /// server's `profile` in the configuration, then the top-level one, else the unnamed one).
    #[arg(long, global = true, env = "MCPAUTH_PROFILE")]
    pub profile: Option<String>,
}

impl Cli {
    /// The checks in force for `server`: the defaults, weakened only where a flag or the
    /// server's configuration says so.
    pub fn policy(&self, server: Option<&ServerConfig>, assume_pkce_s256: bool) -> Policy {
        let mut policy = Policy::default();
        policy.dangerously_allow_insecure_http = self.dangerously_allow_insecure_http;
        policy.legacy_2025_03_26_fallbacks = self.legacy_2025_03_26;
        policy.dangerously_assume_pkce_s256 =
            assume_pkce_s256 || server.is_some_and(|s| s.dangerously_assume_pkce_s256);
        policy
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Log in to an MCP server (discovery, registration, authorization in the browser).
    Login(LoginArgs),
    /// Print a valid access token for a server on stdout, refreshing it if needed.
    Token {
        /// Server URL or configured name.
        server: String,
        /// Read a static bearer token from this file instead of using OAuth.
        #[arg(long)]
        bearer_token_file: Option<PathBuf>,
        /// Print a JSON object (`access_token`, `token_type`, `expires_at`, `expires_in`,
        /// `scope`, `issuer`, `server`, `profile`) instead of the bare token.
        #[arg(long)]
        json: bool,
    },
    /// Show every login (only those of `--profile` when it is given).
    Status {
        /// Print a JSON array of the logins instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke and forget the tokens for a server, or for every server.
    Logout {
        /// Server URL or configured name.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        server: Option<String>,
        /// Log out of every login (only those of `--profile` when it is given).
        #[arg(long)]
        all: bool,
    },
    /// List the well-known servers and the configured ones (names to log in with).
    Servers {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script on stdout.
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
    /// Serve a remote OAuth-protected MCP server as a local one (stdio, or loopback HTTP
    /// with --listen), logging in on first use.
    Proxy(ProxyArgs),
}

#[derive(Args, Clone)]
pub struct LoginArgs {
    /// Server URL or configured name.
    pub server: String,
    /// Use the device flow (enter a code on another device).
    #[arg(long, conflicts_with = "paste")]
    pub device: bool,
    /// Paste the address the browser was redirected to (for SSH sessions).
    #[arg(long)]
    pub paste: bool,
    /// Print the URL instead of opening a browser.
    #[arg(long)]
    pub no_browser: bool,
    #[command(flatten)]
    pub login: LoginOptionArgs,
}

/// How a login is made, shared by `login` and `proxy` (which logs in on first use).
#[derive(Args, Clone)]
pub struct LoginOptionArgs {
    /// Scopes to request (space-separated), instead of the server's challenge or list.
    #[arg(long)]
    pub scope: Option<String>,
    /// A pre-registered client id (skips registration).
    #[arg(long)]
    pub client_id: Option<String>,
    /// A file holding the pre-registered client's secret.
    #[arg(long, requires = "client_id")]
    pub client_secret_file: Option<PathBuf>,
    /// The https URL of this client's ID metadata document, for servers that support it.
    #[arg(long)]
    pub client_metadata_url: Option<String>,
    /// The authorization server's issuer, skipping protected resource metadata.
    #[arg(long)]
    pub issuer: Option<String>,
    /// A fixed port for the loopback callback (default: any free port).
    #[arg(long)]
    pub port: Option<u16>,
    /// An extra authorization request parameter, `name=value` (repeatable).
    #[arg(long = "param", value_parser = parse_param)]
    pub params: Vec<(String, String)>,
    /// Leave out the RFC 8707 `resource` parameter, for authorization servers that reject it
    /// (Microsoft Entra ID). Tokens are then not bound to this server.
    #[arg(long)]
    pub omit_resource: bool,
    /// Seconds the whole login may take, waiting for the user included (browser, paste or
    /// device flow).
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    /// Authorize even though the authorization server does not advertise PKCE S256, trusting
    /// that it supports it. Without PKCE a stolen authorization code can be redeemed by
    /// anyone: use this only for a server you know enforces S256 without saying so.
    #[arg(long)]
    pub dangerously_assume_pkce_s256: bool,
    #[command(flatten)]
    pub machine: MachineArgs,
}

/// Logins without a user (client credentials, workload identity, enterprise-managed), DPoP
/// and `audience`: the flags of the configuration keys of the same names.
#[derive(Args, Clone, Default)]
pub struct MachineArgs {
    /// Log in as the client itself (OAuth client credentials grant), with --client-id and
    /// --client-secret-file or --private-key. No browser; a new token is obtained the same way
    /// when one expires.
    #[arg(long, help_heading = "Machine logins")]
    pub client_credentials: bool,
    /// The client's private key for private_key_jwt: PEM (PKCS#8, SEC1 or PKCS#1; P-256 or
    /// RSA) or a private JWK.
    #[arg(long, value_name = "FILE", help_heading = "Machine logins")]
    pub private_key: Option<PathBuf>,
    /// Workload identity: log in with the jwt-bearer grant and the workload's token in this
    /// file (read again whenever a new token is needed).
    #[arg(long, value_name = "FILE", help_heading = "Machine logins", conflicts_with_all = ["client_credentials", "workload_token_env"])]
    pub workload_token_file: Option<PathBuf>,
    /// Workload identity, with the workload's token in this environment variable.
    #[arg(
        long,
        value_name = "VAR",
        help_heading = "Machine logins",
        conflicts_with = "client_credentials"
    )]
    pub workload_token_env: Option<String>,
    /// Enterprise-managed authorization: the user's ID token from the enterprise IdP, in this
    /// file; exchanged at --idp-token-endpoint for an ID-JAG, presented to the server's
    /// authorization server.
    #[arg(long, value_name = "FILE", help_heading = "Machine logins", conflicts_with_all = ["client_credentials", "workload_token_file", "workload_token_env", "id_token_env"], requires_all = ["idp_token_endpoint", "idp_client_id"])]
    pub id_token_file: Option<PathBuf>,
    /// Enterprise-managed authorization, with the ID token in this environment variable.
    #[arg(long, value_name = "VAR", help_heading = "Machine logins", conflicts_with_all = ["client_credentials", "workload_token_file", "workload_token_env"], requires_all = ["idp_token_endpoint", "idp_client_id"])]
    pub id_token_env: Option<String>,
    /// The enterprise IdP's token endpoint.
    #[arg(long, value_name = "URL", help_heading = "Machine logins")]
    pub idp_token_endpoint: Option<url::Url>,
    /// This client's id at the enterprise IdP.
    #[arg(long, value_name = "ID", help_heading = "Machine logins")]
    pub idp_client_id: Option<String>,
    /// A file holding this client's secret at the enterprise IdP, if it is confidential there.
    #[arg(
        long,
        value_name = "FILE",
        help_heading = "Machine logins",
        requires = "idp_client_id"
    )]
    pub idp_client_secret_file: Option<PathBuf>,
    /// Ask for DPoP-bound tokens (RFC 9449): a key made for this login signs a proof on every
    /// token request and every request to the server.
    #[arg(long)]
    pub dpop: bool,
    /// An `audience` parameter for authorization servers that want one (Auth0), sent with the
    /// authorization, token and refresh requests.
    #[arg(long, value_name = "AUDIENCE")]
    pub audience: Option<String>,
}

impl MachineArgs {
    /// The machine login the flags ask for (empty when they ask for none).
    pub fn settings(&self) -> MachineSettings {
        let mut settings = MachineSettings::default();
        settings.client_credentials = self.client_credentials;
        settings
            .workload_token_file
            .clone_from(&self.workload_token_file);
        settings
            .workload_token_env
            .clone_from(&self.workload_token_env);
        settings.id_token_file.clone_from(&self.id_token_file);
        settings.id_token_env.clone_from(&self.id_token_env);
        settings
            .idp_token_endpoint
            .clone_from(&self.idp_token_endpoint);
        settings.idp_client_id.clone_from(&self.idp_client_id);
        settings
            .idp_client_secret_file
            .clone_from(&self.idp_client_secret_file);
        settings
    }
}

/// `mcpauth proxy`: a local MCP server (stdio, or loopback HTTP) in front of a remote one.
#[derive(Args, Clone)]
pub struct ProxyArgs {
    /// Server URL or configured name.
    pub server: String,
    /// Serve Streamable HTTP on this loopback address (such as 127.0.0.1:0, where 0 picks a
    /// free port) instead of stdio.
    #[arg(long, value_name = "ADDR", value_parser = parse_listen)]
    pub listen: Option<String>,
    /// Also append the log to this file (the log always goes to stderr).
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Log in with the device flow when a login is needed.
    #[arg(long, conflicts_with = "no_login")]
    pub device: bool,
    /// Never log in: requests that need a login get an error naming `mcpauth login`.
    #[arg(long)]
    pub no_login: bool,
    #[command(flatten)]
    pub login: LoginOptionArgs,
}

/// Refuses a non-loopback `--listen` address before anything starts.
fn parse_listen(s: &str) -> std::result::Result<String, String> {
    mcpauth::bridge::listen_address(s)
        .map(|_| s.to_owned())
        .map_err(|e| e.to_string())
}

fn parse_param(s: &str) -> std::result::Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("`{s}` is not name=value"))
}

#[cfg(test)]
mod tests;
