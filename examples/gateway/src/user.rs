//! Gateway users to the core's profiles: one grant per upstream server *and* profile.

use mcpauth::session::Profile;
use sha2::{Digest as _, Sha256};

/// The profile that holds `user_id`'s grant.
///
/// A user id that is already a valid profile name (1–64 of `[A-Za-z0-9._-]`) is kept as it
/// is, so `redis-cli` and `mcpauth status` show it; any other (an email address, an id with
/// braces or spaces) becomes the hex SHA-256 of the id, truncated to 64 characters (all of
/// it). Every replica must map ids the same way, or a user's grant is not found.
///
/// Hashing makes two ids collide only with SHA-256; a kept id never collides with a hash of
/// another unless someone picks a 64-hex-digit user id that is the hash of another user's
/// id. Ids of that shape should come from the gateway's own authentication, never straight
/// from a client.
#[must_use]
pub fn profile_for(user_id: &str) -> Profile {
    if let Ok(profile) = Profile::parse(user_id) {
        return profile;
    }
    let digest = Sha256::digest(user_id.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    // 64 hex digits, all of them in the alphabet: a valid profile name by construction.
    Profile::parse(&hex).unwrap_or_else(|_| unreachable!("hex SHA-256 is a valid profile"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_profile_names_are_kept_and_others_hashed() {
        assert_eq!(profile_for("alice").as_str(), "alice");
        assert_eq!(profile_for("user-7.b_c").as_str(), "user-7.b_c");
        let email = profile_for("alice@example.com");
        assert_eq!(email.as_str().len(), 64);
        assert!(email.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(email, profile_for("alice@example.com"), "stable");
        assert_ne!(email, profile_for("bob@example.com"));
        assert_eq!(profile_for(&"x".repeat(65)).as_str().len(), 64);
        assert_ne!(profile_for("").as_str(), "");
    }
}
