//! The command line (every flag can also come from the environment).

use clap::Parser;

/// An example MCP gateway: forwards each user's MCP requests to one upstream MCP server with
/// that user's OAuth token, kept in Redis. The user header is NOT authentication: run it only
/// behind your own. The store key comes from `MCPAUTH_STORE_KEY` (base64 of 32 bytes), the
/// same for every replica.
#[derive(Debug, Parser)]
#[command(name = "mcpauth-gateway", version)]
pub struct Args {
    /// Where to listen (port 0: any free port; the bound address is printed on stderr).
    #[arg(long, env = "GATEWAY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// The upstream MCP server's URL.
    #[arg(long, env = "GATEWAY_UPSTREAM")]
    pub upstream: String,
    /// The Redis server holding the grants.
    #[arg(long, env = "GATEWAY_REDIS", default_value = "redis://127.0.0.1:6379/")]
    pub redis: String,
    /// The tenant: the namespace of this gateway's records in Redis (1-64 of
    /// `[A-Za-z0-9._-]`). Every replica uses the same one.
    #[arg(long, env = "GATEWAY_NAMESPACE", default_value = "gateway")]
    pub namespace: String,
    /// The URL users reach this gateway at; the redirect URI is `<public-url>/callback`
    /// (default: `http://<the bound address>`).
    #[arg(long, env = "GATEWAY_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// The refresh lock's lease in milliseconds: how long a replica that dies holding a lock
    /// blocks that user's refreshes. Keep it well above the refresh's HTTP time-out (30 s):
    /// a holder whose lease lapses mid-refresh has its save refused.
    #[arg(long, env = "GATEWAY_LOCK_LEASE_MS", default_value_t = 15_000)]
    pub lock_lease_ms: u64,
}
