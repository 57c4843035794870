//! What a cached plaintext is filed under: the identity that proved access, the object (source
//! and pinned version) and everything its decryption depends on, encoded so that two different
//! objects or contexts can never produce the same key.
//!
//! Every tenant-chosen part (bucket, key, version, name, encryption-context pair) is written with
//! its length in front. Joining them with separators instead would let one tenant's value spell
//! another's: the context `{app: "x;keywarden.io/namespace=a"}` of namespace `b` read as
//! `{app: x, keywarden.io/namespace: a}`, and took namespace `a`'s plaintext from the cache
//! without asking KMS (`docs/security-model.md`).

use crate::cache::CacheKey;
use crate::content;
use crate::objects::{ObjectPlan, ObjectType, Source};

/// The key of `object`'s plaintext for `identity`, read in `region` by a pod of `namespace`.
pub(super) fn cache_key(
    identity: &str,
    object: &ObjectPlan,
    namespace: Option<&str>,
    region: &str,
) -> CacheKey {
    let mut id = Parts::default();
    match &object.source {
        // Names resolve in a region; a version id or label pins what is read.
        Source::Managed(r) => id
            .part(object.object_type.as_str())
            .part(region)
            .part(&r.name)
            .optional(r.version.as_deref())
            .optional(r.label.as_deref()),
        Source::S3 {
            bucket,
            key,
            version,
            ..
        } => id
            .part("s3")
            .part(bucket)
            .part(key)
            .optional(version.as_deref()),
        Source::S3Prefix { bucket, prefix } => id.part("s3-prefix").part(bucket).part(prefix),
        Source::Inline { ciphertext } => id
            .part("inline")
            .part(&content::inline_version(ciphertext.as_bytes())),
    };
    let mut decryption = Parts::default();
    decryption.part(object.object_type.as_str());
    for (k, v) in &object.encryption_context {
        decryption.part(k).part(v);
    }
    if object.object_type == ObjectType::Sealed {
        // A sealed object's data key is bound to the namespace it was sealed for.
        decryption.part("namespace").optional(namespace);
    }
    CacheKey {
        identity: identity.to_owned(),
        object: id.0,
        decryption: decryption.0,
    }
}

/// Length-prefixed parts: `<len>:<bytes>` each, so no part can run into the next.
#[derive(Debug, Default)]
struct Parts(String);

impl Parts {
    fn part(&mut self, s: &str) -> &mut Self {
        self.0.push_str(&s.len().to_string());
        self.0.push(':');
        self.0.push_str(s);
        self
    }

    /// An optional part: `-` when absent, `=<len>:<bytes>` when present (even empty).
    fn optional(&mut self, s: Option<&str>) -> &mut Self {
        match s {
            None => self.0.push('-'),
            Some(s) => {
                self.0.push('=');
                self.part(s);
            }
        }
        self
    }
}

#[cfg(test)]
mod tests;
