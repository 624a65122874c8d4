//! The `Throttle` conformance suite; see [`crate::throttle_tests`].

use std::sync::Arc;
use std::time::Duration;

use super::unique;
use crate::{Rate, Throttle, ThrottleDecision};

type Limiter = Arc<dyn Throttle>;

/// A rate `N/period` admits exactly N back-to-back requests, then refuses.
pub async fn admits_a_burst_of_n_then_refuses(throttle: Limiter) {
    let key = unique("burst");
    let rate: Rate = "5/m".parse().unwrap();
    for i in 0..5 {
        let d = throttle.check(&key, rate).await.unwrap();
        assert_eq!(d, ThrottleDecision::Allowed, "request {i} of the burst");
    }
    let refused = throttle.check(&key, rate).await.unwrap();
    assert!(!refused.is_allowed(), "the sixth request is refused");
    assert!(!throttle.check(&key, rate).await.unwrap().is_allowed());
}

/// One key's exhaustion does not affect another key.
pub async fn keys_are_independent(throttle: Limiter) {
    let rate: Rate = "2/h".parse().unwrap();
    let (a, b) = (unique("a"), unique("b"));
    for _ in 0..2 {
        assert!(throttle.check(&a, rate).await.unwrap().is_allowed());
    }
    assert!(!throttle.check(&a, rate).await.unwrap().is_allowed());
    assert!(throttle.check(&b, rate).await.unwrap().is_allowed());
}

/// The same key under two rates is limited separately per rate.
pub async fn rates_are_independent(throttle: Limiter) {
    let key = unique("rates");
    let one: Rate = "1/h".parse().unwrap();
    let three: Rate = "3/h".parse().unwrap();
    assert!(throttle.check(&key, one).await.unwrap().is_allowed());
    assert!(!throttle.check(&key, one).await.unwrap().is_allowed());
    let other_key = unique("rates");
    for _ in 0..3 {
        assert!(
            throttle
                .check(&other_key, three)
                .await
                .unwrap()
                .is_allowed()
        );
    }
}

/// The announced wait is positive and at most one emission interval (period / N).
pub async fn retry_after_is_within_one_emission_interval(throttle: Limiter) {
    let key = unique("retry");
    let rate: Rate = "2/m".parse().unwrap();
    throttle.check(&key, rate).await.unwrap();
    throttle.check(&key, rate).await.unwrap();
    match throttle.check(&key, rate).await.unwrap() {
        ThrottleDecision::Limited { retry_after } => {
            assert!(retry_after > Duration::ZERO);
            assert!(
                retry_after <= Duration::from_secs(30),
                "{retry_after:?} exceeds one emission interval (30s)"
            );
        }
        ThrottleDecision::Allowed => panic!("third request of 2/m admitted"),
    }
}
