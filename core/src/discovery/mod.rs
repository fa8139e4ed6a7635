//! Discovery: from an MCP server URL to its authorization server's metadata.

mod server;

pub use server::{
    authorization_server_metadata_request, authorization_server_metadata_urls,
    process_authorization_server_metadata_response,
};
