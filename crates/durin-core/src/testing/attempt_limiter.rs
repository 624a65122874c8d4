//! The `AttemptLimiter` conformance suite; see [`crate::attempt_limiter_tests`].

use std::sync::Arc;
use std::time::Duration;

use super::{now, unique};
use crate::{AttemptDecision, AttemptId, AttemptKey, AttemptLimiter, Timestamp};

type Limiter = Arc<dyn AttemptLimiter>;

const WINDOW: Duration = Duration::from_secs(900);

fn key(limit: u32) -> AttemptKey {
    AttemptKey::new(&[unique("attempts").as_bytes()], limit)
}

async fn reserve(limiter: &Limiter, keys: &[AttemptKey], at: Timestamp) -> AttemptDecision {
    limiter
        .reserve(keys, AttemptId::generate(), WINDOW, at)
        .await
        .expect("reserve")
}

/// A key admits `limit` attempts within the window, then refuses with the time until
/// its oldest attempt leaves the window.
pub async fn admits_up_to_the_limit_then_refuses(limiter: Limiter) {
    let k = key(3);
    let t = now();
    for i in 0..3 {
        let at = t.saturating_add(Duration::from_secs(i));
        assert_eq!(reserve(&limiter, &[k], at).await, AttemptDecision::Reserved);
    }
    let later = t.saturating_add(Duration::from_secs(100));
    match reserve(&limiter, &[k], later).await {
        AttemptDecision::Refused { retry_after } => {
            assert_eq!(
                retry_after,
                Duration::from_secs(800),
                "the first attempt frees at t+900s"
            );
        }
        other => panic!("{other:?}"),
    }
}

/// Released attempts do not count.
pub async fn release_frees_a_slot(limiter: Limiter) {
    let k = key(1);
    let t = now();
    let id = AttemptId::generate();
    assert_eq!(
        limiter.reserve(&[k], id, WINDOW, t).await.unwrap(),
        AttemptDecision::Reserved
    );
    assert!(matches!(
        reserve(&limiter, &[k], t).await,
        AttemptDecision::Refused { .. }
    ));
    limiter.release(&[k], id).await.unwrap();
    assert_eq!(reserve(&limiter, &[k], t).await, AttemptDecision::Reserved);
}

/// Attempts older than the window are forgotten.
pub async fn the_window_forgets_old_attempts(limiter: Limiter) {
    let k = key(2);
    let t = now();
    reserve(&limiter, &[k], t).await;
    reserve(&limiter, &[k], t.saturating_add(Duration::from_secs(10))).await;
    let just_before = t
        .saturating_add(WINDOW)
        .saturating_sub(Duration::from_millis(1));
    assert!(matches!(
        reserve(&limiter, &[k], just_before).await,
        AttemptDecision::Refused { .. }
    ));
    let after = t
        .saturating_add(WINDOW)
        .saturating_add(Duration::from_millis(1));
    assert_eq!(
        reserve(&limiter, &[k], after).await,
        AttemptDecision::Reserved
    );
}

/// A refusal records nothing under the other keys of the attempt.
pub async fn a_refusal_records_nothing(limiter: Limiter) {
    let (full, other) = (key(1), key(2));
    let t = now();
    reserve(&limiter, &[full], t).await;
    for _ in 0..5 {
        assert!(matches!(
            reserve(&limiter, &[other, full], t).await,
            AttemptDecision::Refused { .. }
        ));
    }
    assert_eq!(
        reserve(&limiter, &[other], t).await,
        AttemptDecision::Reserved
    );
    assert_eq!(
        reserve(&limiter, &[other], t).await,
        AttemptDecision::Reserved
    );
    assert!(matches!(
        reserve(&limiter, &[other], t).await,
        AttemptDecision::Refused { .. }
    ));
}

/// Keys do not share counts, and a limit applies to one key only.
pub async fn keys_are_independent(limiter: Limiter) {
    let (a, b) = (key(1), key(1));
    let t = now();
    assert_eq!(reserve(&limiter, &[a], t).await, AttemptDecision::Reserved);
    assert_eq!(reserve(&limiter, &[b], t).await, AttemptDecision::Reserved);
    assert!(matches!(
        reserve(&limiter, &[a], t).await,
        AttemptDecision::Refused { .. }
    ));
}

/// 40 concurrent reservations against a limit of 10 admit exactly 10.
pub async fn concurrent_reservations_never_exceed_the_limit(limiter: Limiter) {
    let (pair, address) = (key(10), key(50));
    let t = now();
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let limiter = limiter.clone();
            tokio::spawn(async move { reserve(&limiter, &[pair, address], t).await })
        })
        .collect();
    let mut reserved = 0;
    for task in tasks {
        if task.await.unwrap() == AttemptDecision::Reserved {
            reserved += 1;
        }
    }
    assert_eq!(reserved, 10);
}

/// Purging deletes the attempts made before the given time, only those.
pub async fn purge_deletes_old_attempts(limiter: Limiter) {
    let (old, recent) = (key(1), key(1));
    let t = now();
    let long_ago = t.saturating_sub(Duration::from_secs(86_400 * 365 * 30));
    reserve(&limiter, &[old], long_ago).await;
    reserve(&limiter, &[recent], t).await;
    limiter
        .purge_attempts(long_ago.saturating_add(Duration::from_secs(1)))
        .await
        .unwrap();
    // The old attempt is gone even for a check at its own time; the recent one stays.
    assert_eq!(
        reserve(&limiter, &[old], long_ago).await,
        AttemptDecision::Reserved
    );
    assert!(matches!(
        reserve(&limiter, &[recent], t).await,
        AttemptDecision::Refused { .. }
    ));
}
