//! Tests of the cache on tokio's paused clock: expiry, both bounds and eviction orders, and
//! flights (hand-over, failures, cancelled callers, TTL zero).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::*;

fn bytes(max: usize) -> Cache<&'static str, Arc<Vec<u8>>, String> {
    Cache::new(
        Bound::Weight {
            max,
            weigh: |_: &&str, v: &Arc<Vec<u8>>| v.len(),
        },
        Evict::OldestStored,
    )
}

fn value(bytes: &[u8]) -> Arc<Vec<u8>> {
    Arc::new(bytes.to_vec())
}

#[tokio::test(start_paused = true)]
async fn entries_expire_after_the_ttl() {
    let cache = bytes(100).with_ttl(Duration::from_secs(60));
    cache.insert("k", value(b"v"));
    tokio::time::advance(Duration::from_secs(59)).await;
    assert!(cache.get(&"k").is_some());
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(cache.get(&"k").is_none(), "gone at the TTL");
    assert_eq!((cache.len(), cache.weight()), (0, 0), "and dropped");
}

#[tokio::test(start_paused = true)]
async fn expired_entries_leave_when_the_next_one_is_stored() {
    // Entries nobody asks for again: without a sweep they would stay until the bound pushed
    // them out, each keeping its key and value.
    let cache = bytes(1000).with_ttl(Duration::from_secs(60));
    cache.insert("a", value(b"1"));
    cache.insert("b", value(b"2"));
    tokio::time::advance(Duration::from_secs(30)).await;
    cache.insert("c", value(b"3"));
    tokio::time::advance(Duration::from_secs(30)).await;
    cache.insert("d", value(b"4"));
    assert_eq!(
        (cache.len(), cache.weight()),
        (2, 2),
        "a and b expired and left"
    );
    assert!(cache.get(&"c").is_some() && cache.get(&"d").is_some());
}

#[tokio::test(start_paused = true)]
async fn expired_entries_behind_a_live_one_leave_within_as_many_inserts() {
    // "forever" never expires and sits at the old end, so the sweep of that end stops there.
    let cache = bytes(1000).with_expiry(|v| (v.len() > 1).then(|| Duration::from_secs(60)));
    cache.insert("forever", value(b"1"));
    for name in ["a", "b", "c"] {
        cache.insert(name, value(b"22"));
    }
    tokio::time::advance(Duration::from_secs(61)).await;
    for name in ["d", "e", "f", "g"] {
        cache.insert(name, value(b"1"));
    }
    assert!(cache.get(&"forever").is_some());
    assert_eq!(
        (cache.len(), cache.weight()),
        (5, 5),
        "a, b and c expired and left without being asked for"
    );
}

#[tokio::test(start_paused = true)]
async fn a_value_can_expire_before_the_ttl() {
    let cache = bytes(100)
        .with_ttl(Duration::from_secs(60))
        .with_expiry(|v| Some(Duration::from_secs(v.len() as u64)));
    cache.insert("short", value(b"12"));
    cache.insert("long", value(&[0; 90]));
    tokio::time::advance(Duration::from_secs(2)).await;
    assert!(cache.get(&"short").is_none());
    assert!(cache.get(&"long").is_some(), "the TTL is the longest");
    tokio::time::advance(Duration::from_secs(58)).await;
    assert!(cache.get(&"long").is_none());

    // Stale when loaded: not kept, and waiters load their own.
    let loads = AtomicUsize::new(0);
    let stale = || async {
        loads.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(1)).await;
        Ok::<_, String>(value(b""))
    };
    let (a, b) = tokio::join!(
        cache.get_or_try_load(&"stale", stale),
        cache.get_or_try_load(&"stale", stale),
    );
    assert_eq!(
        (a.map(|r| r.1), b.map(|r| r.1)),
        (Ok(Origin::Loaded), Ok(Origin::Loaded))
    );
    assert_eq!((loads.load(Ordering::SeqCst), cache.len()), (2, 0));
}

#[tokio::test]
async fn weight_bound_evicts_the_oldest_stored() {
    let cache = bytes(10);
    cache.insert("a", value(b"123456"));
    cache.insert("b", value(b"7890"));
    assert!(cache.get(&"a").is_some(), "reads do not count");
    cache.insert("c", value(b"xyz"));
    assert_eq!(cache.weight(), 7);
    assert!(cache.get(&"a").is_none() && cache.get(&"b").is_some());
    cache.insert("big", value(&[0; 11]));
    assert_eq!(cache.weight(), 7, "a value over the bound is not kept");
    cache.insert("b", value(b"1"));
    assert_eq!(cache.weight(), 4, "a replaced value no longer counts");
}

#[tokio::test]
async fn entry_bound_evicts_the_least_recently_used() {
    let cache: Cache<u8, u8> = Cache::new(Bound::Entries(2), Evict::LeastRecentlyUsed);
    cache.insert(1, 1);
    cache.insert(2, 2);
    assert_eq!(cache.get(&1), Some(1));
    cache.insert(3, 3);
    assert_eq!(cache.get(&2), None, "2 was least recently used");
    assert_eq!(
        (cache.get(&1), cache.get(&3), cache.len()),
        (Some(1), Some(3), 2)
    );
    let none: Cache<u8, u8> = Cache::new(Bound::Entries(0), Evict::LeastRecentlyUsed);
    none.insert(1, 1);
    assert!(none.is_empty(), "capacity zero keeps nothing");
}

#[tokio::test(start_paused = true)]
async fn waiters_take_what_the_flight_stored_even_with_ttl_zero() {
    let cache = Arc::new(bytes(100).with_ttl(Duration::ZERO));
    let leader = cache.enter(&"k").await;
    assert!(matches!(leader.lookup(), Lookup::Miss));
    let waiter = tokio::spawn({
        let cache = cache.clone();
        async move {
            let flight = cache.enter(&"k").await;
            match flight.lookup() {
                Lookup::Fresh(Ok(v)) => v.to_vec(),
                other => panic!("expected the flight's value, got {other:?}"),
            }
        }
    });
    tokio::task::yield_now().await;
    leader.store(value(b"once"));
    drop(leader);
    assert_eq!(waiter.await.expect("joined"), b"once");
    assert_eq!(
        (cache.len(), cache.flights()),
        (0, 0),
        "nothing outlives the flight"
    );
    assert!(matches!(cache.enter(&"k").await.lookup(), Lookup::Miss));
}

#[tokio::test(start_paused = true)]
async fn a_later_caller_revalidates_instead_of_taking_the_hand_over() {
    let cache = Arc::new(bytes(100).with_ttl(Duration::from_secs(60)));
    let first = cache.enter(&"k").await;
    first.store(value(b"v"));
    // Enters after the store, while the first caller still holds its turn: not fresh for it.
    let later = tokio::spawn({
        let cache = cache.clone();
        async move { matches!(cache.enter(&"k").await.lookup(), Lookup::Valid(_)) }
    });
    tokio::task::yield_now().await;
    assert_eq!(cache.flights(), 1);
    drop(first);
    assert!(later.await.expect("joined"));
}

#[tokio::test(start_paused = true)]
async fn a_failure_is_handed_over_or_retried_but_never_kept() {
    let cache = Arc::new(bytes(100).with_ttl(Duration::from_secs(60)));
    let loads = Arc::new(AtomicUsize::new(0));
    let load = |fail: bool| {
        let loads = loads.clone();
        move || async move {
            loads.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(1)).await;
            if fail {
                Err("refused")
            } else {
                Ok(value(b"v"))
            }
        }
    };
    // get_or_try_load: the waiter loads itself after the failure.
    let (a, b) = tokio::join!(
        cache.get_or_try_load(&"k", load(true)),
        cache.get_or_try_load(&"k", load(false)),
    );
    assert_eq!(a, Err("refused"));
    assert_eq!(b.map(|(_, origin)| origin), Ok(Origin::Loaded));
    assert_eq!(loads.load(Ordering::SeqCst), 2);

    // fail: the waiter takes the failure; nothing is kept.
    let leader = cache.enter(&"f").await;
    let waiter = tokio::spawn({
        let cache = cache.clone();
        async move { matches!(cache.enter(&"f").await.lookup(), Lookup::Fresh(Err(e)) if e == "no") }
    });
    tokio::task::yield_now().await;
    leader.fail("no".into());
    drop(leader);
    assert!(waiter.await.expect("joined"));
    assert!(cache.get(&"f").is_none());
}

#[tokio::test(start_paused = true)]
async fn concurrent_loads_share_one_and_a_cancelled_caller_passes_its_turn_on() {
    let cache = Arc::new(bytes(100).with_ttl(Duration::from_secs(60)));
    let loads = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (cache, loads) = (cache.clone(), loads.clone());
        tasks.push(tokio::spawn(async move {
            let (v, origin) = cache
                .get_or_try_load(&"k", || async {
                    loads.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Ok::<_, String>(value(b"v"))
                })
                .await
                .expect("loaded");
            (v.to_vec(), origin)
        }));
    }
    let mut loaded = 0;
    for task in tasks {
        let (v, origin) = task.await.expect("joined");
        assert_eq!(v, b"v");
        loaded += usize::from(origin == Origin::Loaded);
    }
    assert_eq!((loads.load(Ordering::SeqCst), loaded), (1, 1));
    assert_eq!(cache.flights(), 0);

    // The caller holding the turn is cancelled: the next one loads.
    let stuck = tokio::spawn({
        let cache = cache.clone();
        async move {
            let _turn = cache.enter(&"c").await;
            std::future::pending::<()>().await;
        }
    });
    tokio::task::yield_now().await;
    let next = tokio::spawn({
        let cache = cache.clone();
        async move {
            cache
                .get_or_try_load(&"c", || async { Ok::<_, String>(value(b"2")) })
                .await
        }
    });
    tokio::task::yield_now().await;
    stuck.abort();
    let (v, origin) = next.await.expect("joined").expect("loaded");
    assert_eq!((v.as_slice(), origin), (&b"2"[..], Origin::Loaded));
    assert_eq!(cache.flights(), 0);
}
