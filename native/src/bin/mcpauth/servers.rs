//! `mcpauth servers`: the names `login`, `token` and `logout` take, from the configuration
//! file and from the built-in registry of well-known servers.

use std::io::Write as _;

use mcpauth::Result;
use mcpauth::config::{CONFIG_FILE, Config, ServerConfig, known_servers};
use serde_json::{Value, json};

/// One line of the listing.
struct Row {
    name: String,
    server: ServerConfig,
    title: Option<String>,
    /// The documentation of a well-known server; `None` for a configured one.
    source: Option<String>,
    notes: Option<String>,
}

pub fn servers(config: &Config, json: bool) -> Result<()> {
    let rows = rows(config);
    let mut out = std::io::stdout().lock();
    if json {
        let list: Vec<Value> = rows.iter().map(to_json).collect();
        writeln!(out, "{}", Value::Array(list))?;
        return Ok(());
    }
    let file = config
        .path
        .as_deref()
        .map_or_else(|| CONFIG_FILE.to_owned(), |p| p.display().to_string());
    let cells: Vec<[String; 4]> = rows
        .iter()
        .map(|r| {
            let needs = needs(&r.server);
            [
                r.name.clone(),
                r.server.url.to_string(),
                if needs.is_empty() {
                    "-".to_owned()
                } else {
                    needs.join(", ")
                },
                r.source
                    .clone()
                    .unwrap_or_else(|| format!("configured ({file})")),
            ]
        })
        .collect();
    let header = ["NAME", "URL", "NEEDS", "SOURCE"].map(String::from);
    let mut widths = [0usize; 4];
    for row in std::iter::once(&header).chain(&cells) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&cells) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        writeln!(out, "{}", line.join("  ").trim_end())?;
    }
    eprintln!(
        "Log in with `mcpauth login <name>`. A [servers.<name>] table in {file} adds a server, \
         or replaces the well-known one of that name."
    );
    Ok(())
}

/// Configured servers, then the well-known ones that no configured server replaces; each
/// group sorted by name.
fn rows(config: &Config) -> Vec<Row> {
    let configured = config.servers.iter().map(|(name, server)| Row {
        name: name.clone(),
        server: server.clone(),
        title: None,
        source: None,
        notes: None,
    });
    let known = known_servers()
        .iter()
        .filter(|k| !config.servers.contains_key(&k.name))
        .map(|k| Row {
            name: k.name.clone(),
            server: k.server_config(),
            title: Some(k.title.clone()),
            source: Some(k.source.to_string()),
            notes: k.notes.clone(),
        });
    configured.chain(known).collect()
}

/// What a login to the server needs beyond discovery, in a word or two each.
fn needs(server: &ServerConfig) -> Vec<&'static str> {
    let mut needs = Vec::new();
    if server.client_required.is_some() && server.client_id.is_none() {
        needs.push("client_id");
    }
    if server.omit_resource {
        needs.push("omit_resource");
    }
    needs
}

fn to_json(row: &Row) -> Value {
    json!({
        "name": row.name,
        "url": row.server.url.as_str(),
        "title": row.title,
        "configured": row.source.is_none(),
        "source": row.source,
        "needs": needs(&row.server),
        "client_required": row.server.client_required,
        "omit_resource": row.server.omit_resource,
        "scope": row.server.scope,
        "notes": row.notes,
    })
}
