//! Validated object plans kept by the exact text they were parsed from, so that the re-Mount of
//! an unchanged SecretProviderClass (every pod's volume, about once a minute) skips the YAML
//! parsing and validation of its `objects` parameter.
//!
//! The key is the SHA-256 of everything the plans depend on: the `objects` text, the default
//! file mode (the request's `permission`) and `pathTranslation`. Whatever depends on the pod or
//! on other parameters (the namespace binding of encryption contexts, `failoverRegion`, the
//! identity, the tokens) is still checked on every Mount by `params::parse_cached`. Only
//! successful parses are kept; a refused spec is parsed again, and refused again, every time.
//!
//! The cache is bounded in bytes (an estimate of what each entry holds, with a fixed overhead
//! per entry, so the entry count is bounded too): whoever may create SecretProviderClasses
//! chooses the keys, and many distinct specs only evict each other, least recently used first.
//! One cache is built per provider process and handed to the service; nothing here is global.

use std::sync::Arc;

use aws_lc_rs::digest::{Context, SHA256};
use keywarden_runtime::cache::{Bound, Cache, Evict};

use crate::error::MountError;
use crate::limits::MAX_OBJECTS_BYTES;
use crate::metrics::Metrics;
use crate::objects::{self, JmesPathPlan, ObjectPlan, PathTranslation, Source};

/// What the plan cache may hold in all, by the estimate of [`weight`].
pub const MAX_PLAN_CACHE_BYTES: usize = 1024 * 1024;

/// What every entry is counted for beyond its plans (key, list node, `Arc` header): at most
/// `MAX_PLAN_CACHE_BYTES / ENTRY_OVERHEAD_BYTES` entries are kept, however small.
pub const ENTRY_OVERHEAD_BYTES: usize = 512;

/// The SHA-256 of a spec's text and of the request values its plans depend on.
type SpecKey = [u8; 32];

/// Validated plans by spec. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct PlanCache {
    plans: Cache<SpecKey, Arc<[ObjectPlan]>>,
    metrics: Option<Metrics>,
}

impl Default for PlanCache {
    fn default() -> Self {
        Self::new(MAX_PLAN_CACHE_BYTES)
    }
}

impl PlanCache {
    /// A cache holding at most `max_bytes` of plans (by [`weight`]); zero keeps nothing.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            plans: Cache::new(
                Bound::Weight {
                    max: max_bytes,
                    weigh: |_, plans| weight(plans),
                },
                Evict::LeastRecentlyUsed,
            ),
            metrics: None,
        }
    }

    /// The same cache, counting its lookups in `keywarden_provider_cache_total{cache="plans"}`.
    pub fn counted(self, metrics: Metrics) -> Self {
        Self {
            metrics: Some(metrics),
            ..self
        }
    }

    fn count(&self, result: &'static str) {
        if let Some(metrics) = &self.metrics {
            metrics.cache("plans", result);
        }
    }

    /// The plans of `yaml` as [`objects::parse_with`] makes them: kept ones when this exact
    /// spec was parsed before with the same `default_mode` and `translation`, else parsed now
    /// (and kept if valid).
    pub fn get_or_parse(
        &self,
        yaml: &str,
        default_mode: u32,
        translation: PathTranslation,
    ) -> Result<Arc<[ObjectPlan]>, MountError> {
        if yaml.len() > MAX_OBJECTS_BYTES {
            // Refused by the parser before it reads anything; not worth hashing.
            return objects::parse_with(yaml, default_mode, translation).map(Arc::from);
        }
        let key = spec_key(yaml, default_mode, translation);
        if let Some(plans) = self.plans.get(&key) {
            self.count("hit");
            return Ok(plans);
        }
        self.count("miss");
        let plans: Arc<[ObjectPlan]> = objects::parse_with(yaml, default_mode, translation)?.into();
        self.plans.insert(key, plans.clone());
        Ok(plans)
    }

    /// Specs kept.
    pub fn len(&self) -> usize {
        self.plans.len()
    }

    /// Whether no spec is kept.
    pub fn is_empty(&self) -> bool {
        self.plans.is_empty()
    }

    /// What the kept plans weigh in all, by [`weight`].
    pub fn bytes(&self) -> usize {
        self.plans.weight()
    }
}

/// The key of a spec: SHA-256 over fixed-length fields first (mode, translation), then the text,
/// so that no two different inputs are encoded the same way.
fn spec_key(yaml: &str, default_mode: u32, translation: PathTranslation) -> SpecKey {
    let mut hash = Context::new(&SHA256);
    hash.update(&default_mode.to_le_bytes());
    let (tag, c) = match translation {
        PathTranslation::Replace(c) => (1u8, u32::from(c)),
        PathTranslation::Off => (0u8, 0),
    };
    hash.update(&[tag]);
    hash.update(&c.to_le_bytes());
    hash.update(yaml.as_bytes());
    let mut key = [0u8; 32];
    key.copy_from_slice(hash.finish().as_ref());
    key
}

/// An estimate of the heap an entry holds: its plans with their strings, plus
/// [`ENTRY_OVERHEAD_BYTES`].
fn weight(plans: &Arc<[ObjectPlan]>) -> usize {
    ENTRY_OVERHEAD_BYTES + plans.iter().map(plan_bytes).sum::<usize>()
}

fn plan_bytes(plan: &ObjectPlan) -> usize {
    let source = match &plan.source {
        Source::S3 {
            bucket,
            key,
            version,
            replica,
        } => {
            bucket.len()
                + key.len()
                + version.as_ref().map_or(0, String::len)
                + replica.as_ref().map_or(0, |r| {
                    std::mem::size_of::<crate::objects::Replica>() + r.bucket.len() + r.key.len()
                })
        }
        Source::S3Prefix { bucket, prefix } => bucket.len() + prefix.len(),
        Source::Inline { ciphertext } => ciphertext.len(),
        Source::Managed(reference) => managed_bytes(reference),
    };
    // A B-tree node per pair at worst.
    let context: usize = plan
        .encryption_context
        .iter()
        .map(|(k, v)| k.len() + v.len() + 64)
        .sum();
    let jmes: usize = plan
        .jmes_paths
        .iter()
        .map(|j| std::mem::size_of::<JmesPathPlan>() + j.path.len() + j.alias.len())
        .sum();
    std::mem::size_of::<ObjectPlan>()
        + plan.label.len()
        + plan.alias.len()
        + source
        + context
        + jmes
}

fn managed_bytes(reference: &objects::ManagedRef) -> usize {
    let own = reference.name.len()
        + [&reference.arn_region, &reference.version, &reference.label]
            .iter()
            .map(|s| s.as_ref().map_or(0, String::len))
            .sum::<usize>();
    own + reference.failover.as_deref().map_or(0, |f| {
        std::mem::size_of::<objects::ManagedRef>() + managed_bytes(f)
    })
}

#[cfg(test)]
mod tests;
