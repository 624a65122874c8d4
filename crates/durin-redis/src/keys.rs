//! Key names. Every key starts with the configured prefix; the Lua scripts build the
//! same names (`lua/common.lua`) from the partition prefix they are given, so the two
//! must change together.

use durin_core::{AttemptKey, ClientName, Rate, RoutingTag, SessionId, TokenDigest, UserId};

/// The key names under one prefix.
///
/// Session keys live in a [`Part`]: on one server the prefix itself (the layout of
/// earlier versions, unchanged), on a cluster one partition per user routing tag,
/// `{<prefix>:<tag>}`, so that every key of a user's sessions shares one slot. Keys
/// shared by all users (clients, leases, the invalidation stream, failed-login attempts,
/// the partition registry) are under `{<prefix>}` on a cluster: one slot.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    /// The prefix of the shared keys: the configured prefix, or `{base}` on a cluster.
    prefix: String,
    /// On a cluster: the configured prefix without braces.
    base: Option<String>,
}

/// The session keys of one partition: `{p}` on one server, `{<prefix>:<tag>}` on a
/// cluster (the hash tag puts them all in one slot).
#[derive(Debug, Clone)]
pub(crate) struct Part {
    prefix: String,
    /// The routing tag of a cluster partition.
    tag: Option<RoutingTag>,
}

impl Keys {
    /// The keys under `prefix`; on a cluster (`cluster`), braces are dropped from the
    /// prefix and the shared keys get `{prefix}`, the partitions `{prefix:<tag>}`.
    pub(crate) fn new(prefix: &str, cluster: bool) -> Self {
        if cluster {
            let base: String = prefix.chars().filter(|c| !matches!(c, '{' | '}')).collect();
            Keys {
                prefix: format!("{{{base}}}"),
                base: Some(base),
            }
        } else {
            Keys {
                prefix: prefix.to_owned(),
                base: None,
            }
        }
    }

    /// The prefix of the shared keys.
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    pub(crate) fn is_cluster(&self) -> bool {
        self.base.is_some()
    }

    /// The one partition of a one-server store; `None` on a cluster.
    pub(crate) fn single_part(&self) -> Option<Part> {
        self.base.is_none().then(|| Part {
            prefix: self.prefix.clone(),
            tag: None,
        })
    }

    /// The partition of a routing tag (on one server: the only one).
    pub(crate) fn part(&self, tag: RoutingTag) -> Part {
        match &self.base {
            Some(base) => Part {
                prefix: format!("{{{base}:{tag}}}"),
                tag: Some(tag),
            },
            None => Part {
                prefix: self.prefix.clone(),
                tag: None,
            },
        }
    }

    /// The partition of a user's sessions and settings.
    pub(crate) fn user_part(&self, user: &UserId) -> Part {
        self.part(RoutingTag::for_user(user))
    }

    /// On a cluster, where a session id or token digest that carries no routing tag
    /// (imported or copied sessions) says its partition is: a string holding the tag,
    /// `<base>:rt:<kind>:<name>` (no hash tag: the pointers spread over the slots).
    pub(crate) fn pointer_id(&self, id: &SessionId) -> String {
        format!("{}:rt:i:{}", self.base_or_prefix(), id)
    }

    /// See [`Keys::pointer_id`]; access and refresh digests share the namespace.
    pub(crate) fn pointer_digest(&self, digest: &TokenDigest) -> String {
        format!("{}:rt:d:{}", self.base_or_prefix(), digest.to_hex())
    }

    fn base_or_prefix(&self) -> &str {
        self.base.as_deref().unwrap_or(&self.prefix)
    }

    /// On a cluster, set (to 1, for good) before the first pointer key is written:
    /// `{p}:untagged`. While it is unset, no lookup needs a pointer.
    pub(crate) fn untagged(&self) -> String {
        format!("{}:untagged", self.prefix)
    }

    /// On a cluster, the routing tags of the partitions that ever held a session: a
    /// sorted set of tags, score 0, `{p}:parts` (walked by purge and the admin listing).
    pub(crate) fn parts(&self) -> String {
        format!("{}:parts", self.prefix)
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

    /// The invalidation stream that carries cache invalidations between nodes:
    /// `{p}:inv`.
    pub(crate) fn invalidations(&self) -> String {
        format!("{}:inv", self.prefix)
    }

    /// The recent attempts under one attempt-limit key, a sorted set of attempt ids
    /// scored by time (ms): `{p}:la:<key hash hex>`. The keys of one attempt are
    /// reserved by one script, so on a cluster they all share the `{p}` slot.
    pub(crate) fn attempts(&self, key: &AttemptKey) -> String {
        format!("{}:la:{}", self.prefix, key.to_hex())
    }

    /// The GCRA state of one throttle key at one rate:
    /// `{p}:t:<count>:<period ns>:<key>`; on a cluster `<prefix>:t:...` without a hash
    /// tag, so that throttle keys spread over the slots (each check is one key).
    pub(crate) fn throttle(&self, key: &str, rate: Rate) -> String {
        format!(
            "{}:t:{}:{}:{}",
            self.base_or_prefix(),
            rate.count(),
            rate.period().as_nanos(),
            key
        )
    }
}

impl Part {
    /// The prefix of the partition's keys (what the scripts get as `ARGV[1]`).
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The routing tag of a cluster partition.
    pub(crate) fn tag(&self) -> Option<RoutingTag> {
        self.tag
    }

    /// The session record: `{P}:s:<digest hex>`.
    pub(crate) fn session(&self, digest: &TokenDigest) -> String {
        format!("{}:s:{}", self.prefix, digest.to_hex())
    }

    /// Session id to digest: `{P}:id:<id>`.
    pub(crate) fn id(&self, id: &SessionId) -> String {
        format!("{}:id:{}", self.prefix, id)
    }

    /// Current refresh digest to session id: `{P}:r:<digest hex>`.
    pub(crate) fn refresh(&self, digest: &TokenDigest) -> String {
        format!("{}:r:{}", self.prefix, digest.to_hex())
    }

    /// Rotated refresh digest to session id: `{P}:rr:<digest hex>`.
    pub(crate) fn rotated(&self, digest: &TokenDigest) -> String {
        format!("{}:rr:{}", self.prefix, digest.to_hex())
    }

    /// The rotated refresh digests of a session, scored by when each expired:
    /// `{P}:ro:<id>`.
    pub(crate) fn rotated_set(&self, id: &SessionId) -> String {
        format!("{}:ro:{}", self.prefix, id)
    }

    /// The user's sessions, a sorted set of ids scored by `created_at`:
    /// `{P}:u:{<user>}:i` (on one server the user is the key's hash tag).
    pub(crate) fn user(&self, user: &UserId) -> String {
        format!("{}:u:{{{}}}:i", self.prefix, user)
    }

    /// The partition's session ids, a sorted set with score 0 (lexicographic pages):
    /// `{P}:all`.
    pub(crate) fn all(&self) -> String {
        format!("{}:all", self.prefix)
    }

    /// One client's session ids in the partition, score 0: `{P}:c:<client>`.
    pub(crate) fn client_sessions(&self, client: &ClientName) -> String {
        format!("{}:c:{}", self.prefix, client)
    }

    /// The partition's purge index: `<id>:<client>:<user>` scored by when the session
    /// becomes purgeable: `{P}:exp`.
    pub(crate) fn purge(&self) -> String {
        format!("{}:exp", self.prefix)
    }

    /// The settings of one (user, client), a versioned JSON record:
    /// `{P}:u:{<user>}:st:<client>`.
    pub(crate) fn settings(&self, user: &UserId, client: &ClientName) -> String {
        format!("{}:u:{{{}}}:st:{}", self.prefix, user, client)
    }

    /// The partition's settings, a sorted set with score 0 of `<user> NUL <client>`
    /// (lexicographic pages for `SettingsStore::list_settings`): `{P}:sts`.
    pub(crate) fn settings_index(&self) -> String {
        format!("{}:sts", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_keys_carry_the_user_as_a_hash_tag() {
        let keys = Keys::new("durin", false);
        let user = UserId::new("alice").unwrap();
        let part = keys.user_part(&user);
        assert_eq!(part.user(&user), "durin:u:{alice}:i");
        let digest = TokenDigest::from_bytes([0xab; 32]);
        assert_eq!(
            part.session(&digest),
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
        let cluster = Keys::new("{durin}", true);
        let tag = RoutingTag::for_user(&user);
        let part = cluster.user_part(&user);
        assert_eq!(part.user(&user), format!("{{durin:{tag}}}:u:{{alice}}:i"));
        assert_eq!(part.tag(), Some(tag));
        assert_eq!(cluster.clients(), "{durin}:clients");
        assert_eq!(cluster.throttle("k", rate), "durin:t:5:60000000000:k");
        assert_eq!(
            cluster.pointer_digest(&digest),
            format!("durin:rt:d:{}", "ab".repeat(32))
        );
        assert!(cluster.single_part().is_none());
    }
}
