//! Reading the credentials a machine login presents (a workload's token, an employee's ID
//! token) where the core's [`Event::Credential`](mcpauth_core::flow::Event) says: a file or an
//! environment variable. Read again each time a token is obtained, so a token the platform
//! rotates (a projected Kubernetes service account token, say) is picked up on expiry.

use mcpauth_core::flow::CredentialSource;

/// The credential `source` holds, without surrounding whitespace; or why it cannot be had.
/// The reason is for the core's [`CredentialUnavailable`](mcpauth_core::UsageError) error,
/// which names the file or variable itself; it never contains the credential.
pub(crate) fn read_credential(source: &CredentialSource) -> Result<String, String> {
    let value = match source {
        CredentialSource::Value { value } => return Ok(value.secret().to_owned()),
        CredentialSource::File { path } => {
            std::fs::read_to_string(path).map_err(|e| e.to_string())?
        }
        CredentialSource::Env { name } => std::env::var(name).map_err(|e| match e {
            std::env::VarError::NotPresent => "it is not set".to_owned(),
            std::env::VarError::NotUnicode(_) => "it is not valid UTF-8".to_owned(),
        })?,
        _ => return Err("this version of mcpauth cannot read such a credential".to_owned()),
    };
    let value = value.trim();
    if value.is_empty() {
        return Err("it is empty".to_owned());
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &std::path::Path) -> CredentialSource {
        serde_json::from_value(serde_json::json!({"kind": "file", "path": path})).unwrap()
    }

    fn env(name: &str) -> CredentialSource {
        serde_json::from_value(serde_json::json!({"kind": "env", "name": name})).unwrap()
    }

    #[test]
    fn a_file_credential_is_read_again_each_time_without_surrounding_whitespace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "  eyJ.first.sig \n").unwrap();
        assert_eq!(read_credential(&file(&path)).unwrap(), "eyJ.first.sig");
        std::fs::write(&path, "eyJ.rotated.sig\n").unwrap();
        assert_eq!(read_credential(&file(&path)).unwrap(), "eyJ.rotated.sig");
    }

    #[test]
    fn an_env_credential_is_read_from_its_variable() {
        // The crate forbids unsafe code, so no test sets a variable (`set_var` is unsafe in
        // Rust 2024): PATH is set wherever tests run.
        let path = std::env::var("PATH").unwrap();
        assert_eq!(read_credential(&env("PATH")).unwrap(), path.trim());
    }

    #[test]
    fn a_missing_or_empty_credential_is_an_error_without_a_value() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_credential(&file(&dir.path().join("absent"))).unwrap_err();
        assert!(
            err.contains("No such file") || err.contains("cannot find"),
            "{err}"
        );
        let empty = dir.path().join("empty-token");
        std::fs::write(&empty, " \n").unwrap();
        assert_eq!(read_credential(&file(&empty)).unwrap_err(), "it is empty");
        let err = read_credential(&env("MCPAUTH_TEST_CREDENTIAL_NEVER_SET")).unwrap_err();
        assert_eq!(err, "it is not set");
    }
}
