//! The bridge's log: one line per event on stderr, and appended to a file when asked.
//!
//! stdout belongs to the protocol in stdio mode, so nothing else may ever be written there;
//! hosts usually show or keep a server's stderr, and `--log FILE` keeps a copy where the host
//! does not. Lines name methods, statuses and error codes, never a token or a message body.

use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// Where the bridge's log lines go.
#[derive(Debug, Default)]
pub struct Log {
    file: Option<Mutex<std::fs::File>>,
}

impl Log {
    /// Logs to stderr and, if `path` is given, appends to that file too.
    ///
    /// # Errors
    /// [`Error::Config`] naming the file when it cannot be opened for appending.
    pub fn open(path: Option<&Path>) -> Result<Self> {
        let file = match path {
            None => None,
            Some(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| Error::Config {
                        reason: format!("cannot open the log file {}: {e}", path.display()),
                    })?;
                Some(Mutex::new(file))
            }
        };
        Ok(Self { file })
    }

    /// Writes one line. A log that cannot be written does not stop the bridge.
    pub fn line(&self, text: &str) {
        eprintln!("mcpauth proxy: {text}");
        if let Some(file) = &self.file {
            let secs = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let mut file = file
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let _ = writeln!(file, "{secs} {text}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_appended_to_the_log_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("proxy.log");
        std::fs::write(&path, "earlier\n").unwrap();
        let log = Log::open(Some(&path)).unwrap();
        log.line("POST tools/list: 200");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("earlier\n"), "{text}");
        assert!(text.trim_end().ends_with("POST tools/list: 200"), "{text}");
    }

    #[test]
    fn an_unopenable_log_file_is_a_config_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("proxy.log");
        let e = Log::open(Some(&path)).unwrap_err();
        assert_eq!(e.code(), "CONFIG");
        assert!(e.to_string().contains("proxy.log"), "{e}");
    }
}
