//! Password (and client secret) hashing with argon2id.
//!
//! Parameters are the `argon2` crate's defaults, which are OWASP's recommendation for argon2id
//! (19 MiB of memory, 2 iterations, 1 lane); they are recorded in each PHC string, so raising
//! them later leaves existing hashes verifiable. Verification compares in constant time inside
//! the crate. Hashing costs tens of milliseconds of CPU and 19 MiB by design: the endpoints run
//! it through the server's [`limit::Argon2Pool`], on the blocking pool, a bounded number at once.

pub mod limit;

use argon2::{Argon2, PasswordHasher as _, PasswordVerifier as _};

use outpost_store::PasswordHash;

/// Hashing failed (only on an internal argon2 or randomness error).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// Hashes a password with argon2id and a fresh random salt.
pub fn hash_password(password: &str) -> Result<PasswordHash, HashError> {
    let phc = Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|e| HashError(e.to_string()))?
        .to_string();
    PasswordHash::parse(&phc).map_err(|e| HashError(e.to_string()))
}

/// Whether `password` matches `hash`, using the parameters recorded in the hash.
pub fn verify_password(password: &str, hash: &PasswordHash) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash.as_str())
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ() {
        let first = hash_password("correct horse").expect("hash");
        let second = hash_password("correct horse").expect("hash");
        assert!(
            first
                .as_str()
                .starts_with("$argon2id$v=19$m=19456,t=2,p=1$")
        );
        assert_ne!(first, second, "salts are random");
        assert!(verify_password("correct horse", &first));
        assert!(verify_password("correct horse", &second));
        assert!(!verify_password("correct horse!", &first));
        assert!(!verify_password("", &first));
    }
}
