//! Tests of the health state on tokio's clock: thresholds, backoff, suspect Decrypts and the
//! evidence of calls run on their own task.

use super::*;
use crate::config::KeySpec;
use prometheus_client::registry::Registry;

fn health() -> Health {
    Health::new(Metrics::register(&mut Registry::default()))
}

fn unusable() -> Result<(), PluginError> {
    Err(PluginError::KeyUnusable {
        code: "DisabledException".into(),
    })
}

#[test]
fn recent_success_means_no_probe_until_the_interval() {
    let health = health();
    let interval = Duration::from_secs(60);
    assert_eq!(health.next_probe(interval), (None, Op::Encrypt), "now");
    health.success(Op::Encrypt);
    let (at, op) = health.next_probe(interval);
    assert!(at.expect("scheduled") > Instant::now() + interval / 2);
    assert_eq!(op, Op::Decrypt, "alternates");
    health.success(Op::Decrypt);
    assert_eq!(health.next_probe(interval).1, Op::Encrypt);
}

#[test]
fn unhealthy_only_after_consecutive_failures() {
    let health = health();
    let keys = KeyRing::new(KeySpec::Key("k".into()), vec![]);
    assert!(health.reason(&keys).is_some(), "unresolved key");
    keys.resolved("arn:aws:kms:r:1:key/k".into());
    assert_eq!(health.reason(&keys), None);
    for _ in 1..FAILURE_THRESHOLD {
        health.observe(Op::Encrypt, &unusable());
        assert_eq!(health.reason(&keys), None, "not yet");
    }
    health.observe(Op::Decrypt, &Ok(()));
    for _ in 1..FAILURE_THRESHOLD {
        health.observe(Op::Encrypt, &unusable());
    }
    assert_eq!(
        health.reason(&keys),
        None,
        "a success in between resets the count"
    );
    health.observe(Op::Encrypt, &unusable());
    let reason = health.reason(&keys).expect("failing");
    assert!(reason.contains("DisabledException"), "{reason}");
    let bad_input: Result<(), _> = Err(PluginError::BadCiphertext {
        code: "InvalidCiphertextException".into(),
    });
    health.observe(Op::Decrypt, &bad_input);
    assert!(health.reason(&keys).is_some(), "bad input is no evidence");
    health.observe(Op::Decrypt, &Ok(()));
    assert_eq!(health.reason(&keys), None);
}

#[test]
fn failures_are_reprobed_on_a_short_backoff() {
    let interval = Duration::from_secs(300);
    let waits: Vec<u64> = (1..=6).map(|n| backoff(n, interval).as_secs()).collect();
    assert_eq!(waits, [1, 2, 4, 8, 10, 10]);
    assert_eq!(
        backoff(1, Duration::from_millis(500)),
        Duration::from_millis(500)
    );
    let health = health();
    health.success(Op::Encrypt);
    health.failure("Encrypt: AWS KMS unavailable (timeout)".into());
    let (at, _) = health.next_probe(interval);
    assert!(at.expect("scheduled") <= Instant::now() + Duration::from_secs(1));
}

#[test]
fn a_suspect_decrypt_asks_for_a_probe_but_is_not_a_failure() {
    let health = health();
    let keys = KeyRing::new(KeySpec::Key("k".into()), vec![]);
    keys.resolved("arn:aws:kms:r:1:key/k".into());
    let interval = Duration::from_secs(300);
    health.observe(Op::Encrypt, &Ok(()));
    for _ in 0..10 {
        health.observe_decrypt(&Err::<(), _>(PluginError::AccessDenied {
            code: "AccessDeniedException".into(),
        }));
    }
    assert_eq!(
        health.reason(&keys),
        None,
        "one object's refusal is no failure"
    );
    let (at, _) = health.next_probe(interval);
    let at = at.expect("scheduled");
    assert!(at <= Instant::now() + SUSPECT_GAP, "probe soon");
    assert!(
        at + Duration::from_secs(1) >= Instant::now() + SUSPECT_GAP,
        "not at once after a success"
    );
    health.probed();
    assert!(health.next_probe(interval).0.expect("scheduled") > Instant::now() + SUSPECT_GAP);
    health.observe_decrypt(&Err::<(), _>(PluginError::Unavailable {
        reason: "timeout".into(),
    }));
    assert_eq!(health.lock().failures, 1, "unreachable KMS is evidence");
}

#[test]
fn slow_and_abandoned_calls_are_failures_and_a_late_answer_is_no_success() {
    let health = health();
    let keys = KeyRing::new(KeySpec::Key("k".into()), vec![]);
    keys.resolved("arn:aws:kms:r:1:key/k".into());
    let ok: Result<(), PluginError> = Ok(());
    health.record(
        Op::Encrypt,
        Evidence::<()>::Slow(Duration::from_millis(2500)),
    );
    health.record(
        Op::Decrypt,
        Evidence::Answered {
            result: &ok,
            heard: false,
        },
    );
    assert_eq!(
        health.reason(&keys),
        None,
        "two failures are not yet unhealthy"
    );
    health.record(
        Op::Decrypt,
        Evidence::<()>::Slow(Duration::from_millis(2500)),
    );
    let reason = health.reason(&keys).expect("three failures in a row");
    assert!(reason.contains("no answer within 2.5s"), "{reason}");
    let bad_input: Result<(), _> = Err(PluginError::BadCiphertext { code: "x".into() });
    health.record(
        Op::Decrypt,
        Evidence::Answered {
            result: &bad_input,
            heard: false,
        },
    );
    assert!(
        health.reason(&keys).is_some(),
        "one object's bad data says nothing"
    );
    health.record(
        Op::Decrypt,
        Evidence::Answered {
            result: &ok,
            heard: true,
        },
    );
    assert_eq!(health.reason(&keys), None, "an answer in time clears them");
}
