//! `mcpauth logout`: one server, or every login.

use mcpauth::config::ServerConfig;
use mcpauth::session::{Profile, Session};
use mcpauth::{Error, Result};

/// Logs the session's profile out of `server`.
pub async fn logout(session: &Session, server: &ServerConfig) -> Result<()> {
    // A revocation that failed was shown as a warning when it happened.
    let warnings = session.logout(server.url.as_str()).await?;
    eprintln!(
        "Logged out of {}{}.",
        describe(server.url.as_str(), session.profile()),
        unconfirmed(&warnings)
    );
    Ok(())
}

/// Logs out of every stored login, or of every login of `only`. Goes on past a failure, so
/// one unreachable server does not keep the others logged in; the first failure is returned.
pub async fn logout_all(session: &Session, only: Option<&Profile>) -> Result<()> {
    let logins: Vec<_> = session
        .status()?
        .into_iter()
        .filter(|l| only.is_none() || l.profile.as_ref() == only)
        .collect();
    if logins.is_empty() {
        eprintln!("No logins.");
        return Ok(());
    }
    let mut first_error: Option<Error> = None;
    for login in &logins {
        let session = session.with_profile(login.profile.clone());
        let what = describe(&login.server, login.profile.as_ref());
        match session.logout(&login.server).await {
            Ok(warnings) => eprintln!("Logged out of {what}{}.", unconfirmed(&warnings)),
            Err(e) => {
                eprintln!("Could not log out of {what}: {e}");
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

fn describe(server: &str, profile: Option<&Profile>) -> String {
    match profile {
        Some(profile) => format!("{server} (profile {profile})"),
        None => server.to_owned(),
    }
}

fn unconfirmed(warnings: &[Error]) -> &'static str {
    if warnings.is_empty() {
        ""
    } else {
        " (the server did not confirm the revocation)"
    }
}
