//! Which key encrypts, which keys may decrypt, and the alias watcher that keeps both current.
//!
//! `--key` is resolved to a key ARN with DescribeKey at start; an alias is resolved again every
//! `--key-refresh-interval`. When the alias now points at another key, the new ARN becomes the
//! key id `Status` and Encrypt report (so each apiserver makes a new seed), and the previous ARN
//! stays on the decrypt allow-list for the life of the process, beside `--decrypt-keys`.
//!
//! Several apiservers each have their own plugin, and each plugin notices a retargeted alias on
//! its own clock. So a Decrypt naming a key ARN that is not on the allow-list makes the plugin
//! resolve the alias again at once ([`KeyRing::authorize`]): if the alias now names that key,
//! it is accepted (and becomes the current key here too). Those on-demand resolutions are
//! coalesced (one DescribeKey answers every request waiting for it) and rate-limited (at most
//! one per [`ON_DEMAND_GAP`]), so a flood of Decrypts naming unknown keys costs at most one
//! KMS call per second. A key the alias does not name is refused before any Decrypt reaches KMS.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::catalogue;
use crate::config::{KeySpec, is_key_arn};
use crate::error::PluginError;
use crate::health::Health;
use crate::kms::Kms;
use crate::metrics::Metrics;

/// Retry period while the key has never been resolved.
const UNRESOLVED_RETRY: Duration = Duration::from_secs(5);

/// Least time between two on-demand resolutions of the alias.
pub const ON_DEMAND_GAP: Duration = Duration::from_secs(1);

/// The keys of one plugin process.
#[derive(Debug)]
pub struct KeyRing {
    spec: KeySpec,
    decrypt_keys: Vec<String>,
    state: RwLock<State>,
    /// Held while an on-demand resolution runs; holds when the latest one started.
    on_demand: tokio::sync::Mutex<Option<Instant>>,
}

#[derive(Debug, Default)]
struct State {
    current: Option<String>,
    previous: Vec<String>,
    unresolved: Option<String>,
}

/// What a resolution changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The first resolution.
    First,
    /// Same key as before.
    Same,
    /// The alias points at another key now; holds the previous ARN.
    Retargeted(String),
}

impl KeyRing {
    /// A ring for `spec` that also decrypts with `decrypt_keys` (key ARNs).
    pub fn new(spec: KeySpec, decrypt_keys: Vec<String>) -> Self {
        Self {
            spec,
            decrypt_keys,
            state: RwLock::new(State {
                unresolved: Some(catalogue::not_resolved_yet()),
                ..State::default()
            }),
            on_demand: tokio::sync::Mutex::new(None),
        }
    }

    /// How `--key` named the key.
    pub fn spec(&self) -> &KeySpec {
        &self.spec
    }

    /// The ARN new data is encrypted under, once resolved.
    pub fn current(&self) -> Option<String> {
        self.read().current.clone()
    }

    /// Why the key has no ARN yet, if it has none.
    pub fn unresolved(&self) -> Option<String> {
        let state = self.read();
        match &state.current {
            Some(_) => None,
            None => state.unresolved.clone(),
        }
    }

    /// The key id `Status` reports: the current ARN, else the configured key (which no
    /// Encrypt can succeed under until it is resolved, so the apiserver never adopts it).
    pub fn status_key_id(&self) -> String {
        self.current()
            .unwrap_or_else(|| self.spec.as_str().to_owned())
    }

    /// Whether Decrypt may use `key_id`.
    pub fn allows(&self, key_id: &str) -> bool {
        let state = self.read();
        state.current.as_deref() == Some(key_id)
            || state.previous.iter().any(|k| k == key_id)
            || self.decrypt_keys.iter().any(|k| k == key_id)
    }

    /// Whether Decrypt may use `key_id`, resolving the alias again first when the key is not
    /// known yet: another apiserver's plugin may have seen the alias move before this one.
    /// Coalesced and rate-limited (see the module documentation).
    pub async fn authorize(
        &self,
        key_id: &str,
        kms: &Kms,
        health: &Health,
        metrics: &Metrics,
    ) -> Result<(), PluginError> {
        let refused = || PluginError::KeyNotAllowed {
            key_id: key_id.to_owned(),
        };
        if self.allows(key_id) {
            return Ok(());
        }
        // An alias may have moved; any key may simply not be resolved yet (a Decrypt that
        // arrives right after a restart).
        let may_resolve = self.spec.is_alias() || self.current().is_none();
        if !may_resolve || !is_key_arn(key_id) {
            return Err(refused());
        }
        let asked = Instant::now();
        let mut latest = self.on_demand.lock().await;
        if self.allows(key_id) {
            return Ok(());
        }
        if latest.is_none_or(|started| started < asked) {
            if let Some(started) = *latest {
                tokio::time::sleep_until(started + ON_DEMAND_GAP).await;
            }
            *latest = Some(Instant::now());
            metrics.on_demand_resolution();
            tracing::info!(
                key_id,
                "Decrypt names a key not seen yet; resolving the alias again"
            );
            refresh_once(self, kms, health, metrics).await;
        }
        drop(latest);
        if self.allows(key_id) {
            Ok(())
        } else {
            Err(refused())
        }
    }

    /// Every key Decrypt may use, current first.
    pub fn allowed(&self) -> Vec<String> {
        let state = self.read();
        let mut out: Vec<String> = state.current.iter().cloned().collect();
        for key in state.previous.iter().chain(&self.decrypt_keys) {
            if !out.contains(key) {
                out.push(key.clone());
            }
        }
        out
    }

    /// Records that `--key` now resolves to `arn`.
    pub fn resolved(&self, arn: String) -> Change {
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        state.unresolved = None;
        match state.current.replace(arn.clone()) {
            None => Change::First,
            Some(old) if old == arn => Change::Same,
            Some(old) => {
                state.previous.retain(|k| *k != arn);
                if !state.previous.contains(&old) {
                    state.previous.push(old.clone());
                }
                Change::Retargeted(old)
            }
        }
    }

    /// Records why resolution failed (only shown while the key was never resolved).
    pub fn resolve_failed(&self, reason: String) {
        self.state
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .unresolved = Some(reason);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }
}

/// Resolves the key at start (retrying until it works) and then, for an alias, every
/// `interval`, until `cancel` fires.
pub async fn watch(
    ring: Arc<KeyRing>,
    kms: Kms,
    health: Arc<Health>,
    metrics: Metrics,
    interval: Duration,
    cancel: CancellationToken,
) {
    loop {
        refresh_once(&ring, &kms, &health, &metrics).await;
        let wait = if ring.current().is_none() {
            UNRESOLVED_RETRY.min(interval)
        } else if ring.spec().is_alias() {
            interval
        } else {
            return;
        };
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// One DescribeKey of `--key`, applied to the ring and the health state.
pub async fn refresh_once(ring: &KeyRing, kms: &Kms, health: &Health, metrics: &Metrics) {
    let key = ring.spec().as_str();
    match kms.describe(key).await {
        Ok(info) => {
            match ring.resolved(info.arn.clone()) {
                Change::First => tracing::info!(key, arn = %info.arn, "key resolved"),
                Change::Same => tracing::debug!(key, arn = %info.arn, "key unchanged"),
                Change::Retargeted(old) => {
                    metrics.key_changed();
                    tracing::info!(
                        key,
                        arn = %info.arn,
                        previous = %old,
                        "alias points at a new key; new data is encrypted under it, the previous key stays decryptable"
                    );
                }
            }
            if let Some(state) = info.unusable {
                health.failure(catalogue::key_state(&info.arn, state));
            }
        }
        Err(err) => {
            tracing::warn!(key, error = %err, "cannot resolve the key");
            ring.resolve_failed(catalogue::cannot_resolve(key, &err));
            if err.is_health_evidence() {
                health.failure(catalogue::describe_failed(err));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retargeting_keeps_old_keys_decryptable() {
        let ring = KeyRing::new(
            KeySpec::Alias("alias/k".into()),
            vec!["arn:aws:kms:r:1:key/extra".into()],
        );
        assert_eq!(ring.status_key_id(), "alias/k");
        assert!(ring.unresolved().is_some());
        assert!(!ring.allows("arn:aws:kms:r:1:key/a"));
        assert_eq!(ring.resolved("arn:aws:kms:r:1:key/a".into()), Change::First);
        assert_eq!(ring.resolved("arn:aws:kms:r:1:key/a".into()), Change::Same);
        assert_eq!(
            ring.resolved("arn:aws:kms:r:1:key/b".into()),
            Change::Retargeted("arn:aws:kms:r:1:key/a".into())
        );
        assert_eq!(ring.status_key_id(), "arn:aws:kms:r:1:key/b");
        for key in ["a", "b", "extra"] {
            assert!(ring.allows(&format!("arn:aws:kms:r:1:key/{key}")), "{key}");
        }
        assert!(!ring.allows("arn:aws:kms:r:1:key/other"));
        assert!(!ring.allows("alias/k"), "only ARNs are keys");
        ring.resolved("arn:aws:kms:r:1:key/a".into());
        assert_eq!(ring.allowed().len(), 3);
        assert!(ring.unresolved().is_none());
    }
}
