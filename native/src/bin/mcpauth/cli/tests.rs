use clap::Parser as _;
use mcpauth::config::{Config, ServerConfig};
use mcpauth_core::flow::{CredentialSource, MachineGrant};

use super::{Cli, Command, LoginArgs};
use crate::login::{client_key, login_options};

fn parse(args: &[&str]) -> Result<LoginArgs, clap::Error> {
    let mut all = vec!["mcpauth", "login", "https://mcp.example/mcp"];
    all.extend_from_slice(args);
    match Cli::try_parse_from(all)?.command {
        Command::Login(args) => Ok(args),
        _ => panic!("a login"),
    }
}

fn bare() -> ServerConfig {
    ServerConfig::for_url("https://mcp.example/mcp".parse().unwrap())
}

#[test]
fn client_credentials_with_a_secret_file_dpop_and_audience_become_login_options() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "s3cret\n").unwrap();
    let args = parse(&[
        "--client-credentials",
        "--client-id",
        "bot",
        "--client-secret-file",
        secret.to_str().unwrap(),
        "--dpop",
        "--audience",
        "https://api.example",
    ])
    .unwrap();
    let options = login_options(&bare(), &args.login).unwrap();
    assert_eq!(options.grant, Some(MachineGrant::ClientCredentials));
    assert!(options.dpop);
    assert_eq!(options.audience.as_deref(), Some("https://api.example"));
    let client = options.client.unwrap();
    assert_eq!(client.client_id, "bot");
    assert_eq!(client.client_secret.unwrap().secret(), "s3cret");
}

#[test]
fn a_private_key_flag_is_loaded_and_a_bad_one_names_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.pem");
    std::fs::write(
        &bad,
        "-----BEGIN PUBLIC KEY-----\nAA\n-----END PUBLIC KEY-----\n",
    )
    .unwrap();
    let args = parse(&[
        "--client-credentials",
        "--client-id",
        "bot",
        "--private-key",
        bad.to_str().unwrap(),
    ])
    .unwrap();
    let err = client_key(&bare(), args.login.machine.private_key.as_deref()).unwrap_err();
    assert_eq!(err.code(), "CONFIG");
    assert!(err.to_string().contains("bad.pem"), "{err}");
}

#[test]
fn workload_and_enterprise_flags_become_their_grants() {
    let args = parse(&["--client-id", "ci", "--workload-token-env", "WL"]).unwrap();
    assert_eq!(
        login_options(&bare(), &args.login).unwrap().grant,
        Some(MachineGrant::JwtBearer {
            assertion: CredentialSource::Env { name: "WL".into() }
        })
    );
    let args = parse(&[
        "--id-token-file",
        "/run/id",
        "--idp-token-endpoint",
        "https://idp.example/token",
        "--idp-client-id",
        "idp-app",
    ])
    .unwrap();
    let Some(MachineGrant::EnterpriseManaged { id_token, idp }) =
        login_options(&bare(), &args.login).unwrap().grant
    else {
        panic!("an enterprise-managed grant");
    };
    assert_eq!(
        id_token,
        CredentialSource::File {
            path: "/run/id".into()
        }
    );
    assert_eq!(idp.token_endpoint, "https://idp.example/token");
    assert_eq!(idp.client_id, "idp-app");
}

#[test]
fn conflicting_or_incomplete_flags_are_refused_naming_them() {
    let cases: [(&[&str], &str); 4] = [
        (
            &["--client-credentials", "--workload-token-env", "WL"],
            "--workload-token-env",
        ),
        (
            &["--workload-token-file", "f", "--workload-token-env", "WL"],
            "--workload-token-env",
        ),
        (&["--id-token-env", "ID"], "--idp-token-endpoint"),
        (
            &["--idp-token-endpoint", "not a url"],
            "--idp-token-endpoint",
        ),
    ];
    for (args, named) in cases {
        let err = parse(args).err().expect("refused").to_string();
        assert!(err.contains(named), "{args:?}: {err}");
    }
}

#[test]
fn the_configuration_gives_the_same_settings_without_flags() {
    let text = "[servers.bot]\nurl = \"https://mcp.example/mcp\"\nclient_id = \"bot\"\n\
                client_credentials = true\ndpop = true\naudience = \"aud\"\n";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).unwrap();
    let server = Config::load_from(&path).unwrap().resolve("bot").unwrap();
    let options = login_options(&server, &parse(&[]).unwrap().login).unwrap();
    assert_eq!(options.grant, Some(MachineGrant::ClientCredentials));
    assert!(options.dpop);
    assert_eq!(options.audience.as_deref(), Some("aud"));
    // Flags win over the configuration.
    let flags = parse(&["--workload-token-env", "WL", "--audience", "other"]).unwrap();
    let options = login_options(&server, &flags.login).unwrap();
    assert!(matches!(
        options.grant,
        Some(MachineGrant::JwtBearer { .. })
    ));
    assert_eq!(options.audience.as_deref(), Some("other"));
}
