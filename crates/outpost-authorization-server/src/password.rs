//! Password (and client secret) hashing with argon2id.
//!
//! Parameters are the `argon2` crate's defaults, which are OWASP's recommendation for argon2id
//! (19 MiB of memory, 2 iterations, 1 lane); they are recorded in each PHC string, so raising
//! them later leaves existing hashes verifiable. Verification compares in constant time
//! (`phc::Output`'s equality). Hashing costs tens of milliseconds of CPU and 19 MiB by design: the
//! endpoints run it through the server's [`limit::Argon2Pool`], on the blocking pool, a bounded
//! number at once, each permit with its own working memory kept from call to call
//! (`working_memory`), so that repeated logins do not leave freed 19 MiB blocks resident.

pub mod limit;
mod working_memory;

use outpost_store::PasswordHash;

use working_memory::WorkingMemory;

/// Hashing failed (only on an internal argon2 or randomness error).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// Hashes a password with argon2id and a fresh random salt, in memory allocated for this one
/// call (a server hashes through its [`limit::Argon2Pool`] instead).
pub fn hash_password(password: &str) -> Result<PasswordHash, HashError> {
    WorkingMemory::default().hash(password)
}

/// Whether `password` matches `hash`, using the parameters recorded in the hash, in memory
/// allocated for this one call (a server verifies through its [`limit::Argon2Pool`] instead).
pub fn verify_password(password: &str, hash: &PasswordHash) -> bool {
    WorkingMemory::default().verify(password, hash)
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
