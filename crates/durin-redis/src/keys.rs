//! Key names. Every key starts with the configured prefix; the Lua scripts build the
//! same names (`lua/common.lua`), so the two must change together.

use durin_core::{AttemptKey, ClientName, Rate, SessionId, TokenDigest, UserId};

/// The key names under one prefix.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    /// The keys under `prefix`; on a cluster (`cluster`), the prefix becomes a hash tag
    /// (`{prefix}`) unless it holds one already, so that every key shares one slot.
    pub(crate) fn new(prefix: &str, cluster: bool) -> Self {
        let prefix = if cluster && !prefix.contains('{') {
            format!("{{{prefix}}}")
        } else {
            prefix.to_owned()
        };
        Keys { prefix }
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The session record: `{p}:s:<digest hex>`.
    pub(crate) fn session(&self, digest: &TokenDigest) -> String {
        format!("{}:s:{}", self.prefix, digest.to_hex())
    }

    /// Session id to digest: `{p}:id:<id>`.
    pub(crate) fn id(&self, id: &SessionId) -> String {
        format!("{}:id:{}", self.prefix, id)
    }

    /// Current refresh digest to session id: `{p}:r:<digest hex>`.
    pub(crate) fn refresh(&self, digest: &TokenDigest) -> String {
        format!("{}:r:{}", self.prefix, digest.to_hex())
    }

    /// Rotated refresh digest to session id: `{p}:rr:<digest hex>`.
    pub(crate) fn rotated(&self, digest: &TokenDigest) -> String {
        format!("{}:rr:{}", self.prefix, digest.to_hex())
    }

    /// The rotated refresh digests of a session, scored by when each expired:
    /// `{p}:ro:<id>`.
    pub(crate) fn rotated_set(&self, id: &SessionId) -> String {
        format!("{}:ro:{}", self.prefix, id)
    }

    /// The user's sessions, a sorted set of ids scored by `created_at`, with the user as
    /// a Redis Cluster hash tag: `{p}:u:{<user>}:i`.
    pub(crate) fn user(&self, user: &UserId) -> String {
        format!("{}:u:{{{}}}:i", self.prefix, user)
    }

    /// Every session id, a sorted set with score 0 (lexicographic pages): `{p}:all`.
    pub(crate) fn all(&self) -> String {
        format!("{}:all", self.prefix)
    }

    /// One client's session ids, score 0: `{p}:c:<client>`.
    pub(crate) fn client_sessions(&self, client: &ClientName) -> String {
        format!("{}:c:{}", self.prefix, client)
    }

    /// The purge index: `<id>:<client>:<user>` scored by when the session becomes
    /// purgeable: `{p}:exp`.
    pub(crate) fn purge(&self) -> String {
        format!("{}:exp", self.prefix)
    }

    /// A lease nodes take turns on (`TokenStore::acquire_lease`), a hash
    /// `{holder, until}`: `{p}:lease:<name>`.
    pub(crate) fn lease(&self, name: &str) -> String {
        format!("{}:lease:{}", self.prefix, name)
    }

    /// The clients, a hash of name to record: `{p}:clients`.
    pub(crate) fn clients(&self) -> String {
        format!("{}:clients", self.prefix)
    }

    /// The settings of one (user, client), a versioned JSON record, with the user as a
    /// Redis Cluster hash tag: `{p}:u:{<user>}:st:<client>`.
    pub(crate) fn settings(&self, user: &UserId, client: &ClientName) -> String {
        format!("{}:u:{{{}}}:st:{}", self.prefix, user, client)
    }

    /// The invalidation stream that carries cache invalidations between nodes:
    /// `{p}:inv`.
    pub(crate) fn invalidations(&self) -> String {
        format!("{}:inv", self.prefix)
    }

    /// The recent attempts under one attempt-limit key, a sorted set of attempt ids
    /// scored by time (ms): `{p}:la:<key hash hex>`.
    pub(crate) fn attempts(&self, key: &AttemptKey) -> String {
        format!("{}:la:{}", self.prefix, key.to_hex())
    }

    /// The GCRA state of one throttle key at one rate:
    /// `{p}:t:<count>:<period ns>:<key>`.
    pub(crate) fn throttle(&self, key: &str, rate: Rate) -> String {
        format!(
            "{}:t:{}:{}:{}",
            self.prefix,
            rate.count(),
            rate.period().as_nanos(),
            key
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_keys_carry_the_user_as_a_hash_tag() {
        let keys = Keys::new("durin", false);
        let user = UserId::new("alice").unwrap();
        assert_eq!(keys.user(&user), "durin:u:{alice}:i");
        let digest = TokenDigest::from_bytes([0xab; 32]);
        assert_eq!(
            keys.session(&digest),
            format!("durin:s:{}", "ab".repeat(32))
        );
        let rate: Rate = "5/m".parse().unwrap();
        assert_eq!(keys.throttle("k:1", rate), "durin:t:5:60000000000:k:1");
        assert_eq!(keys.invalidations(), "durin:inv");
        let attempt = AttemptKey::from_hash([0x0f; 16], 10);
        assert_eq!(
            keys.attempts(&attempt),
            format!("durin:la:{}", "0f".repeat(16))
        );
        let cluster = Keys::new("durin", true);
        assert_eq!(cluster.user(&user), "{durin}:u:{alice}:i");
        assert_eq!(Keys::new("{app}:auth", true).prefix(), "{app}:auth");
    }
}
