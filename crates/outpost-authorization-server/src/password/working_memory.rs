//! argon2's working memory, kept from one call to the next: [`WorkingMemory`].
//!
//! argon2 works in `m` KiB of memory (19 MiB with the default parameters). The `argon2`
//! crate's `PasswordHasher` / `PasswordVerifier` allocate that block and free it on every call;
//! under glibc's malloc the first free of a block that large raises the dynamic mmap threshold
//! above it, and every later one then comes from a malloc arena and stays resident — 19 MiB
//! more for each arena a blocking thread happens to use. The
//! [`Argon2Pool`](super::limit::Argon2Pool) keeps one [`WorkingMemory`] per permit instead and
//! hashes into it (`Argon2::hash_password_into_with_memory`): at most one block per permit
//! ever exists, allocated once, whatever the allocator.
//!
//! The PHC strings are the same as the `argon2` crate's: hashing writes its format with the
//! default parameters, and verification parses the algorithm, version, parameters, salt and
//! output length from the stored string, so hashes made with other parameters verify too.

use argon2::{
    Algorithm, Argon2, Block, Params, Version,
    password_hash::{
        self,
        phc::{Output, ParamsString, PasswordHash as Phc, Salt},
    },
};

use super::HashError;
use outpost_store::PasswordHash;

/// One argon2 memory block, reused by every call made with it; it grows to the largest
/// memory cost it has served (a hash made with raised parameters) and never shrinks.
#[derive(Default)]
pub(crate) struct WorkingMemory {
    blocks: Vec<Block>,
}

impl std::fmt::Debug for WorkingMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkingMemory")
            .field("blocks", &self.blocks.len())
            .finish()
    }
}

impl WorkingMemory {
    /// Hashes `password` with argon2id, the default parameters and a fresh random salt.
    pub(crate) fn hash(&mut self, password: &str) -> Result<PasswordHash, HashError> {
        let params = Params::default();
        let salt = password_hash::try_generate_salt()
            .map_err(|e| HashError(e.to_string()))
            .and_then(|bytes| Salt::new(&bytes).map_err(|e| HashError(e.to_string())))?;
        let (algorithm, version) = (Algorithm::Argon2id, Version::V0x13);
        let output = self.output(
            Argon2::new(algorithm, version, params.clone()),
            password,
            &salt,
            Params::DEFAULT_OUTPUT_LEN,
        )?;
        let phc = Phc {
            algorithm: algorithm.ident(),
            version: Some(version.into()),
            params: ParamsString::try_from(&params).map_err(|e| HashError(e.to_string()))?,
            salt: Some(salt),
            hash: Some(output),
        };
        PasswordHash::parse(&phc.to_string()).map_err(|e| HashError(e.to_string()))
    }

    /// Whether `password` matches `hash`, with the algorithm, version and parameters recorded
    /// in it; a hash this cannot evaluate (not argon2, malformed) matches nothing. The
    /// comparison is constant-time (`phc::Output`'s equality).
    pub(crate) fn verify(&mut self, password: &str, hash: &PasswordHash) -> bool {
        let Ok(phc) = Phc::new(hash.as_str()) else {
            return false;
        };
        let (Some(salt), Some(expected)) = (&phc.salt, &phc.hash) else {
            return false;
        };
        let Ok(algorithm) = Algorithm::try_from(phc.algorithm.as_str()) else {
            return false;
        };
        let Ok(version) = phc
            .version
            .map_or(Ok(Version::default()), Version::try_from)
        else {
            return false;
        };
        let Ok(params) = Params::try_from(&phc) else {
            return false;
        };
        let argon2 = Argon2::new(algorithm, version, params);
        self.output(argon2, password, salt, expected.len())
            .is_ok_and(|computed| computed == *expected)
    }

    /// argon2's `len`-byte output for `password` and `salt`, computed in this memory.
    fn output(
        &mut self,
        argon2: Argon2<'_>,
        password: &str,
        salt: &[u8],
        len: usize,
    ) -> Result<Output, HashError> {
        let blocks = self.blocks(argon2.params().block_count())?;
        let mut buffer = [0u8; Output::MAX_LENGTH];
        let out = buffer
            .get_mut(..len)
            .ok_or_else(|| HashError(format!("an output of {len} bytes is too long")))?;
        argon2
            .hash_password_into_with_memory(password.as_bytes(), salt, &mut *out, blocks)
            .map_err(|e| HashError(e.to_string()))?;
        Output::new(out).map_err(|e| HashError(e.to_string()))
    }

    /// The first `count` blocks, grown to `count` first if needed (an allocation failure is an
    /// error, not an abort: a stored hash may ask for any memory cost).
    fn blocks(&mut self, count: usize) -> Result<&mut [Block], HashError> {
        if self.blocks.len() < count {
            self.blocks = Vec::new();
            self.blocks
                .try_reserve_exact(count)
                .map_err(|_| HashError(format!("cannot allocate argon2 memory of {count} KiB")))?;
            self.blocks.resize(count, Block::new());
        }
        Ok(&mut self.blocks[..count])
    }
}

#[cfg(test)]
mod tests {
    use argon2::{CustomizedPasswordHasher as _, PasswordHasher as _, PasswordVerifier as _};

    use super::*;

    /// argon2's own answer for `password` under `phc`'s salt and parameters.
    fn argon2_own(password: &str, phc: &Phc) -> String {
        Argon2::default()
            .hash_password_customized(
                password.as_bytes(),
                phc.salt.as_ref().unwrap(),
                Some(phc.algorithm.as_str()),
                phc.version,
                Params::try_from(phc).unwrap(),
            )
            .unwrap()
            .to_string()
    }

    #[test]
    fn hashes_as_argon2_does_in_reused_memory() {
        let mut memory = WorkingMemory::default();
        for password in ["correct horse", "", "another one"] {
            let ours = memory.hash(password).unwrap();
            let phc = Phc::new(ours.as_str()).unwrap();
            assert_eq!(ours.as_str(), argon2_own(password, &phc));
            assert!(
                Argon2::default()
                    .verify_password(password.as_bytes(), ours.as_str())
                    .is_ok()
            );
        }
    }

    #[test]
    fn verifies_what_argon2_made_with_any_parameters() {
        let mut memory = WorkingMemory::default();
        let default = Argon2::default()
            .hash_password(b"correct horse")
            .unwrap()
            .to_string();
        // Other algorithm, smaller and larger memory, more lanes, a longer output.
        let others = [
            (
                Algorithm::Argon2i,
                Params::new(8 * 1024, 3, 1, None).unwrap(),
            ),
            (Algorithm::Argon2d, Params::new(64, 1, 2, Some(48)).unwrap()),
            (
                Algorithm::Argon2id,
                Params::new(32 * 1024, 1, 4, None).unwrap(),
            ),
        ]
        .map(|(algorithm, params)| {
            Argon2::new(algorithm, Version::V0x13, params)
                .hash_password(b"correct horse")
                .unwrap()
                .to_string()
        });
        for phc in std::iter::once(default).chain(others) {
            let hash = PasswordHash::parse(&phc).unwrap();
            assert!(memory.verify("correct horse", &hash), "{phc}");
            assert!(!memory.verify("correct horse!", &hash), "{phc}");
            assert!(!memory.verify("", &hash), "{phc}");
        }
    }
}
