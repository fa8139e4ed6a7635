//! The command line: subcommands, flags, and the policy they amount to.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use mcpauth::config::ServerConfig;
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
    },
    /// Show every login.
    Status,
    /// Revoke and forget the tokens for a server.
    Logout {
        /// Server URL or configured name.
        server: String,
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
}

/// `mcpauth proxy`: a local MCP server (stdio, or loopback HTTP) in front of a remote one.
#[derive(Args, Clone)]
pub struct ProxyArgs {
    /// Server URL or configured name.
    pub server: String,
    /// Serve Streamable HTTP on this loopback address (such as 127.0.0.1:0, where 0 picks a
    /// free port) instead of stdio.
    #[arg(long, value_name = "ADDR")]
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

fn parse_param(s: &str) -> std::result::Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("`{s}` is not name=value"))
}
