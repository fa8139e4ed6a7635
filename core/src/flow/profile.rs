//! [`Profile`]: one of several logins to the same server, such as `work` and `personal`.
//!
//! Without a profile a server has one grant, stored under `grant#<server>`. A profile keeps a
//! grant of its own beside it, under `grant#<server>#<profile>`, with its own refresh lock, so
//! two accounts on one server never overwrite or refresh each other's tokens. Registrations
//! are the application's, not the user's: every profile reuses them.
//!
//! Nothing in a key names a version of mcpauth, so an upgrade never forces a new login.

use serde::{Deserialize, Serialize};

use crate::error::{Result, UsageError};

/// The longest profile name, in bytes.
pub const MAX_PROFILE_LEN: usize = 64;

/// A profile name: 1 to [`MAX_PROFILE_LEN`] ASCII letters, digits, `.`, `_` or `-`, so that it
/// is safe in a store key, a file name and a keychain entry, and cannot contain the `#` that
/// separates a key's parts.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(try_from = "String", into = "String")]
pub struct Profile(String);

impl Profile {
    /// Checks `name`.
    ///
    /// # Errors
    /// [`UsageError::InvalidProfile`] for an empty or too long name, or one with other
    /// characters.
    pub fn parse(name: &str) -> Result<Self> {
        let bad = |reason: &'static str| UsageError::InvalidProfile {
            name: name.to_owned(),
            reason,
        };
        if name.is_empty() {
            return Err(bad("is empty").into());
        }
        if name.len() > MAX_PROFILE_LEN {
            return Err(bad("is longer than 64 characters").into());
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err(bad("may hold only ASCII letters, digits, '.', '_' and '-'").into());
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Profile {
    type Error = crate::error::Error;

    fn try_from(name: String) -> Result<Self> {
        Self::parse(&name)
    }
}

impl From<Profile> for String {
    fn from(profile: Profile) -> Self {
        profile.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_safe_in_keys_and_files_are_accepted() {
        for name in ["work", "personal", "a", "team-2.eu_west", &"x".repeat(64)] {
            assert_eq!(Profile::parse(name).unwrap().as_str(), name);
        }
    }

    #[test]
    fn other_names_are_refused_with_the_reason() {
        for (name, why) in [
            ("", "empty"),
            (&*"x".repeat(65), "longer"),
            ("a#b", "only"),
            ("../up", "only"),
            ("with space", "only"),
            ("é", "only"),
        ] {
            let e = Profile::parse(name).unwrap_err();
            assert_eq!(e.code(), "INVALID_PROFILE");
            assert!(e.to_string().contains(why), "{name:?}: {e}");
        }
    }

    #[test]
    fn deserializing_checks_the_name_too() {
        assert!(serde_json::from_str::<Profile>(r#""work""#).is_ok());
        assert!(serde_json::from_str::<Profile>(r#""a#b""#).is_err());
    }
}
