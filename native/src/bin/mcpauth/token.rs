//! `mcpauth token`.

use std::io::Write as _;
use std::path::PathBuf;

use mcpauth::Result;
use mcpauth::config::Config;
use mcpauth::session::Session;

use crate::cli::BEARER_TOKEN_ENV;
use crate::login::read_secret;

pub async fn token(
    session: &Session,
    config: &Config,
    server: &str,
    bearer_token_file: Option<PathBuf>,
) -> Result<()> {
    let token = if let Some(path) = bearer_token_file {
        read_secret(&path)?.secret().to_owned()
    } else if let Some(token) = std::env::var(BEARER_TOKEN_ENV)
        .ok()
        .filter(|t| !t.is_empty())
    {
        token
    } else {
        let server = config.resolve(server)?;
        session
            .access_token(server.url.as_str())
            .await?
            .secret()
            .to_owned()
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{token}")?;
    Ok(())
}
