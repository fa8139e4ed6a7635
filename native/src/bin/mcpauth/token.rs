//! `mcpauth token`: a valid access token on stdout, and nothing else (or one JSON object).

use std::io::Write as _;
use std::path::Path;

use mcpauth::Result;
use mcpauth::config::ServerConfig;
use mcpauth::session::Session;
use serde::Serialize;

use crate::cli::BEARER_TOKEN_ENV;
use crate::login::read_secret;

/// What `token --json` prints: the token with what a script needs to decide about it. The
/// names are OAuth's (RFC 6749 §5.1) where OAuth has one.
#[derive(Serialize)]
struct TokenJson<'a> {
    access_token: &'a str,
    token_type: &'a str,
    /// Unix seconds; absent when the server gave no lifetime.
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<u64>,
    /// Seconds left; absent when the server gave no lifetime.
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_in: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    issuer: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<&'a str>,
}

/// A static bearer token from `--bearer-token-file` or the environment, which short-circuits
/// OAuth for servers that take one.
pub fn static_bearer(file: Option<&Path>) -> Result<Option<String>> {
    if let Some(path) = file {
        return Ok(Some(read_secret(path)?.secret().to_owned()));
    }
    Ok(std::env::var(BEARER_TOKEN_ENV)
        .ok()
        .filter(|t| !t.is_empty()))
}

/// Prints a static bearer token (as JSON: the token and its type only).
pub fn print_static(token: &str, json: bool) -> Result<()> {
    print(
        &TokenJson {
            access_token: token,
            token_type: "Bearer",
            expires_at: None,
            expires_in: None,
            scope: None,
            issuer: None,
            server: None,
            profile: None,
        },
        json,
    )
}

/// Prints the session's token for `server`, refreshed first when it is about to expire.
pub async fn token(session: &Session, server: &ServerConfig, json: bool) -> Result<()> {
    let grant = session.fresh_grant(server.url.as_str()).await?;
    let now = std::time::SystemTime::now();
    let expires_at = grant.tokens.expires_at;
    print(
        &TokenJson {
            access_token: grant.tokens.access_token.secret(),
            token_type: &grant.tokens.token_type,
            expires_at: expires_at.map(|t| t.unix_millis() / 1000),
            expires_in: expires_at.map(|t| mcpauth_core::Time::from(now).until(t).as_secs()),
            scope: grant.tokens.scope.as_deref(),
            issuer: Some(&grant.issuer),
            server: Some(grant.server.as_str()),
            profile: session.profile().map(|p| p.as_str()),
        },
        json,
    )
}

fn print(token: &TokenJson<'_>, json: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        let text = serde_json::to_string(token).map_err(|e| mcpauth::Error::Store {
            reason: format!("cannot encode the token as JSON: {e}"),
        })?;
        writeln!(out, "{text}")?;
    } else {
        writeln!(out, "{}", token.access_token)?;
    }
    Ok(())
}
