//! `mcpauth login`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mcpauth::config::{Naming, ServerConfig};
use mcpauth::session::{Flow, LoginOptions, ManualEndpoints, PreRegisteredClient, Session};
use mcpauth::{ClientKey, Error, Result};
use mcpauth_core::ClientSecret;

use crate::cli::{LoginArgs, LoginOptionArgs};

pub async fn login(session: &Session, server: ServerConfig, args: LoginArgs) -> Result<()> {
    let mut options = login_options(&server, &args.login)?;
    options.flow = match (args.device, args.paste) {
        (true, _) => Flow::Device,
        (_, true) => Flow::Paste,
        _ => Flow::Browser,
    };
    let summary = session.login(server.url.as_str(), &options).await?;
    let who = summary
        .identity
        .map(|i| format!(" as {i}"))
        .unwrap_or_default();
    let profile = session
        .profile()
        .map(|p| format!(", profile {p}"))
        .unwrap_or_default();
    eprintln!(
        "Logged in to {}{who} (authorization server {}{profile}).",
        summary.grant.server, summary.grant.issuer
    );
    Ok(())
}

/// The options of a login to `server` (browser flow; callers choose another): the flags,
/// else the server's configuration. The one place `login` and `proxy` build them.
pub fn login_options(server: &ServerConfig, args: &LoginOptionArgs) -> Result<LoginOptions> {
    let args = args.clone();
    let mut options = LoginOptions::default();
    options.scope = args.scope.or_else(|| server.scope.clone());
    options.client = preregistered(server, args.client_id, args.client_secret_file)?;
    options.client_metadata_url = args.client_metadata_url;
    options.issuer = args.issuer;
    options.port = args.port;
    options.timeout = Duration::from_secs(args.timeout);
    options.extra_params = server.extra_params.clone().into_iter().collect();
    options.extra_params.extend(args.params);
    options.dangerously_omit_resource = args.omit_resource || server.omit_resource;
    options.server_headers = server.headers.clone().into_iter().collect();
    let machine = args.machine.settings();
    options.grant = if machine.is_empty() {
        server.machine_grant()?
    } else {
        machine.grant(Naming::Flags)?
    };
    options.dpop = args.machine.dpop || server.dpop;
    options.audience = args.machine.audience.or_else(|| server.audience.clone());
    if let (Some(authorization_endpoint), Some(token_endpoint)) =
        (&server.authorization_endpoint, &server.token_endpoint)
    {
        options.endpoints = Some(ManualEndpoints {
            issuer: options.issuer.clone(),
            authorization_endpoint: authorization_endpoint.clone(),
            token_endpoint: token_endpoint.clone(),
        });
    }
    Ok(options)
}

/// The `private_key_jwt` key: `--private-key`, else the server's `private_key`. The session
/// signs with it, for the login and for every token obtained again later.
pub fn client_key(server: &ServerConfig, flag: Option<&Path>) -> Result<Option<ClientKey>> {
    match flag {
        Some(path) => ClientKey::from_file(path).map(Some),
        None => server.client_key(),
    }
}

/// Credentials from flags, else from the configuration file.
fn preregistered(
    server: &ServerConfig,
    client_id: Option<String>,
    secret_file: Option<PathBuf>,
) -> Result<Option<PreRegisteredClient>> {
    server.check_client(client_id.as_deref())?;
    let from_flags = client_id.is_some();
    let Some(client_id) = client_id.or_else(|| server.client_id.clone()) else {
        return Ok(None);
    };
    let client_secret = match secret_file {
        Some(path) => Some(read_secret(&path)?),
        None if !from_flags => server.client_secret()?,
        None => None,
    };
    Ok(Some(PreRegisteredClient {
        client_id,
        client_secret,
        auth_method: None,
        issuer: None,
        key_alg: None,
        key_id: None,
    }))
}

pub fn read_secret(path: &std::path::Path) -> Result<ClientSecret> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
        reason: format!("cannot read {}: {e}", path.display()),
    })?;
    Ok(ClientSecret::new(text.trim()))
}
