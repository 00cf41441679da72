//! Secrets: player tokens and invite codes. A token exists in clear only in the answer that
//! creates it; the server keeps its SHA-256 and compares hashes in constant time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

fn random_string<const N: usize>() -> String {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the OS random source failed");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A bearer token in clear. Its `Debug` never shows the secret.
pub struct Token(String);

const TOKEN_PREFIX: &str = "mrd_";

impl Token {
    /// 256 random bits.
    pub fn generate() -> Token {
        Token(format!("{TOKEN_PREFIX}{}", random_string::<32>()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// The SHA-256 of a token: what the store keeps and looks players up by.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    pub fn of(presented: &str) -> TokenHash {
        TokenHash(Sha256::digest(presented.as_bytes()).into())
    }

    /// Whether `presented` is the token this is the hash of, in time independent of where
    /// they differ.
    pub fn matches(&self, presented: &str) -> bool {
        self.0.ct_eq(&TokenHash::of(presented).0).into()
    }

    /// Whether a presented string has the shape of a token at all (prefix and length), so
    /// that garbage is refused before any lookup.
    pub fn well_formed(presented: &str) -> bool {
        presented.len() == TOKEN_PREFIX.len() + 43
            && presented.starts_with(TOKEN_PREFIX)
            && presented[TOKEN_PREFIX.len()..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }
}

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenHash(<redacted>)")
    }
}

/// The code that opens a private map: 128 random bits.
#[derive(Clone, PartialEq, Eq)]
pub struct InviteCode(String);

impl InviteCode {
    pub fn generate() -> InviteCode {
        InviteCode(random_string::<16>())
    }

    pub fn from_stored(code: String) -> InviteCode {
        InviteCode(code)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, presented: &str) -> bool {
        // Hash both sides so that the comparison's time depends on neither length.
        TokenHash::of(&self.0).matches(presented)
    }
}

impl std::fmt::Debug for InviteCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InviteCode(<redacted>)")
    }
}

/// A one-time code that signs another device in as a player: 128 random bits, URL-safe.
/// Kept as its SHA-256, like a token.
pub struct LinkCode(String);

impl LinkCode {
    pub fn generate() -> LinkCode {
        LinkCode(random_string::<16>())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }

    /// Whether a presented string has the shape of a link code, so that garbage is refused
    /// before any lookup.
    pub fn well_formed(presented: &str) -> bool {
        presented.len() == 22
            && presented.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }
}

impl std::fmt::Debug for LinkCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkCode(<redacted>)")
    }
}

/// A random opaque id: 96 bits, 16 URL-safe characters.
pub(crate) fn random_id() -> String {
    random_string::<12>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hash_matches() {
        let a = Token::generate();
        let b = Token::generate();
        assert_ne!(a.expose(), b.expose());
        assert!(TokenHash::well_formed(a.expose()));
        assert!(a.hash().matches(a.expose()));
        assert!(!a.hash().matches(b.expose()));
        assert_eq!(format!("{a:?}"), "Token(<redacted>)");
        assert!(!TokenHash::well_formed("mrd_short"));
        assert!(!TokenHash::well_formed(&a.expose().replace("mrd_", "xyz_")));
    }

    #[test]
    fn invite_codes_compare() {
        let code = InviteCode::generate();
        assert_eq!(code.as_str().len(), 22);
        assert!(code.matches(code.as_str()));
        assert!(!code.matches("nope"));
    }

    #[test]
    fn link_codes_are_128_bits_url_safe_and_redacted() {
        let (a, b) = (LinkCode::generate(), LinkCode::generate());
        assert_ne!(a.expose(), b.expose());
        assert!(LinkCode::well_formed(a.expose()), "{} is not well formed", a.expose().len());
        assert!(a.hash().matches(a.expose()));
        assert_eq!(format!("{a:?}"), "LinkCode(<redacted>)");
        assert!(!LinkCode::well_formed("short"));
        assert!(!LinkCode::well_formed(&format!("{}!", &a.expose()[..21])));
    }
}
