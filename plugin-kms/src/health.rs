//! KMS health as the plugin knows it, and the background checker that keeps it fresh cheaply.
//!
//! Every Encrypt and Decrypt under the current key is evidence: the latest one decides whether
//! `Status` says `ok` or names what failed. `Status` and the HTTP probes only read this state;
//! they never call AWS. The checker makes at most one KMS call per `--health-interval`, and none
//! when real traffic succeeded within the interval. When idle it alternates Encrypt and Decrypt
//! of a fixed probe value, so losing either permission shows up.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::envelope::Context;
use crate::error::PluginError;
use crate::keys::KeyRing;
use crate::kms::Kms;
use crate::metrics::Metrics;

/// The value the checker encrypts; not a secret.
const PROBE_PLAINTEXT: &[u8] = b"keywarden-kms health probe";

/// A KMS operation that counts as evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `kms:Encrypt`.
    Encrypt,
    /// `kms:Decrypt`.
    Decrypt,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Self::Encrypt => "Encrypt",
            Self::Decrypt => "Decrypt",
        }
    }
}

/// What is known about KMS health.
#[derive(Debug)]
pub struct Health {
    state: Mutex<State>,
    metrics: Metrics,
}

#[derive(Debug, Default)]
struct State {
    /// When the latest evidence arrived and, if it was a failure, why.
    last: Option<(Instant, Option<String>)>,
    encrypt_ok: Option<Instant>,
    decrypt_ok: Option<Instant>,
}

impl Health {
    /// No evidence yet.
    pub fn new(metrics: Metrics) -> Self {
        Self {
            state: Mutex::new(State::default()),
            metrics,
        }
    }

    /// Records the outcome of a KMS call under the current key. Failures that are about the
    /// request's input (bad ciphertext) say nothing about health and are ignored.
    pub fn observe<T>(&self, op: Op, result: &Result<T, PluginError>) {
        match result {
            Ok(_) => self.success(op),
            Err(err) if err.is_health_evidence() => self.failure(format!("{}: {err}", op.name())),
            Err(_) => {}
        }
    }

    /// Records a successful call.
    pub fn success(&self, op: Op) {
        let now = Instant::now();
        let mut state = self.lock();
        state.last = Some((now, None));
        match op {
            Op::Encrypt => state.encrypt_ok = Some(now),
            Op::Decrypt => state.decrypt_ok = Some(now),
        }
        drop(state);
        self.metrics.set_healthy(true);
    }

    /// Records a failure with a short reason (shown in `Status.healthz` and `/healthz`).
    pub fn failure(&self, reason: String) {
        let mut state = self.lock();
        let changed = !matches!(&state.last, Some((_, Some(r))) if *r == reason);
        if changed {
            tracing::warn!(reason = %reason, "KMS health check failing");
        }
        state.last = Some((Instant::now(), Some(reason)));
        drop(state);
        self.metrics.set_healthy(false);
    }

    /// `None` when healthy, else why not.
    pub fn reason(&self, keys: &KeyRing) -> Option<String> {
        if let Some(unresolved) = keys.unresolved() {
            return Some(unresolved);
        }
        self.lock().last.as_ref().and_then(|(_, r)| r.clone())
    }

    /// Which call the checker should make now, if any: none when the latest evidence is a
    /// success younger than `interval`; otherwise the operation proven least recently.
    pub fn due(&self, now: Instant, interval: Duration) -> Option<Op> {
        let state = self.lock();
        if let Some((at, None)) = state.last
            && now.saturating_duration_since(at) < interval
        {
            return None;
        }
        match (state.encrypt_ok, state.decrypt_ok) {
            (Some(e), Some(d)) if d < e => Some(Op::Decrypt),
            (Some(_), None) => Some(Op::Decrypt),
            _ => Some(Op::Encrypt),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The background checker: wakes every `interval` and probes KMS only when [`Health::due`]
/// says so. The probe ciphertext is kept (it protects a constant) for the next Decrypt probe.
pub async fn watch(
    health: Arc<Health>,
    keys: Arc<KeyRing>,
    kms: Kms,
    context: Context,
    interval: Duration,
    cancel: CancellationToken,
) {
    let mut probe: Option<(String, Vec<u8>)> = None;
    loop {
        let wait = match keys.current() {
            None => interval.min(Duration::from_secs(1)),
            Some(key) => {
                check(&health, &kms, &context, interval, &key, &mut probe).await;
                interval
            }
        };
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

async fn check(
    health: &Health,
    kms: &Kms,
    context: &Context,
    interval: Duration,
    key: &str,
    probe: &mut Option<(String, Vec<u8>)>,
) {
    let Some(op) = health.due(Instant::now(), interval) else {
        tracing::debug!("recent KMS traffic succeeded; no health probe needed");
        return;
    };
    let blob = probe.as_ref().filter(|(k, _)| k == key).map(|(_, b)| b);
    match (op, blob) {
        (Op::Decrypt, Some(blob)) => {
            let result = kms.decrypt(Some(key), blob, context).await;
            if let Ok((plaintext, _)) = &result
                && plaintext.as_slice() != PROBE_PLAINTEXT
            {
                health.failure("Decrypt: health probe decrypted to the wrong value".into());
                return;
            }
            health.observe(Op::Decrypt, &result);
        }
        _ => {
            let result = kms.encrypt(key, PROBE_PLAINTEXT, context).await;
            health.observe(Op::Encrypt, &result);
            if let Ok(blob) = result {
                *probe = Some((key.to_owned(), blob));
            }
        }
    }
    tracing::debug!(operation = op.name(), "health probe done");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KeySpec;
    use prometheus_client::registry::Registry;

    fn health() -> Health {
        Health::new(Metrics::register(&mut Registry::default()))
    }

    #[test]
    fn recent_success_means_no_probe() {
        let health = health();
        let interval = Duration::from_secs(60);
        assert_eq!(health.due(Instant::now(), interval), Some(Op::Encrypt));
        health.success(Op::Encrypt);
        assert_eq!(health.due(Instant::now(), interval), None);
        let later = Instant::now() + interval;
        assert_eq!(health.due(later, interval), Some(Op::Decrypt), "alternates");
        health.success(Op::Decrypt);
        assert_eq!(
            health.due(Instant::now() + interval, interval),
            Some(Op::Encrypt)
        );
    }

    #[test]
    fn failures_are_reported_until_the_next_success() {
        let health = health();
        let keys = KeyRing::new(KeySpec::Key("k".into()), vec![]);
        assert!(health.reason(&keys).is_some(), "unresolved key");
        keys.resolved("arn:aws:kms:r:1:key/k".into());
        assert_eq!(health.reason(&keys), None);
        let err: Result<(), _> = Err(PluginError::KeyUnusable {
            code: "DisabledException".into(),
        });
        health.observe(Op::Encrypt, &err);
        let reason = health.reason(&keys).expect("failing");
        assert!(reason.contains("DisabledException"), "{reason}");
        assert!(
            health
                .due(Instant::now(), Duration::from_secs(60))
                .is_some()
        );
        let bad_input: Result<(), _> = Err(PluginError::BadCiphertext {
            code: "InvalidCiphertextException".into(),
        });
        health.observe(Op::Decrypt, &bad_input);
        assert!(health.reason(&keys).is_some(), "bad input is no evidence");
        health.observe(Op::Decrypt, &Ok(()));
        assert_eq!(health.reason(&keys), None);
    }
}
