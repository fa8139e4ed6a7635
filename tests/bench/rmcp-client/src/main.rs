//! A first login with rmcp's OAuth client, the way its documentation shows it: discovery,
//! dynamic registration and the authorization URL from `OAuthState`, the "browser" (curl)
//! following the authorization server's redirect, the code exchange, then an MCP session over the
//! authorized transport: `initialize` (with `notifications/initialized`) and one `tools/call`.
//!
//! Usage: `mcpauth-bench-rmcp-client <mcp url>`; prints the tool's answer.

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::auth::{AuthClient, AuthorizationRequest, OAuthState};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

type Failure = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let server = std::env::args()
        .nth(1)
        .ok_or("usage: mcpauth-bench-rmcp-client <mcp url>")?;
    let http = reqwest::Client::builder().no_proxy().build()?;

    let mut state = OAuthState::new(server.as_str(), Some(http.clone())).await?;
    let request =
        AuthorizationRequest::new("http://127.0.0.1:9/callback").with_client_name("rmcp bench");
    state.start_authorization(request).await?;
    let url = state.get_authorization_url().await?;

    // The browser, curl as for every client of the benchmark: the authorization server
    // approves at once and redirects to the callback.
    let browser = std::process::Command::new("curl")
        .args(["-fsS", "-o", "/dev/null", "-w", "%{redirect_url}", &url])
        .output()?;
    let location = String::from_utf8(browser.stdout)?;
    if !browser.status.success() || location.is_empty() {
        return Err(format!(
            "no redirect from the authorization endpoint ({})",
            browser.status
        )
        .into());
    }
    state.handle_callback_url(&location).await?;

    let manager = state
        .into_authorization_manager()
        .ok_or("not authorized after the callback")?;
    let client = AuthClient::new(http, manager);
    let transport = StreamableHttpClientTransport::with_client(
        client,
        StreamableHttpClientTransportConfig::with_uri(server.as_str()),
    );
    let mcp = ().serve(transport).await?;
    let mut arguments = rmcp::model::JsonObject::new();
    arguments.insert("text".into(), "hello".into());
    let result = mcp
        .call_tool(CallToolRequestParams::new("echo").with_arguments(arguments))
        .await?;
    println!("{:?}", result.content);
    let _ = mcp.cancel().await;
    Ok(())
}
