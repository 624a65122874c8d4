//! `Throttle` on both databases: GCRA in one upsert per check, in `durin_throttle`.
//!
//! The state of a key at a rate is its theoretical arrival time (TAT, microseconds). A
//! rate `N/period` has an emission interval `T = period / N` and admits a burst of `N`:
//! a request at `now` is admitted when `max(TAT, now) - T·(N-1) <= now`, and then moves
//! the TAT to `max(TAT, now) + T` (the semantics of `durin_core::MemoryThrottle` and of
//! durin-redis's `gcra.lua`). The decision and the new state are computed by CASE
//! expressions inside one `INSERT ... ON CONFLICT DO UPDATE ... RETURNING`, which holds
//! the row's lock while it decides: concurrent checks from any number of processes
//! queue on the row and each sees the state the previous one left.

use std::time::Duration;

use durin_core::{AttemptKey, Rate, StoreError, Throttle, ThrottleDecision};

use crate::SqlStore;
use crate::dialect::{Arg as _, Dialect, get};
use crate::error::map;

/// The throttle statement with the dialect's clock (`now`, microseconds since the epoch)
/// and two-argument maximum (`max`), for `Dialect::THROTTLE_SQL`. `$1` key, `$2` emission interval, `$3` tolerance
/// `T·(N-1)`, both in microseconds. Returns `admitted` (0 or 1) and the microseconds
/// until the next admission (meaningful when refused).
macro_rules! gcra_sql {
    (now = $now:expr, max = $max:expr) => {
        concat!(
            "INSERT INTO durin_throttle AS t (key, tat, admitted) VALUES ($1, ",
            $now,
            " + $2, 1) ON CONFLICT (key) DO UPDATE SET admitted = CASE WHEN ",
            $max,
            "(t.tat, ",
            $now,
            ") - $3 <= ",
            $now,
            " THEN 1 ELSE 0 END, tat = CASE WHEN ",
            $max,
            "(t.tat, ",
            $now,
            ") - $3 <= ",
            $now,
            " THEN ",
            $max,
            "(t.tat, ",
            $now,
            ") + $2 ELSE t.tat END RETURNING CAST(admitted AS BIGINT), tat - $3 - ",
            $now
        )
    };
}
pub(crate) use gcra_sql;

/// The parameters of one check: the row key (a 16-byte hash of the rate and the key, so
/// rows have a fixed size whatever the caller's key), the emission interval and the
/// tolerance, in microseconds.
pub(crate) struct Gcra {
    pub(crate) key: [u8; 16],
    pub(crate) interval: i64,
    pub(crate) tolerance: i64,
}

impl Gcra {
    pub(crate) fn new(key: &str, rate: Rate) -> Self {
        let count = rate.count().get();
        let hashed = AttemptKey::new(
            &[
                b"durin-throttle",
                &count.to_be_bytes(),
                &rate.period().as_nanos().to_be_bytes(),
                key.as_bytes(),
            ],
            0,
        );
        // At least 1 µs: a rate above a million per second is no limit at this precision.
        let interval = micros(rate.emission_interval()).max(1);
        let tolerance = interval.saturating_mul(i64::from(count) - 1);
        Gcra {
            key: *hashed.hash(),
            interval,
            tolerance,
        }
    }
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// Turns the statement's answer into a decision.
pub(crate) fn decision(admitted: i64, wait_micros: i64) -> ThrottleDecision {
    if admitted != 0 {
        ThrottleDecision::Allowed
    } else {
        ThrottleDecision::Limited {
            retry_after: Duration::from_micros(u64::try_from(wait_micros).unwrap_or(0).max(1)),
        }
    }
}

#[async_trait::async_trait]
impl<D: Dialect> Throttle for SqlStore<D> {
    async fn check(&self, key: &str, rate: Rate) -> Result<ThrottleDecision, StoreError> {
        let gcra = Gcra::new(key, rate);
        let row = sqlx::query(D::THROTTLE_SQL)
            .arg_bytes(&gcra.key[..])
            .arg(gcra.interval)
            .arg(gcra.tolerance)
            .fetch_one(self.db())
            .await
            .map_err(map)?;
        Ok(decision(get::<D, _>(&row, 0)?, get::<D, _>(&row, 1)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_follow_the_rate() {
        let g = Gcra::new("k", "5/m".parse().unwrap());
        assert_eq!(g.interval, 12_000_000);
        assert_eq!(g.tolerance, 48_000_000);
        let one = Gcra::new("k", "1/s".parse().unwrap());
        assert_eq!(one.tolerance, 0);
        assert_ne!(g.key, Gcra::new("k", "6/m".parse().unwrap()).key);
        assert_ne!(g.key, Gcra::new("j", "5/m".parse().unwrap()).key);
    }

    #[test]
    fn statements_read_as_sql() {
        let sql = gcra_sql!(now = "NOW", max = "MAX");
        assert!(sql.contains("DO UPDATE SET admitted = CASE WHEN MAX(t.tat, NOW) - $3 <= NOW"));
        assert!(sql.ends_with("RETURNING CAST(admitted AS BIGINT), tat - $3 - NOW"));
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn postgres_reads_the_server_clock() {
        use crate::Dialect as _;
        let now = "(EXTRACT(EPOCH FROM statement_timestamp()) * 1000000)::BIGINT";
        let sql = sqlx::Postgres::THROTTLE_SQL;
        assert!(sql.contains(&format!("CASE WHEN GREATEST(t.tat, {now}) - $3 <= {now}")));
        assert_eq!(
            sqlx::Postgres::PURGE_THROTTLE_SQL,
            format!("DELETE FROM durin_throttle WHERE tat < {now}")
        );
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn sqlite_reads_its_own_clock() {
        use crate::Dialect as _;
        let now = "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)";
        let sql = sqlx::Sqlite::THROTTLE_SQL;
        assert!(sql.contains(&format!("CASE WHEN MAX(t.tat, {now}) - $3 <= {now}")));
        assert_eq!(
            sqlx::Sqlite::PURGE_THROTTLE_SQL,
            format!("DELETE FROM durin_throttle WHERE tat < {now}")
        );
    }
}
