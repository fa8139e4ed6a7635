//! Diagnostics on stderr, off unless asked for: `MCPAUTH_LOG=debug` (or `trace`) logs what the
//! driver does (requests without query values, responses by status and size, events by kind,
//! store operations by key kind; never a token, code or secret). A value with `=` or `,` is a
//! filter by target (`MCPAUTH_LOG=mcpauth=trace,zbus=debug`); without `MCPAUTH_LOG`,
//! `RUST_LOG` is read as such a filter.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Installs the stderr subscriber when `MCPAUTH_LOG` or `RUST_LOG` asks for one. A value that
/// does not parse is reported once and ignored: logging must never stop the command.
pub(crate) fn init_from_env() {
    let (name, spec) = match std::env::var("MCPAUTH_LOG") {
        Ok(spec) => ("MCPAUTH_LOG", spec),
        Err(_) => match std::env::var("RUST_LOG") {
            Ok(spec) => ("RUST_LOG", spec),
            Err(_) => return,
        },
    };
    let filter = match filter(name, spec.trim()) {
        Ok(filter) => filter,
        Err(reason) => {
            eprintln!("warning: ignoring {name}={spec}: {reason}");
            return;
        }
    };
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false);
    // Fails only when a subscriber is set already, and then that one logs.
    let _ = tracing_subscriber::registry()
        .with(layer)
        .with(filter)
        .try_init();
}

/// A bare level in `MCPAUTH_LOG` is for mcpauth's own targets only (a dependency's trace
/// output is not what its users asked for); anything else is a filter by target.
fn filter(name: &str, spec: &str) -> Result<Targets, String> {
    let bare = name == "MCPAUTH_LOG" && !spec.contains(['=', ',']);
    if bare {
        let level: LevelFilter = spec.parse().map_err(|e| format!("{e}"))?;
        return Ok(Targets::new().with_target("mcpauth", level));
    }
    spec.parse::<Targets>().map_err(|e| format!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_level_names_mcpauth_only_and_a_filter_is_taken_as_given() {
        let bare = filter("MCPAUTH_LOG", "trace").unwrap();
        assert!(bare.would_enable("mcpauth::driver", &tracing::Level::TRACE));
        assert!(!bare.would_enable("hyper", &tracing::Level::ERROR));
        let given = filter("RUST_LOG", "debug").unwrap();
        assert!(given.would_enable("hyper", &tracing::Level::DEBUG));
        assert!(filter("MCPAUTH_LOG", "loud").is_err());
    }
}
