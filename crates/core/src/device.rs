//! Device credentials: what a phone app that cannot hold a bearer token presents instead.
//!
//! OwnTracks sends a user and a password (HTTP Basic); OsmAnd and Traccar Client send only
//! a device identifier, so theirs is `<id>.<secret>`. Both halves are 128 random bits in
//! lowercase base32 (26 characters of `a-z2-7`): no characters a phone's keyboard confuses,
//! and read case-insensitively because keyboards capitalise the first letter. The server
//! keeps only the secret's SHA-256.

use data_encoding::BASE32_NOPAD;

use crate::secret::TokenHash;

/// Characters of a 128-bit value in unpadded base32.
const LEN: usize = 26;

fn random_base32() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random source failed");
    BASE32_NOPAD.encode(&bytes).to_ascii_lowercase()
}

/// `raw` trimmed and lowercased, when it has the shape of a device id or secret.
fn normalise(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let ok = raw.len() == LEN && raw.bytes().all(|b| b.is_ascii_alphabetic() || (b'2'..=b'7').contains(&b));
    ok.then(|| raw.to_ascii_lowercase())
}

/// A device's public id: the OwnTracks user name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceId(String);

impl DeviceId {
    pub fn generate() -> DeviceId {
        DeviceId(random_base32())
    }

    /// `None` when `raw` cannot be a device id.
    pub fn parse(raw: &str) -> Option<DeviceId> {
        normalise(raw).map(DeviceId)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for DeviceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A device's secret in clear. Its `Debug` never shows it.
pub struct DeviceSecret(String);

impl DeviceSecret {
    pub fn generate() -> DeviceSecret {
        DeviceSecret(random_base32())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }

    /// Whether `presented` is the secret `hash` was made of, in constant time.
    pub fn matches(hash: &TokenHash, presented: &str) -> bool {
        normalise(presented).is_some_and(|secret| hash.matches(&secret))
    }
}

impl std::fmt::Debug for DeviceSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceSecret(<redacted>)")
    }
}

/// Splits the identifier OsmAnd and Traccar Client send, `<id>.<secret>`.
pub fn split_identifier(raw: &str) -> Option<(&str, &str)> {
    raw.trim().split_once('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_secrets_are_128_bit_base32_read_in_any_case() {
        let id = DeviceId::generate();
        assert_eq!(id.as_str().len(), 26);
        assert!(id.as_str().bytes().all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)));
        assert_eq!(DeviceId::parse(&id.as_str().to_ascii_uppercase()), Some(id.clone()));
        assert_ne!(DeviceId::generate(), id);
        assert_eq!(DeviceId::parse("short"), None);
        assert_eq!(DeviceId::parse(&"0".repeat(26)), None);

        let secret = DeviceSecret::generate();
        let hash = secret.hash();
        assert!(DeviceSecret::matches(&hash, secret.expose()));
        assert!(DeviceSecret::matches(&hash, &format!(" {} ", secret.expose().to_ascii_uppercase())));
        assert!(!DeviceSecret::matches(&hash, DeviceSecret::generate().expose()));
        assert!(!DeviceSecret::matches(&hash, ""));
        assert_eq!(format!("{secret:?}"), "DeviceSecret(<redacted>)");
    }

    #[test]
    fn an_identifier_splits_at_the_first_dot() {
        assert_eq!(split_identifier(" abc.def "), Some(("abc", "def")));
        assert_eq!(split_identifier("abc"), None);
    }
}
