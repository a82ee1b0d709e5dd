//! Secrets of the API keys the admin API creates.
//!
//! The engine's key table holds a key's id, account, CompID binding and a random nonce,
//! never a secret. The secret is derived from `fix.api_key_master`:
//!
//! ```text
//! secret = base64url_nopad(HMAC-SHA256(master, "tachyon-api-key-v1" ‖ id as u64 big-endian ‖ nonce))
//! ```
//!
//! so the admin plane (which returns it once, at creation) and the gateway (which checks
//! Logon signatures with it) compute the same 43 characters, and a leaked journal,
//! snapshot or database row reveals no credential. Rotating the master secret invalidates
//! every admin-created key at once.

use base64::Engine as _;
use hmac::{KeyInit, Mac};
use sha2::Sha256;
use tachyon_engine::ApiKeyId;

use crate::Secret;

/// Domain-separation label of the derivation (bumped if the scheme ever changes).
const LABEL: &[u8] = b"tachyon-api-key-v1";

/// The secret of the admin-created key `key` with `nonce`, under `master`.
pub fn derive_api_key_secret(master: &Secret, key: ApiKeyId, nonce: &[u8; 16]) -> Secret {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(master.expose().as_bytes())
        .expect("HMAC accepts any key length");
    mac.update(LABEL);
    mac.update(&key.0.to_be_bytes());
    mac.update(nonce);
    Secret::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn master() -> Secret {
        Secret::new("m".repeat(32))
    }

    #[test]
    fn secret_depends_on_master_id_and_nonce() {
        let s = derive_api_key_secret(&master(), ApiKeyId(7), &[1; 16]);
        assert_eq!(s.expose().len(), 43);
        assert!(s
            .expose()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(s, derive_api_key_secret(&master(), ApiKeyId(7), &[1; 16]));
        assert_ne!(s, derive_api_key_secret(&master(), ApiKeyId(8), &[1; 16]));
        assert_ne!(s, derive_api_key_secret(&master(), ApiKeyId(7), &[2; 16]));
        let other = Secret::new("n".repeat(32));
        assert_ne!(s, derive_api_key_secret(&other, ApiKeyId(7), &[1; 16]));
    }

    #[test]
    fn derivation_is_pinned() {
        // Clients keep their secrets across upgrades: the scheme must never change
        // silently. Expected value computed independently with Python's hmac module.
        let s = derive_api_key_secret(&master(), ApiKeyId(0x0123_4567_89ab_cdef), &[0xa5; 16]);
        assert_eq!(s.expose(), PINNED);
    }
    const PINNED: &str = "m1Z2wauOymUZnXD5hDlYFrksSiLHMIBqbmkSqS-OdXo";
}
