//! The `InvalidationChannel` conformance suite; see [`crate::invalidation_channel_tests`].

use std::sync::Arc;
use std::time::Duration;

use crate::{Invalidation, InvalidationChannel, Subscription, TokenDigest};

type Channel = Arc<dyn InvalidationChannel>;

/// A liveness bound, not a latency target (the propagation bench measures latency).
const DELIVERY_BOUND: Duration = Duration::from_secs(10);

async fn next(subscription: &mut Box<dyn Subscription>) -> String {
    tokio::time::timeout(DELIVERY_BOUND, subscription.next())
        .await
        .expect("a payload arrives")
        .expect("the subscription is live")
}

/// What is published after `subscribe` returned reaches the subscription.
pub async fn a_subscriber_receives_what_is_published_after_it_subscribed(channel: Channel) {
    let mut subscription = channel.subscribe().await.unwrap();
    let payload = Invalidation::All.encode();
    channel.publish(&payload).await.unwrap();
    assert_eq!(next(&mut subscription).await, payload);
}

/// Every subscription receives every payload, in publication order.
pub async fn every_subscriber_receives_each_payload_in_order(channel: Channel) {
    let mut first = channel.subscribe().await.unwrap();
    let mut second = channel.subscribe().await.unwrap();
    let payloads: Vec<String> = (0..20u8)
        .map(|i| Invalidation::Digests(vec![TokenDigest::from_bytes([i; 32])]).encode())
        .collect();
    for p in &payloads {
        channel.publish(p).await.unwrap();
    }
    for subscription in [&mut first, &mut second] {
        for p in &payloads {
            assert_eq!(&next(subscription).await, p);
        }
    }
}

/// The largest payload the bus sends (64 digests) passes intact.
pub async fn the_largest_payload_passes_intact(channel: Channel) {
    let mut subscription = channel.subscribe().await.unwrap();
    let digests = (0..Invalidation::MAX_DIGESTS as u8)
        .map(|i| TokenDigest::from_bytes([i; 32]))
        .collect();
    let payload = Invalidation::Digests(digests).encode();
    channel.publish(&payload).await.unwrap();
    assert_eq!(next(&mut subscription).await, payload);
}

/// Publishing with nobody listening succeeds.
pub async fn publishing_without_subscribers_succeeds(channel: Channel) {
    channel.publish(&Invalidation::All.encode()).await.unwrap();
}

/// Text that is not an invalidation is carried as it is (the bus decodes and ignores it).
pub async fn any_text_is_carried_unchanged(channel: Channel) {
    let mut subscription = channel.subscribe().await.unwrap();
    for payload in ["not json", "{\"v\":9}", "ünïcödé ☃", "'; DROP TABLE x; --"] {
        channel.publish(payload).await.unwrap();
        assert_eq!(next(&mut subscription).await, payload);
    }
}
