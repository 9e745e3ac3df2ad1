//! Student identifiers at rest. A portfolio's pseudonymous student id is
//! stored twice, neither time in clear:
//!
//! - encrypted with AES-256-GCM under the tenant's key (random 96-bit nonce;
//!   the tenant id is the associated data, so a ciphertext moved to another
//!   tenant's row does not decrypt), so admins and leads can read it back;
//! - as a blind index, HMAC-SHA-256 under a second tenant key, so the store
//!   can find a student's folders (and keep one folder per student and year)
//!   without holding the id.
//!
//! Both tenant keys are derived with HKDF-SHA-256 from the instance's master
//! key (`COLLEGIUM_SCORING_KEY_FILE`) and the tenant id: no key is stored per
//! tenant, and one tenant's key says nothing about another's.

use ring::{aead, hkdf, hmac, rand::SecureRandom};
use uuid::Uuid;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

/// The instance's master key, 32 bytes.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }

    /// A fresh random key (dev mode writes one to its data directory).
    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        ring::rand::SystemRandom::new()
            .fill(&mut k)
            .expect("the system random source works");
        Self(k)
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// The keys of one tenant.
    pub fn tenant(&self, tenant: Uuid) -> TenantKeys {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"collegium scoring student ref v1")
            .extract(&self.0);
        let derive = |purpose: &[u8]| -> [u8; 32] {
            let info = [tenant.as_bytes().as_slice(), purpose];
            let mut out = [0u8; 32];
            prk.expand(&info, Len32)
                .and_then(|okm| okm.fill(&mut out))
                .expect("32 bytes is a valid HKDF-SHA-256 length");
            out
        };
        let enc = aead::UnboundKey::new(&aead::AES_256_GCM, &derive(b"encrypt"))
            .expect("32 bytes is an AES-256 key");
        TenantKeys {
            tenant,
            enc: aead::LessSafeKey::new(enc),
            index: hmac::Key::new(hmac::HMAC_SHA256, &derive(b"index")),
        }
    }
}

struct Len32;
impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

/// One tenant's encryption and index keys.
pub struct TenantKeys {
    tenant: Uuid,
    enc: aead::LessSafeKey,
    index: hmac::Key,
}

/// A stored student id could not be decrypted (wrong key or tenant, or damaged).
#[derive(Debug, thiserror::Error)]
#[error("a stored student id could not be decrypted")]
pub struct Undecryptable;

impl TenantKeys {
    /// `version ‖ nonce ‖ ciphertext ‖ tag`.
    pub fn encrypt(&self, student_ref: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        ring::rand::SystemRandom::new()
            .fill(&mut nonce)
            .expect("the system random source works");
        let mut buf = student_ref.as_bytes().to_vec();
        self.enc
            .seal_in_place_append_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(self.tenant.as_bytes()),
                &mut buf,
            )
            .expect("AES-GCM sealing of a short text cannot fail");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + buf.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        out
    }

    pub fn decrypt(&self, stored: &[u8]) -> Result<String, Undecryptable> {
        if stored.len() < 1 + NONCE_LEN || stored[0] != VERSION {
            return Err(Undecryptable);
        }
        let nonce =
            <[u8; NONCE_LEN]>::try_from(&stored[1..=NONCE_LEN]).map_err(|_| Undecryptable)?;
        let mut buf = stored[1 + NONCE_LEN..].to_vec();
        let plain = self
            .enc
            .open_in_place(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(self.tenant.as_bytes()),
                &mut buf,
            )
            .map_err(|_| Undecryptable)?;
        String::from_utf8(plain.to_vec()).map_err(|_| Undecryptable)
    }

    /// The blind index of a student id (the same id gives the same index
    /// within a tenant, a different one in another tenant).
    pub fn index(&self, student_ref: &str) -> Vec<u8> {
        hmac::sign(&self.index, student_ref.as_bytes())
            .as_ref()
            .to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_hides_the_id() {
        let k = MasterKey::generate().tenant(Uuid::now_v7());
        let c = k.encrypt("S-000123");
        assert!(!c.windows(8).any(|w| w == b"S-000123"));
        assert_eq!(k.decrypt(&c).unwrap(), "S-000123");
        // A fresh nonce each time: equal ids do not give equal ciphertexts.
        assert_ne!(c, k.encrypt("S-000123"));
    }

    #[test]
    fn another_tenant_or_master_cannot_decrypt_or_link() {
        let m = MasterKey::generate();
        let (a, b) = (m.tenant(Uuid::now_v7()), m.tenant(Uuid::now_v7()));
        let c = a.encrypt("S-1");
        assert!(b.decrypt(&c).is_err());
        assert!(MasterKey::generate().tenant(a.tenant).decrypt(&c).is_err());
        assert_eq!(a.index("S-1"), a.index("S-1"));
        assert_ne!(a.index("S-1"), b.index("S-1"));
        let mut damaged = c.clone();
        *damaged.last_mut().unwrap() ^= 1;
        assert!(a.decrypt(&damaged).is_err());
    }
}
