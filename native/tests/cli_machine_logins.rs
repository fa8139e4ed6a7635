//! The CLI's logins without a person: `--client-credentials` with a secret file or a private
//! key, and the same from a server's table in `config.toml`, after which `mcpauth token` works
//! without flags; a broken key is refused naming its file before anything is sent.
#![cfg(test)] // all of this file is test code to clippy: see clippy.toml

mod common;

use base64::Engine as _;
use mcpauth_devserver::{ClientAuth, Config, PublicJwk, RegisteredClient};
use p256::elliptic_curve::sec1::ToEncodedPoint as _;

use common::run_cli as mcpauth;
use common::run_cli_ok as ok;

fn public_jwk(key: &p256::SecretKey) -> PublicJwk {
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let point = key.public_key().to_encoded_point(false);
    PublicJwk {
        kty: "EC".into(),
        crv: "P-256".into(),
        x: b64(point.x().unwrap()),
        y: b64(point.y().unwrap()),
    }
}

async fn setup() -> (mcpauth_devserver::DevServerHandle, tempfile::TempDir) {
    let server = common::devserver(Config {
        auto_approve: true,
        ..Config::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    (server, dir)
}

#[tokio::test]
async fn client_credentials_from_the_configuration_need_no_flags_for_login_or_token() {
    let (server, dir) = setup().await;
    let d = dir.path();
    server.register_client(RegisteredClient {
        client_id: "svc".into(),
        auth: ClientAuth::ClientSecretBasic("s3cret".into()),
        redirect_uris: Vec::new(),
    });
    std::fs::write(d.join("config/svc.secret"), "s3cret\n").unwrap();
    let config = format!(
        "[servers.bot]\nurl = \"{}\"\nclient_id = \"svc\"\nclient_secret_file = \"svc.secret\"\n\
         client_credentials = true\n",
        server.mcp_url
    );
    std::fs::write(d.join("config/config.toml"), config).unwrap();
    ok(d, &["login", "bot"]).await;
    let token = ok(d, &["token", "bot"]).await;
    assert!(!token.trim().is_empty());
    let stats = server.stats();
    assert_eq!(stats.tokens_issued, 1);
    // No browser was involved: no authorization request, no registration.
    assert_eq!(stats.registrations, 0);
    assert_eq!(stats.leaks, Vec::<String>::new());
    server.shutdown().await;
}

#[tokio::test]
async fn client_credentials_with_a_private_key_flag_sign_a_client_assertion() {
    let (server, dir) = setup().await;
    let d = dir.path();
    let key = p256::SecretKey::from_slice(&[9u8; 32]).unwrap();
    server.register_client(RegisteredClient {
        client_id: "svc-jwt".into(),
        auth: ClientAuth::PrivateKeyJwt(public_jwk(&key)),
        redirect_uris: Vec::new(),
    });
    let pem = d.join("svc.pem");
    let text = p256::pkcs8::EncodePrivateKey::to_pkcs8_pem(&key, Default::default()).unwrap();
    std::fs::write(&pem, text.as_bytes()).unwrap();
    let pem = pem.to_str().unwrap();
    let url = server.mcp_url.as_str();
    ok(
        d,
        &[
            "login",
            url,
            "--client-credentials",
            "--client-id",
            "svc-jwt",
            "--private-key",
            pem,
        ],
    )
    .await;
    assert_eq!(server.stats().tokens_issued, 1);
    assert_eq!(server.stats().assertions_refused, 0);

    // A key mcpauth cannot sign with stops the login before any request, naming the file.
    let bad = d.join("bad.pem");
    std::fs::write(
        &bad,
        "-----BEGIN PUBLIC KEY-----\nAA\n-----END PUBLIC KEY-----\n",
    )
    .unwrap();
    let before = server.stats().tokens_issued;
    let out = mcpauth(
        d,
        &[
            "login",
            url,
            "--client-credentials",
            "--client-id",
            "svc-jwt",
            "--private-key",
            bad.to_str().unwrap(),
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("bad.pem") && stderr.contains("hint:"),
        "{stderr}"
    );
    assert_eq!(server.stats().tokens_issued, before);
    server.shutdown().await;
}
