//! Machine logins in the configuration: how a server entry (or the same settings as command
//! line flags) says to obtain tokens without a user, and the client key it signs with.

use std::path::{Path, PathBuf};

use mcpauth_core::flow::{CredentialSource, EnterpriseIdp, MachineGrant};
use url::Url;

use super::ServerConfig;
use crate::error::{Error, Result};
use crate::keys::ClientKey;

/// The settings of a machine login, from a [`ServerConfig`] or from flags: at most one of the
/// client credentials grant, a workload token, or an enterprise ID token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MachineSettings {
    /// The client credentials grant.
    pub client_credentials: bool,
    /// Workload identity: the workload token's file.
    pub workload_token_file: Option<PathBuf>,
    /// Workload identity: the workload token's environment variable.
    pub workload_token_env: Option<String>,
    /// Enterprise-managed: the ID token's file.
    pub id_token_file: Option<PathBuf>,
    /// Enterprise-managed: the ID token's environment variable.
    pub id_token_env: Option<String>,
    /// Enterprise-managed: the IdP's token endpoint.
    pub idp_token_endpoint: Option<Url>,
    /// Enterprise-managed: this client's id at the IdP.
    pub idp_client_id: Option<String>,
    /// Enterprise-managed: the file holding this client's secret at the IdP.
    pub idp_client_secret_file: Option<PathBuf>,
}

/// How settings are named in messages: as fields of a server entry, or as flags.
#[derive(Clone, Copy, Debug)]
pub enum Naming<'a> {
    /// Fields under `[servers.<name>]`.
    Config(&'a str),
    /// `--flags`.
    Flags,
}

impl Naming<'_> {
    fn name(self, field: &str) -> String {
        match self {
            Naming::Config(server) => format!("`{field}` of [servers.{server}]"),
            Naming::Flags => format!("--{}", field.replace('_', "-")),
        }
    }
}

impl MachineSettings {
    /// Whether any machine login setting is given.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The grant these settings describe; `None` for a login with a user.
    ///
    /// # Errors
    /// [`Error::Config`] naming the settings (as `naming` calls them) that conflict (two
    /// grants, a file and a variable for one credential) or are missing (an ID token without
    /// its IdP, or the other way round), or the IdP secret file that cannot be read.
    pub fn grant(&self, naming: Naming<'_>) -> Result<Option<MachineGrant>> {
        let workload = source(
            naming,
            ("workload_token_file", &self.workload_token_file),
            ("workload_token_env", &self.workload_token_env),
        )?;
        let id_token = source(
            naming,
            ("id_token_file", &self.id_token_file),
            ("id_token_env", &self.id_token_env),
        )?;
        let kinds = [
            self.client_credentials.then_some("client_credentials"),
            workload.as_ref().map(|(field, _)| *field),
            id_token.as_ref().map(|(field, _)| *field),
        ];
        let chosen: Vec<&str> = kinds.into_iter().flatten().collect();
        if let [first, second, ..] = chosen[..] {
            return Err(config(format!(
                "{} and {} are two ways to log in; give one",
                naming.name(first),
                naming.name(second)
            )));
        }
        let idp_given = self.idp_token_endpoint.is_some()
            || self.idp_client_id.is_some()
            || self.idp_client_secret_file.is_some();
        if idp_given && id_token.is_none() {
            return Err(config(format!(
                "the enterprise IdP settings need the ID token: {} or {}",
                naming.name("id_token_file"),
                naming.name("id_token_env")
            )));
        }
        if self.client_credentials {
            return Ok(Some(MachineGrant::ClientCredentials));
        }
        if let Some((_, assertion)) = workload {
            return Ok(Some(MachineGrant::JwtBearer { assertion }));
        }
        let Some((_, id_token)) = id_token else {
            return Ok(None);
        };
        let missing = |field: &str| {
            config(format!(
                "enterprise-managed authorization needs {}",
                naming.name(field)
            ))
        };
        let endpoint = self
            .idp_token_endpoint
            .as_ref()
            .ok_or_else(|| missing("idp_token_endpoint"))?;
        let client_id = self
            .idp_client_id
            .as_ref()
            .ok_or_else(|| missing("idp_client_id"))?;
        let mut idp = EnterpriseIdp::new(endpoint.as_str(), client_id.as_str());
        if let Some(path) = &self.idp_client_secret_file {
            idp.client_secret = Some(read_secret_file(
                path,
                &naming.name("idp_client_secret_file"),
            )?);
        }
        Ok(Some(MachineGrant::EnterpriseManaged { id_token, idp }))
    }
}

/// The credential source of a file or a variable setting, with the one that was given.
fn source(
    naming: Naming<'_>,
    (file_field, file): (&'static str, &Option<PathBuf>),
    (env_field, env): (&'static str, &Option<String>),
) -> Result<Option<(&'static str, CredentialSource)>> {
    match (file, env) {
        (Some(_), Some(_)) => Err(config(format!(
            "{} and {} both name the credential; give one",
            naming.name(file_field),
            naming.name(env_field)
        ))),
        (Some(path), None) => Ok(Some((
            file_field,
            CredentialSource::File {
                path: path.display().to_string(),
            },
        ))),
        (None, Some(name)) if name.is_empty() => Err(config(format!(
            "{} is empty: give the variable's name",
            naming.name(env_field)
        ))),
        (None, Some(name)) => Ok(Some((
            env_field,
            CredentialSource::Env { name: name.clone() },
        ))),
        (None, None) => Ok(None),
    }
}

/// The first line of a secret file, trimmed; `what` names the setting in errors.
pub(crate) fn read_secret_file(path: &Path, what: &str) -> Result<mcpauth_core::ClientSecret> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| config(format!("cannot read {what} {}: {e}", path.display())))?;
    let secret = text.lines().next().unwrap_or_default().trim();
    if secret.is_empty() {
        return Err(config(format!("{what} {} is empty", path.display())));
    }
    Ok(mcpauth_core::ClientSecret::new(secret))
}

fn config(reason: String) -> Error {
    Error::Config { reason }
}

impl ServerConfig {
    /// This entry's machine login settings.
    #[must_use]
    pub fn machine_settings(&self) -> MachineSettings {
        MachineSettings {
            client_credentials: self.client_credentials,
            workload_token_file: self.workload_token_file.clone(),
            workload_token_env: self.workload_token_env.clone(),
            id_token_file: self.id_token_file.clone(),
            id_token_env: self.id_token_env.clone(),
            idp_token_endpoint: self.idp_token_endpoint.clone(),
            idp_client_id: self.idp_client_id.clone(),
            idp_client_secret_file: self.idp_client_secret_file.clone(),
        }
    }

    /// How this server's logins obtain tokens without a user, if they do (see
    /// [`MachineSettings::grant`]).
    ///
    /// # Errors
    /// As [`MachineSettings::grant`], naming the entry's fields.
    pub fn machine_grant(&self) -> Result<Option<MachineGrant>> {
        let name = self.name.as_deref().unwrap_or("<name>");
        self.machine_settings().grant(Naming::Config(name))
    }

    /// The `private_key_jwt` key that [`private_key`](Self::private_key) names, loaded.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] naming the file.
    pub fn client_key(&self) -> Result<Option<ClientKey>> {
        self.private_key
            .as_deref()
            .map(ClientKey::from_file)
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn server(text: &str) -> ServerConfig {
        let text = format!("[servers.m]\nurl = \"https://mcp.example/mcp\"\n{text}");
        Config::parse(&text, Path::new("/etc/mcpauth"))
            .unwrap()
            .resolve("m")
            .unwrap()
    }

    #[test]
    fn client_credentials_dpop_audience_and_a_private_key_are_read() {
        let m = server(
            "client_credentials = true\nclient_id = \"bot\"\nprivate_key = \"bot.pem\"\n\
             dpop = true\naudience = \"https://api.example\"\n",
        );
        assert_eq!(
            m.machine_grant().unwrap(),
            Some(MachineGrant::ClientCredentials)
        );
        assert!(m.dpop);
        assert_eq!(m.audience.as_deref(), Some("https://api.example"));
        assert_eq!(
            m.private_key.as_deref(),
            Some(Path::new("/etc/mcpauth/bot.pem"))
        );
        // The key is read when used, and a missing one names its file.
        let err = m.client_key().unwrap_err();
        assert!(err.to_string().contains("/etc/mcpauth/bot.pem"), "{err}");
    }

    #[test]
    fn a_workload_token_file_or_variable_is_a_jwt_bearer_grant() {
        let file = server("workload_token_file = \"/run/token\"\n");
        assert_eq!(
            file.machine_grant().unwrap(),
            Some(MachineGrant::JwtBearer {
                assertion: CredentialSource::File {
                    path: "/run/token".into()
                }
            })
        );
        let env = server("workload_token_env = \"WL_TOKEN\"\n");
        assert_eq!(
            env.machine_grant().unwrap(),
            Some(MachineGrant::JwtBearer {
                assertion: CredentialSource::Env {
                    name: "WL_TOKEN".into()
                }
            })
        );
    }

    #[test]
    fn an_id_token_with_its_idp_is_an_enterprise_managed_grant() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("idp.secret"), "idp-secret\n").unwrap();
        let text = "[servers.corp]\nurl = \"https://mcp.example/mcp\"\nid_token_env = \"ID\"\n\
                    idp_token_endpoint = \"https://idp.example/token\"\nidp_client_id = \"c\"\n\
                    idp_client_secret_file = \"idp.secret\"\n";
        let corp = Config::parse(text, dir.path())
            .unwrap()
            .resolve("corp")
            .unwrap();
        let Some(MachineGrant::EnterpriseManaged { id_token, idp }) = corp.machine_grant().unwrap()
        else {
            panic!("an enterprise-managed grant");
        };
        assert_eq!(id_token, CredentialSource::Env { name: "ID".into() });
        assert_eq!(idp.token_endpoint, "https://idp.example/token");
        assert_eq!(idp.client_id, "c");
        assert_eq!(idp.client_secret.unwrap().secret(), "idp-secret");
    }

    #[test]
    fn conflicting_or_incomplete_machine_settings_name_their_fields() {
        let cases = [
            (
                "client_credentials = true\nworkload_token_env = \"W\"\n",
                [
                    "`client_credentials` of [servers.m]",
                    "`workload_token_env`",
                ],
            ),
            (
                "workload_token_file = \"f\"\nworkload_token_env = \"W\"\n",
                ["`workload_token_file`", "`workload_token_env`"],
            ),
            (
                "id_token_env = \"I\"\nidp_client_id = \"c\"\n",
                ["`idp_token_endpoint`", "[servers.m]"],
            ),
            (
                "idp_token_endpoint = \"https://idp.example/token\"\n",
                ["`id_token_file`", "`id_token_env`"],
            ),
        ];
        for (text, names) in cases {
            let err = server(text).machine_grant().unwrap_err();
            assert_eq!(err.code(), "CONFIG");
            for name in names {
                assert!(err.to_string().contains(name), "{text}: {err}");
            }
        }
        // As flags, they are named as flags.
        let flags = MachineSettings {
            id_token_file: Some("t".into()),
            ..MachineSettings::default()
        };
        let err = flags.grant(Naming::Flags).unwrap_err();
        assert!(err.to_string().contains("--idp-token-endpoint"), "{err}");
    }

    #[test]
    fn an_entry_without_machine_settings_logs_in_with_a_user() {
        let plain = server("");
        assert!(plain.machine_settings().is_empty());
        assert_eq!(plain.machine_grant().unwrap(), None);
        assert!(plain.client_key().unwrap().is_none());
    }
}
