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
    let w = |name: &str, bytes: &[u8]| weight(&key(name), &entry(bytes));
    let max = w("a", b"123456") + w("b", b"7890");
    let cache = cache(Duration::from_secs(60), max);
    for (name, bytes) in [("a", &b"123456"[..]), ("b", b"7890")] {
        let guard = cache.enter(&key(name)).await;
        cache.store(&guard, entry(bytes));
    }
    assert_eq!(cache.bytes(), max);
    let guard = cache.enter(&key("c")).await;
    cache.store(&guard, entry(b"xyz"));
    drop(guard);
    let kept = w("b", b"7890") + w("c", b"xyz");
    assert_eq!(cache.bytes(), kept, "the oldest entry went");
    let guard = cache.enter(&key("a")).await;
    assert!(matches!(cache.lookup(&guard), Lookup::Miss));
    drop(guard);
    let guard = cache.enter(&key("too-big")).await;
    cache.store(&guard, entry(&vec![0u8; max]));
    assert_eq!(cache.bytes(), kept, "an entry over the bound is not stored");
}

/// Entries of empty objects under long keys (what a tenant renaming S3 keys between Mounts
/// leaves behind) must weigh at least the heap they hold, as the allocator counts it: the
/// byte bound is then a bound on memory, not only on plaintext.
#[test]
fn entries_weigh_at_least_the_heap_they_hold() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let cache = cache(Duration::from_secs(60), usize::MAX);
    for plaintext in [&b""[..], b"x", &[7u8; 100]] {
        let (_, held, _) = keywarden_heap_meter::measure(|| {
            runtime.block_on(async {
                for i in 0..2_000 {
                    let long = format!("s3://bucket/{}/{i}", "k".repeat(1000));
                    let guard = cache.enter(&key(&long)).await;
                    cache.store(&guard, entry(plaintext));
                }
            })
        });
        let weighed = cache.bytes();
        assert!(
            held <= weighed,
            "{}-byte entries hold {held} bytes, weigh {weighed}",
            plaintext.len()
        );
        runtime.block_on(async {
            for i in 0..2_000 {
                let long = format!("s3://bucket/{}/{i}", "k".repeat(1000));
                let guard = cache.enter(&key(&long)).await;
                cache.forget(&guard);
            }
        });
        assert_eq!(cache.bytes(), 0);
    }
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
async fn without_coalescing_nothing_is_shared_or_reused() {
    let cache = Arc::new(cache(Duration::from_secs(60), 1024).without_coalescing());
    let leader = cache.enter(&key("k")).await;
    // A second identical fetch starts at once (it does not wait on the first one's flight)...
    let waiter = waiter(&cache).await;
    let found = tokio::time::timeout(Duration::from_secs(1), waiter)
        .await
        .expect("the second fetch waited on the first one's flight")
        .expect("waiter");
    assert!(matches!(found, Lookup::Miss));
    cache.store(&leader, entry(b"fetched by the leader"));
    drop(leader);
    // ...and a later one does not find what the first one stored.
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
        let Lookup::Valid(found) = cache.lookup(&guard) else {
            panic!("the entry is within its TTL");
        };
        // A 304 does not restart the TTL.
        cache.confirm(&guard, &found);
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

#[tokio::test(start_paused = true)]
async fn an_s3_proof_stands_for_the_revalidation_window_only() {
    let window = Duration::from_secs(30);
    let cache = cache(Duration::from_secs(300), 1024).with_revalidate_window(window);
    let fetched = entry(b"proven by the fetch");
    assert!(cache.recently_proven(&fetched), "a fresh fetch is a proof");
    tokio::time::advance(window - Duration::from_millis(1)).await;
    assert!(
        cache.recently_proven(&fetched.clone()),
        "copies share the proof"
    );
    tokio::time::advance(Duration::from_millis(1)).await;
    assert!(!cache.recently_proven(&fetched), "the window has passed");

    // A 304 proves it again, for every copy of the entry.
    let guard = cache.enter(&key("k")).await;
    let copy = fetched.clone();
    cache.confirm(&guard, &copy);
    assert!(cache.recently_proven(&fetched));

    let off = self::cache(Duration::from_secs(300), 1024);
    assert!(
        !off.recently_proven(&entry(b"x")),
        "window 0 never skips S3"
    );
}

#[tokio::test(start_paused = true)]
async fn the_window_does_not_outlive_the_ttl() {
    // The TTL counts from the decryption: a 304 restarts the window, never the entry's life.
    let ttl = Duration::from_secs(60);
    let cache = cache(ttl, 1024).with_revalidate_window(Duration::from_secs(30));
    let guard = cache.enter(&key("k")).await;
    cache.store(&guard, entry(b"v"));
    drop(guard);
    tokio::time::advance(Duration::from_secs(50)).await;
    let guard = cache.enter(&key("k")).await;
    let Lookup::Valid(found) = cache.lookup(&guard) else {
        panic!("the entry is within its TTL");
    };
    cache.confirm(&guard, &found);
    drop(guard);
    tokio::time::advance(Duration::from_secs(11)).await;
    let guard = cache.enter(&key("k")).await;
    assert!(
        matches!(cache.lookup(&guard), Lookup::Miss),
        "past the TTL the entry is gone, although S3 proved it 11 s ago"
    );
}

#[tokio::test(start_paused = true)]
async fn only_an_entry_that_needs_no_request_is_reusable_without_a_flight() {
    let window = Duration::from_secs(30);
    let cache = cache(Duration::from_secs(60), 1024).with_revalidate_window(window);
    assert!(cache.reusable(&key("k"), false).is_none(), "nothing kept");
    let guard = cache.enter(&key("k")).await;
    cache.store(&guard, entry(b"v"));
    drop(guard);
    let kept = cache
        .reusable(&key("k"), true)
        .expect("proven within the window");
    assert_eq!(kept.plaintext.as_slice(), b"v");
    let other = CacheKey {
        identity: "role:arn:aws:iam::1:role/b".into(),
        ..key("k")
    };
    assert!(
        cache.reusable(&other, false).is_none(),
        "another identity's entry"
    );
    tokio::time::advance(window).await;
    assert!(
        cache.reusable(&key("k"), true).is_none(),
        "past the window S3 must be asked (through the flight)"
    );
    assert!(
        cache.reusable(&key("k"), false).is_some(),
        "without a proof to renew, the entry serves for its TTL"
    );
    tokio::time::advance(Duration::from_secs(30)).await;
    assert!(cache.reusable(&key("k"), false).is_none(), "past the TTL");
    let off = self::cache(Duration::from_secs(60), 1024);
    let guard = off.enter(&key("k")).await;
    off.store(&guard, entry(b"v"));
    drop(guard);
    assert!(
        off.reusable(&key("k"), true).is_none(),
        "window 0: S3 is always asked"
    );
}

/// An expired plaintext leaves memory within the sweep's period, although no Mount stores or
/// asks for anything after it.
#[tokio::test(start_paused = true)]
async fn the_sweeper_drops_expired_plaintexts_nobody_asks_for() {
    let cache = Arc::new(cache(Duration::from_secs(60), 1 << 20));
    let guard = cache.enter(&key("k")).await;
    cache.store(&guard, entry(b"secret"));
    drop(guard);
    let sweeper = tokio::spawn(cache.clone().sweep_expired(Duration::from_secs(10)));
    tokio::time::sleep(Duration::from_secs(55)).await;
    assert_ne!(cache.bytes(), 0, "kept within the TTL");
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert_eq!(cache.bytes(), 0, "gone within a period of its expiry");
    sweeper.abort();
}
