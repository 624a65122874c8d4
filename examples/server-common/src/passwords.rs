//! Password checks with bounded concurrency and bounded memory.
//!
//! An argon2id check with the crate's default parameters fills 19 MiB of memory. Run one
//! per request without a bound and memory follows the login rate, not the work: 150
//! concurrent logins held 1.5 GB, and the allocator kept the freed buffers afterwards.
//! Here at most `concurrency` checks run at once (one per core by default), each in a
//! reused buffer from a pool of that size, so the memory of password hashing is fixed
//! (`concurrency` x 19 MiB); further attempts wait in line, and past `max_waiting` they
//! are refused at once (the login answers 503) instead of queueing without end.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::{PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use durin_core::StoreError;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

/// A stored argon2 hash, parsed once: algorithm, version, parameters, salt and output.
#[derive(Clone)]
pub struct StoredHash {
    algorithm: Algorithm,
    version: Version,
    params: Params,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl std::fmt::Debug for StoredHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredHash")
            .field("algorithm", &self.algorithm)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl StoredHash {
    /// Parses a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`).
    ///
    /// # Errors
    /// When it is not an argon2 PHC string with a salt and a hash.
    pub fn parse(phc: &str) -> anyhow::Result<Self> {
        let parsed = PasswordHash::new(phc).map_err(|e| anyhow::anyhow!("password hash: {e}"))?;
        let algorithm = Algorithm::try_from(parsed.algorithm)
            .map_err(|e| anyhow::anyhow!("password hash algorithm: {e}"))?;
        let version = parsed
            .version
            .map(Version::try_from)
            .transpose()
            .map_err(|e| anyhow::anyhow!("password hash version: {e}"))?
            .unwrap_or_default();
        let params =
            Params::try_from(&parsed).map_err(|e| anyhow::anyhow!("password hash params: {e}"))?;
        let salt: Salt<'_> = parsed
            .salt
            .ok_or_else(|| anyhow::anyhow!("password hash has no salt"))?;
        let mut buf = [0u8; Salt::MAX_LENGTH];
        let salt = salt
            .decode_b64(&mut buf)
            .map_err(|e| anyhow::anyhow!("password hash salt: {e}"))?
            .to_vec();
        let hash = parsed
            .hash
            .ok_or_else(|| anyhow::anyhow!("password hash has no output"))?
            .as_bytes()
            .to_vec();
        Ok(StoredHash {
            algorithm,
            version,
            params,
            salt,
            hash,
        })
    }
}

/// Runs argon2 checks, at most `concurrency` at once, in reused buffers.
pub struct PasswordVerifier {
    permits: Semaphore,
    buffers: Mutex<Vec<Vec<Block>>>,
    waiting: AtomicUsize,
    max_waiting: usize,
}

impl std::fmt::Debug for PasswordVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordVerifier")
            .field("available", &self.permits.available_permits())
            .field("max_waiting", &self.max_waiting)
            .finish_non_exhaustive()
    }
}

impl PasswordVerifier {
    /// A verifier running `concurrency` checks at once (at least 1) with at most
    /// `max_waiting` more waiting.
    pub fn new(concurrency: usize, max_waiting: usize) -> Self {
        let concurrency = concurrency.max(1);
        PasswordVerifier {
            permits: Semaphore::new(concurrency),
            buffers: Mutex::new(Vec::with_capacity(concurrency)),
            waiting: AtomicUsize::new(0),
            max_waiting,
        }
    }

    /// One check per available core, and 256 waiting.
    pub fn per_core() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::new(cores, 256)
    }

    /// Whether `password` matches `stored`, in constant time.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when too many checks are waiting already (the login
    /// answers 503) or the hashing task failed.
    pub async fn verify(&self, stored: &StoredHash, password: &str) -> Result<bool, StoreError> {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(StoreError::unavailable("too many password checks waiting"));
        }
        let permit = self.permits.acquire().await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        let _permit = permit.map_err(StoreError::backend)?;
        let mut blocks = self
            .buffers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_default();
        let needed = stored.params.block_count();
        if blocks.len() != needed {
            blocks = vec![Block::default(); needed];
        }
        let stored_clone = stored.clone();
        let password = Zeroizing::new(password.as_bytes().to_vec());
        let (blocks, matched) = tokio::task::spawn_blocking(move || {
            let mut blocks = blocks;
            let mut out = Zeroizing::new(vec![0u8; stored_clone.hash.len()]);
            let argon = Argon2::new(
                stored_clone.algorithm,
                stored_clone.version,
                stored_clone.params.clone(),
            );
            let matched = argon
                .hash_password_into_with_memory(
                    &password,
                    &stored_clone.salt,
                    &mut out,
                    &mut blocks[..],
                )
                .is_ok()
                && bool::from(out.ct_eq(&stored_clone.hash));
            (blocks, matched)
        })
        .await
        .map_err(StoreError::backend)?;
        self.buffers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(blocks);
        Ok(matched)
    }
}

#[cfg(test)]
mod tests {
    use argon2::PasswordHasher as _;
    use argon2::password_hash::SaltString;

    use super::*;

    fn phc(password: &str) -> String {
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .unwrap()
            .to_string()
    }

    #[tokio::test]
    async fn a_reused_buffer_verifies_like_argon2_itself() {
        let verifier = PasswordVerifier::new(1, 10);
        let stored = StoredHash::parse(&phc("wonderland")).unwrap();
        for _ in 0..3 {
            assert!(verifier.verify(&stored, "wonderland").await.unwrap());
            assert!(!verifier.verify(&stored, "wonderlanD").await.unwrap());
        }
        assert_eq!(
            verifier.buffers.lock().unwrap().len(),
            1,
            "one buffer, reused"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn past_the_queue_checks_are_refused_at_once() {
        let verifier = std::sync::Arc::new(PasswordVerifier::new(2, 4));
        let stored = std::sync::Arc::new(StoredHash::parse(&phc("pw")).unwrap());
        // Both permits busy: the next four wait in line.
        let busy = verifier.permits.acquire_many(2).await.unwrap();
        let waiting: Vec<_> = (0..4)
            .map(|_| {
                let (verifier, stored) = (verifier.clone(), stored.clone());
                tokio::spawn(async move { verifier.verify(&stored, "pw").await })
            })
            .collect();
        while verifier.waiting.load(Ordering::Acquire) < 4 {
            tokio::task::yield_now().await;
        }
        let refused = verifier.verify(&stored, "pw").await.unwrap_err();
        assert!(refused.is_unavailable(), "{refused:?}");
        drop(busy);
        for task in waiting {
            assert!(
                task.await.unwrap().unwrap(),
                "the waiting checks run once a permit frees"
            );
        }
        assert!(
            verifier.buffers.lock().unwrap().len() <= 2,
            "at most one buffer per permit"
        );
    }
}
