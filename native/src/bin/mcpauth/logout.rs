//! `mcpauth logout`.

use mcpauth::Result;
use mcpauth::config::Config;
use mcpauth::session::Session;

pub async fn logout(session: &Session, config: &Config, server: &str) -> Result<()> {
    let server = config.resolve(server)?;
    // A revocation that failed was shown as a warning when it happened.
    let warnings = session.logout(server.url.as_str()).await?;
    let revoked = if warnings.is_empty() {
        ""
    } else {
        " (the server did not confirm the revocation)"
    };
    eprintln!("Logged out of {}{revoked}.", server.url);
    Ok(())
}
