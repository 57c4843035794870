//! KMS health as the plugin knows it, and the background checker that keeps it true and fresh
//! at a small, bounded cost.
//!
//! Evidence is the outcome of a KMS operation under the *current* key: real Encrypts, real
//! Decrypts that fail for a reason that is about KMS (unreachable, throttling), and the
//! checker's own probes. Old keys are no evidence (a retired key being disabled must not make
//! the plugin unhealthy), and neither is one stored object's bad data.
//!
//! * The plugin reports unhealthy only after [`FAILURE_THRESHOLD`] failures in a row; one
//!   success clears them. One lost packet does not take the apiservers' `/readyz` down.
//! * After a failure the checker probes again with a short backoff ([`backoff`]: 1 s, 2 s, 4 s,
//!   8 s, then every 10 s), so a real outage is reported within seconds and recovery is seen
//!   within seconds, whatever `--health-interval` is.
//! * A Decrypt refused with a key or permission error may be caused by the object (a context
//!   a key policy denies), so it only makes the checker probe now ([`Health::suspect`]); the probe,
//!   on a value the plugin wrote itself, decides.
//! * Healthy and idle, the checker makes at most one KMS call per `--health-interval`, and none
//!   when real traffic succeeded within it, alternating Encrypt and Decrypt of a fixed value so
//!   that losing either permission shows up.
//!
//! * Real calls run on their own task ([`crate::detached`]), so their outcome is recorded even
//!   when the apiserver gave up on them. A call KMS has not answered within `--kms-timeout` is a
//!   failure at that moment, and a call answered only after every request waiting for it had
//!   given up is one too: a KMS slower than the apiserver's deadline serves nothing, and must
//!   not look healthy. The checker's probes are bounded by `--kms-timeout` as well, so a hung
//!   KMS is reported after three of them (a few seconds), not after three full call timeouts.
//!
//! `Status` and the HTTP probes only read this state; they never call AWS.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::cache::DecryptCache;
use crate::catalogue;
use crate::detached::Evidence;
use crate::envelope::Context;
use crate::error::PluginError;
use crate::keys::KeyRing;
use crate::kms::Kms;
use crate::metrics::Metrics;

/// The value the checker encrypts; not a secret.
const PROBE_PLAINTEXT: &[u8] = b"keywarden-kms health probe";

/// Failures in a row before the plugin reports unhealthy.
pub const FAILURE_THRESHOLD: u32 = 3;

/// Longest wait between probes while failures are outstanding.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Least time between two probes caused by suspect Decrypt failures while KMS looks healthy.
pub const SUSPECT_GAP: Duration = Duration::from_secs(10);

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

/// The wait before the next probe after `failures` failures in a row: 1 s doubling, at most
/// [`MAX_BACKOFF`] and at most `interval`.
pub fn backoff(failures: u32, interval: Duration) -> Duration {
    let exp = failures.saturating_sub(1).min(8);
    Duration::from_secs(1 << exp).min(MAX_BACKOFF).min(interval)
}

/// What is known about KMS health.
#[derive(Debug)]
pub struct Health {
    state: Mutex<State>,
    wake: Notify,
    metrics: Metrics,
}

#[derive(Debug, Default)]
struct State {
    /// Failures since the last success.
    failures: u32,
    /// Why the latest failure happened.
    reason: Option<String>,
    /// When the latest evidence (success or failure) arrived.
    last: Option<Instant>,
    /// When the latest success arrived.
    last_ok: Option<Instant>,
    /// A Decrypt failure asked for a probe that has not run yet.
    suspect: bool,
    encrypt_ok: Option<Instant>,
    decrypt_ok: Option<Instant>,
}

impl Health {
    /// No evidence yet.
    pub fn new(metrics: Metrics) -> Self {
        Self {
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            metrics,
        }
    }

    /// Records the outcome of an Encrypt under the current key, or of a probe. Failures that
    /// are about the request's input (bad ciphertext) say nothing about health.
    pub fn observe<T>(&self, op: Op, result: &Result<T, PluginError>) {
        match result {
            Ok(_) => self.success(op),
            Err(err) if err.is_health_evidence() => {
                self.failure(catalogue::operation_failed(op.name(), err))
            }
            Err(_) => {}
        }
    }

    /// Records the outcome of a real Decrypt under the current key. Only KMS being unreachable
    /// or throttling is evidence by itself; a key or permission error may come from the stored
    /// object (its context, its blob), so it makes the checker probe instead.
    pub fn observe_decrypt<T>(&self, result: &Result<T, PluginError>) {
        match result {
            Ok(_) => self.success(Op::Decrypt),
            Err(err @ PluginError::Unavailable { .. }) => {
                self.failure(catalogue::operation_failed("Decrypt", err))
            }
            Err(err) if err.is_health_evidence() => self.suspect(),
            Err(_) => {}
        }
    }

    /// Records what a call run on its own task says about KMS: slow, or answered after every
    /// caller left, is a failure; otherwise its answer counts as for [`Health::observe`] (or
    /// [`Health::observe_decrypt`] for a Decrypt).
    pub fn record<T>(&self, op: Op, evidence: Evidence<'_, T>) {
        match evidence {
            Evidence::Slow(wait) => self.failure(catalogue::operation_failed(
                op.name(),
                PluginError::Unavailable {
                    reason: catalogue::no_answer_within(&wait).to_string(),
                },
            )),
            Evidence::Answered {
                result: Ok(_),
                heard: false,
            } => self.failure(catalogue::answered_too_late(op.name()).to_string()),
            Evidence::Answered { result, .. } => match op {
                Op::Encrypt => self.observe(op, result),
                Op::Decrypt => self.observe_decrypt(result),
            },
        }
    }

    /// Records a successful call.
    pub fn success(&self, op: Op) {
        let now = Instant::now();
        let mut state = self.lock();
        if state.failures >= FAILURE_THRESHOLD {
            tracing::info!(operation = op.name(), "KMS healthy again");
        }
        state.failures = 0;
        state.reason = None;
        state.last = Some(now);
        state.last_ok = Some(now);
        match op {
            Op::Encrypt => state.encrypt_ok = Some(now),
            Op::Decrypt => state.decrypt_ok = Some(now),
        }
        drop(state);
        self.metrics.set_healthy(true);
    }

    /// Records a failure with a short reason (shown in `Status.healthz` and `/healthz` once
    /// [`FAILURE_THRESHOLD`] failures came in a row), and wakes the checker to probe again soon.
    pub fn failure(&self, reason: String) {
        let mut state = self.lock();
        state.failures = state.failures.saturating_add(1);
        state.last = Some(Instant::now());
        let unhealthy = state.failures >= FAILURE_THRESHOLD;
        if state.failures == FAILURE_THRESHOLD {
            tracing::warn!(reason = %reason, failures = state.failures, "KMS health check failing");
        } else if !unhealthy {
            tracing::info!(reason = %reason, failures = state.failures, "KMS call failed; probing again soon");
        }
        state.reason = Some(reason);
        drop(state);
        self.metrics.set_healthy(!unhealthy);
        self.wake.notify_one();
    }

    /// Asks the checker for a probe now: a real Decrypt failed in a way that may or may not be
    /// about KMS.
    pub fn suspect(&self) {
        self.lock().suspect = true;
        self.wake.notify_one();
    }

    /// `None` when healthy, else why not.
    pub fn reason(&self, keys: &KeyRing) -> Option<String> {
        if let Some(unresolved) = keys.unresolved() {
            return Some(unresolved);
        }
        let state = self.lock();
        (state.failures >= FAILURE_THRESHOLD)
            .then(|| state.reason.clone())
            .flatten()
    }

    /// When the checker should probe next (it may be now or in the past), and with which
    /// operation: after failures, on the backoff; after a suspect Decrypt, now unless a success
    /// is younger than [`SUSPECT_GAP`]; otherwise one `interval` after the latest evidence.
    pub fn next_probe(&self, interval: Duration) -> (Option<Instant>, Op) {
        let state = self.lock();
        let op = match (state.encrypt_ok, state.decrypt_ok) {
            (Some(e), Some(d)) if d < e => Op::Decrypt,
            (Some(_), None) => Op::Decrypt,
            _ => Op::Encrypt,
        };
        let at = match state.last {
            None => None,
            Some(last) if state.failures > 0 => Some(last + backoff(state.failures, interval)),
            Some(last) => {
                let regular = last + interval;
                let suspect = state
                    .suspect
                    .then(|| state.last_ok.map_or(last, |ok| ok + SUSPECT_GAP));
                Some(suspect.map_or(regular, |s| s.min(regular)))
            }
        };
        (at, op)
    }

    /// Records a probe's outcome: the probe works on a value the plugin wrote itself under the
    /// current key and the configured context, so every failure is evidence.
    fn probe_result<T>(&self, op: Op, result: &Result<T, PluginError>) {
        match result {
            Ok(_) => self.success(op),
            Err(err) => self.failure(catalogue::operation_failed(op.name(), err)),
        }
    }

    fn probed(&self) {
        self.lock().suspect = false;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The background checker: probes KMS when [`Health::next_probe`] says so, sleeping in
/// between unless a failure or a suspect Decrypt wakes it. The probe ciphertext is kept (it
/// protects a constant) for the next Decrypt probe.
/// Each probe waits at most `wait` (`--kms-timeout`); a probe refused because of the key drops
/// the key's entries from `cache`.
pub async fn watch(
    health: Arc<Health>,
    keys: Arc<KeyRing>,
    (kms, cache): (Kms, DecryptCache),
    context: Context,
    (interval, wait): (Duration, Duration),
    cancel: CancellationToken,
) {
    let mut probe: Option<(String, Vec<u8>)> = None;
    loop {
        let wait = match keys.current() {
            None => interval.min(Duration::from_secs(1)),
            Some(key) => {
                let (at, op) = health.next_probe(interval);
                let now = Instant::now();
                match at {
                    Some(at) if at > now => at - now,
                    _ => {
                        health.probed();
                        let probe = (op, key.as_str(), &mut probe);
                        check(&health, (&kms, &cache), &context, probe, wait).await;
                        continue;
                    }
                }
            }
        };
        tokio::select! {
            () = cancel.cancelled() => return,
            () = health.wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

async fn check(
    health: &Health,
    (kms, cache): (&Kms, &DecryptCache),
    context: &Context,
    (op, key, probe): (Op, &str, &mut Option<(String, Vec<u8>)>),
    wait: Duration,
) {
    let blob = probe.as_ref().filter(|(k, _)| k == key).map(|(_, b)| b);
    match (op, blob) {
        (Op::Decrypt, Some(blob)) => {
            let result = within(wait, kms.decrypt(Some(key), blob, context)).await;
            cache.learn(key, &result);
            if let Ok((plaintext, _)) = &result
                && plaintext.as_slice() != PROBE_PLAINTEXT
            {
                health.failure(catalogue::probe_mismatch());
                return;
            }
            health.probe_result(Op::Decrypt, &result);
        }
        _ => {
            let result = within(wait, kms.encrypt(key, PROBE_PLAINTEXT, context)).await;
            cache.learn(key, &result);
            health.probe_result(Op::Encrypt, &result);
            if let Ok(blob) = result {
                *probe = Some((key.to_owned(), blob));
            }
        }
    }
    tracing::debug!(operation = op.name(), "health probe done");
}

/// `call`'s answer, or `UNAVAILABLE` after `wait` (the call is dropped: a probe's only use is
/// its outcome, and a probe that took longer than `wait` failed).
async fn within<T>(
    wait: Duration,
    call: impl std::future::Future<Output = Result<T, PluginError>>,
) -> Result<T, PluginError> {
    tokio::time::timeout(wait, call).await.unwrap_or_else(|_| {
        Err(PluginError::Unavailable {
            reason: catalogue::no_answer_within(&wait).to_string(),
        })
    })
}

#[cfg(test)]
mod tests;
