//! `mcpauth status`.

use std::io::Write as _;
use std::time::Duration;

use mcpauth::Result;
use mcpauth::session::Session;

pub fn status(session: &Session) -> Result<()> {
    let logins = session.status()?;
    if logins.is_empty() {
        eprintln!("No logins. Run `mcpauth login <server>`.");
        return Ok(());
    }
    let rows: Vec<[String; 5]> = logins
        .iter()
        .map(|l| {
            [
                l.server.clone(),
                l.issuer.clone(),
                l.scope.clone().unwrap_or_else(|| "-".into()),
                expires(l.expires_in(), l.refreshable),
                l.identity.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let header = ["SERVER", "ISSUER", "SCOPES", "EXPIRES IN", "USER"].map(String::from);
    let mut widths = [0usize; 5];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = std::io::stdout().lock();
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        writeln!(out, "{}", line.join("  ").trim_end())?;
    }
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
