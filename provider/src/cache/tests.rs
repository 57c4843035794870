//! Tests of the plaintext cache on tokio's paused clock: TTL, byte bound, coalescing, and TTL
//! zero.

use super::*;
use prometheus_client::registry::Registry;

fn key(object: &str) -> CacheKey {
    CacheKey {
        identity: "role:arn:aws:iam::1:role/a".into(),
        object: object.into(),
        decryption: "s3".into(),
    }
}

fn cache(ttl: Duration, max_bytes: usize) -> PlaintextCache {
    PlaintextCache::new(ttl, max_bytes, Metrics::register(&mut Registry::default()))
}

fn entry(bytes: &[u8]) -> Entry {
    Entry::new(
        SecretBytes::from(bytes.to_vec()),
        "v1".into(),
        Some("\"e\"".into()),
    )
}

/// A fetch of key `k` that waits for the flight in progress, and what it finds.
async fn waiter(cache: &Arc<PlaintextCache>) -> tokio::task::JoinHandle<Lookup> {
    let waiter = tokio::spawn({
        let cache = cache.clone();
        async move {
            let guard = cache.enter(&key("k")).await;
            cache.lookup(&guard)
        }
    });
    tokio::task::yield_now().await;
    waiter
}

#[tokio::test]
async fn entries_live_for_the_ttl_and_are_keyed_by_identity() {
    let cache = cache(Duration::from_secs(60), 1024);
    {
        let guard = cache.enter(&key("s3://b/k")).await;
        assert!(matches!(cache.lookup(&guard), Lookup::Miss));
        cache.store(&guard, entry(b"secret"));
    }
    let guard = cache.enter(&key("s3://b/k")).await;
    let Lookup::Valid(found) = cache.lookup(&guard) else {
        panic!("valid entry")
    };
    assert_eq!(found.plaintext.as_slice(), b"secret");
    drop(guard);
    let other = CacheKey {
        identity: "role:arn:aws:iam::1:role/b".into(),
        ..key("s3://b/k")
    };
    let guard = cache.enter(&other).await;
    assert!(
        matches!(cache.lookup(&guard), Lookup::Miss),
        "another identity never shares"
    );
}

#[tokio::test]
async fn byte_bound_evicts_oldest() {
    let cache = cache(Duration::from_secs(60), 10);
    for (name, bytes) in [("a", &b"123456"[..]), ("b", b"7890")] {
        let guard = cache.enter(&key(name)).await;
        cache.store(&guard, entry(bytes));
    }
    assert_eq!(cache.bytes(), 10);
    let guard = cache.enter(&key("c")).await;
    cache.store(&guard, entry(b"xyz"));
    drop(guard);
    assert_eq!(cache.bytes(), 7, "the oldest entry went");
    let guard = cache.enter(&key("a")).await;
    assert!(matches!(cache.lookup(&guard), Lookup::Miss));
    drop(guard);
    let guard = cache.enter(&key("too-big")).await;
    cache.store(&guard, entry(&[0u8; 11]));
    assert_eq!(cache.bytes(), 7, "an entry over the bound is not stored");
}

#[tokio::test(start_paused = true)]
async fn waiters_take_the_flights_result() {
    let cache = Arc::new(cache(Duration::ZERO, 1024));
    let leader = cache.enter(&key("k")).await;
    let waiter = waiter(&cache).await;
    cache.store(&leader, entry(b"fetched once"));
    drop(leader);
    match waiter.await.expect("waiter") {
        Lookup::Fresh(e) => assert_eq!(e.plaintext.as_slice(), b"fetched once"),
        other => panic!("expected the flight's entry, got {other:?}"),
    }
    // TTL zero: once nobody waits, nothing is kept.
    assert_eq!(cache.bytes(), 0);
    let guard = cache.enter(&key("k")).await;
    assert!(matches!(cache.lookup(&guard), Lookup::Miss));
}

#[tokio::test(start_paused = true)]
async fn expired_entries_are_dropped() {
    let cache = cache(Duration::from_secs(60), 1024);
    {
        let guard = cache.enter(&key("k")).await;
        cache.store(&guard, entry(b"x"));
    }
    tokio::time::advance(Duration::from_secs(59)).await;
    {
        let guard = cache.enter(&key("k")).await;
        assert!(matches!(cache.lookup(&guard), Lookup::Valid(_)));
        // A 304 does not restart the TTL.
        cache.confirm(&guard);
    }
    tokio::time::advance(Duration::from_secs(1)).await;
    let guard = cache.enter(&key("k")).await;
    assert!(matches!(cache.lookup(&guard), Lookup::Miss));
    assert_eq!(cache.bytes(), 0);
}

#[tokio::test]
async fn a_refused_access_forgets_the_entry() {
    let cache = cache(Duration::from_secs(60), 1024);
    {
        let guard = cache.enter(&key("k")).await;
        cache.store(&guard, entry(b"x"));
    }
    let guard = cache.enter(&key("k")).await;
    assert!(matches!(cache.lookup(&guard), Lookup::Valid(_)));
    cache.forget(&guard);
    assert!(matches!(cache.lookup(&guard), Lookup::Miss));
    assert_eq!(cache.bytes(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_failed_fetch_leaves_waiters_to_fetch_themselves() {
    let cache = Arc::new(cache(Duration::from_secs(60), 1024));
    let leader = cache.enter(&key("k")).await;
    let waiter = waiter(&cache).await;
    // The leader's fetch fails: it stores nothing.
    drop(leader);
    let found = waiter.await.expect("waiter");
    assert!(matches!(found, Lookup::Miss), "the waiter fetches itself");
}

#[tokio::test(start_paused = true)]
async fn an_entry_over_the_bound_is_not_handed_over() {
    let cache = Arc::new(cache(Duration::ZERO, 4));
    let leader = cache.enter(&key("k")).await;
    let waiter = waiter(&cache).await;
    cache.store(&leader, entry(b"12345"));
    drop(leader);
    assert!(matches!(waiter.await.expect("waiter"), Lookup::Miss));
}
