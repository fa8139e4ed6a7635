//! Randomness as an input: the core draws entropy only through [`Entropy`].
//!
//! Tests pass a fixed source to get reproducible verifiers and states; drivers use
//! [`OsEntropy`] (getrandom: the OS generator natively, `crypto.getRandomValues` on wasm32).

use crate::error::Result;

/// A source of cryptographically secure random bytes.
pub trait Entropy {
    /// Fills `buf` with random bytes.
    ///
    /// # Errors
    /// [`Error::Entropy`](crate::Error::Entropy) when the source is unavailable.
    fn fill(&mut self, buf: &mut [u8]) -> Result<()>;
}

/// The operating system's generator, through getrandom.
#[cfg(feature = "getrandom")]
#[derive(Debug, Default, Clone, Copy)]
pub struct OsEntropy;

#[cfg(feature = "getrandom")]
impl Entropy for OsEntropy {
    fn fill(&mut self, buf: &mut [u8]) -> Result<()> {
        getrandom::fill(buf).map_err(|e| crate::Error::Entropy {
            reason: e.to_string(),
        })
    }
}

/// Closures work as sources, which keeps test doubles one line long.
impl<F: FnMut(&mut [u8])> Entropy for F {
    fn fill(&mut self, buf: &mut [u8]) -> Result<()> {
        self(buf);
        Ok(())
    }
}

/// Draws `N` random bytes and encodes them base64url without padding.
pub(crate) fn random_b64url<const N: usize>(entropy: &mut dyn Entropy) -> Result<String> {
    use base64::Engine as _;
    let mut bytes = [0u8; N];
    entropy.fill(&mut bytes)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "getrandom")]
    #[test]
    fn os_entropy_fills_distinct_values() {
        let a = random_b64url::<32>(&mut OsEntropy).unwrap();
        let b = random_b64url::<32>(&mut OsEntropy).unwrap();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
    }

    #[test]
    fn closures_are_sources() {
        let mut zero = |b: &mut [u8]| b.fill(0);
        assert_eq!(random_b64url::<3>(&mut zero).unwrap(), "AAAA");
    }
}
