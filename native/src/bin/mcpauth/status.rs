//! `mcpauth status`.

use std::io::Write as _;
use std::time::Duration;

use mcpauth::Result;
use mcpauth::session::{LoginStatus, Profile, Session};

/// Prints the logins (of `only`, when given) as a table, or as the core's [`LoginStatus`]
/// records in a JSON array, the shape the npm package's `status()` returns.
pub fn status(session: &Session, only: Option<&Profile>, json: bool) -> Result<()> {
    let logins: Vec<LoginStatus> = session
        .status()?
        .into_iter()
        .filter(|l| only.is_none() || l.profile.as_ref() == only)
        .collect();
    if json {
        let text = serde_json::to_string_pretty(&logins).map_err(|e| mcpauth::Error::Store {
            reason: format!("cannot encode the logins as JSON: {e}"),
        })?;
        writeln!(std::io::stdout().lock(), "{text}")?;
        return Ok(());
    }
    if logins.is_empty() {
        eprintln!("No logins. Run `mcpauth login <server>`.");
        return Ok(());
    }
    // The profile column only when some login has one, so a single-account user's table is
    // as short as before.
    let profiles = logins.iter().any(|l| l.profile.is_some());
    let rows: Vec<Vec<String>> = logins
        .iter()
        .map(|l| {
            let mut row = vec![l.server.clone()];
            if profiles {
                row.push(
                    l.profile
                        .as_ref()
                        .map_or_else(|| "-".into(), ToString::to_string),
                );
            }
            row.extend([
                l.issuer.clone(),
                l.scope.clone().unwrap_or_else(|| "-".into()),
                expires(l.expires_in(), l.refreshable),
                l.identity.clone().unwrap_or_else(|| "-".into()),
            ]);
            row
        })
        .collect();
    let mut header = vec!["SERVER"];
    if profiles {
        header.push("PROFILE");
    }
    header.extend(["ISSUER", "SCOPES", "EXPIRES IN", "USER"]);
    let header: Vec<String> = header.into_iter().map(String::from).collect();
    let mut widths = vec![0usize; header.len()];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    // One write per buffer, not per line (stdout is line-buffered): thousands of logins print
    // in a few writes.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, &w)| format!("{cell:<w$}"))
            .collect();
        writeln!(out, "{}", line.join("  ").trim_end())?;
    }
    out.flush()?;
    Ok(())
}

fn expires(left: Option<Duration>, refreshable: bool) -> String {
    let refresh = if refreshable { " (refreshable)" } else { "" };
    match left {
        None => format!("never{refresh}"),
        Some(d) if d.is_zero() => format!("expired{refresh}"),
        Some(d) => {
            let s = d.as_secs();
            let text = if s >= 3600 {
                format!("{}h{:02}m", s / 3600, s % 3600 / 60)
            } else {
                format!("{}m{:02}s", s / 60, s % 60)
            };
            format!("{text}{refresh}")
        }
    }
}
