//! Mounting every object under an S3 prefix (`objectName: s3://bucket/prefix/`,
//! docs/reference.md §2.3): the listing, run as the pod's identity, and what turns it into one
//! plan per member.
//!
//! The keys of a listing are chosen by whoever may write under the prefix, so they are treated
//! like tenant input: the number of members is capped (`--max-prefix-objects`, over all prefix
//! entries of a Mount) before a member is kept, every relative key must pass the alias rules
//! of `mount_path.rs`, sizes the listing declares are checked against the Mount's byte limits
//! before any object is fetched, and the keys kept are charged to the Mount's memory budget.
//! Directory markers are skipped but bounded too (`MAX_PREFIX_MARKERS`), and every page must
//! carry keys, so the number of pages is bounded as well. Listing stops at the first key over a
//! bound, so nothing past it is buffered.

use aws_lc_rs::digest::{SHA256, digest};
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Error;

use crate::aws_error;
use crate::budget::{Charge, MountBudget};
use crate::catalogue;
use crate::encoding::ObjectEncoding;
use crate::error::MountError;
use crate::limits::{self, MAX_PREFIX_MARKERS};
use crate::metrics::Metrics;
use crate::mount::Limits;
use crate::mount_path::{self, PathSet};
use crate::objects::{ObjectPlan, ObjectType, Source};

/// Keys asked for per ListObjectsV2 request (the most S3 returns).
pub const PAGE_KEYS: i32 = 1000;

/// One object of a Mount as it is fetched: itself, or the members of its prefix.
#[derive(Debug)]
pub enum Expanded<'a> {
    /// A single object (or inline ciphertext).
    Single(&'a ObjectPlan),
    /// A prefix entry and the objects listed under it, sorted by relative key.
    Prefix {
        /// The entry as written.
        object: &'a ObjectPlan,
        /// Its members.
        members: Vec<Member>,
    },
}

impl Expanded<'_> {
    /// The entry as written in the SecretProviderClass.
    pub fn object(&self) -> &ObjectPlan {
        match self {
            Self::Single(object) | Self::Prefix { object, .. } => object,
        }
    }

    /// How many plans [`Self::plans`] yields.
    pub fn plan_count(&self) -> usize {
        match self {
            Self::Single(_) => 1,
            Self::Prefix { members, .. } => members.len(),
        }
    }

    /// The entry's `ObjectVersion.version`, from the versions of its plans in order: a single
    /// object's own, or the digest of a prefix's members ([`version`]).
    pub fn version<'v>(&self, versions: impl Iterator<Item = &'v str>) -> String {
        match self {
            Self::Single(_) => versions.into_iter().next().unwrap_or_default().to_owned(),
            Self::Prefix { members, .. } => {
                version(members.iter().map(|m| m.relative.as_str()).zip(versions))
            }
        }
    }

    /// The plans to fetch for this entry, in order.
    pub fn plans(&self) -> Box<dyn Iterator<Item = &ObjectPlan> + Send + '_> {
        match self {
            Self::Single(object) => Box::new(std::iter::once(*object)),
            Self::Prefix { members, .. } => Box::new(members.iter().map(|m| &m.plan)),
        }
    }
}

/// One object found under a prefix.
#[derive(Debug)]
pub struct Member {
    /// Its key relative to the prefix.
    pub relative: String,
    /// A single-object plan for it: the entry's type, mode, encoding and encryption context,
    /// at `<entry alias>/<relative key>`.
    pub plan: ObjectPlan,
}

/// Lists every prefix entry of `objects` (in order, sharing one `--max-prefix-objects`
/// allowance) and checks every path of the Mount against the others. The returned charge
/// holds the listed keys' bytes.
pub async fn expand<'a>(
    objects: &'a [ObjectPlan],
    client: &aws_sdk_s3::Client,
    limits: Limits,
    budget: &MountBudget,
    metrics: &Metrics,
) -> Result<(Vec<Expanded<'a>>, Charge), MountError> {
    let mut charge = Charge::default();
    if !objects
        .iter()
        .any(|o| matches!(o.source, Source::S3Prefix { .. }))
    {
        return Ok((objects.iter().map(Expanded::Single).collect(), charge));
    }
    let mut remaining = limits.max_prefix_objects;
    let mut expanded = Vec::with_capacity(objects.len());
    for object in objects {
        let Source::S3Prefix { bucket, prefix } = &object.source else {
            expanded.push(Expanded::Single(object));
            continue;
        };
        let listing = Listing {
            object,
            bucket,
            prefix,
            limits,
            remaining,
        };
        let members = listing.run(client, budget, &mut charge, metrics).await?;
        remaining -= members.len();
        expanded.push(Expanded::Prefix { object, members });
    }
    claim_paths(&expanded)?;
    Ok((expanded, charge))
}

/// One prefix being listed.
struct Listing<'a> {
    object: &'a ObjectPlan,
    bucket: &'a str,
    prefix: &'a str,
    limits: Limits,
    /// Members this prefix may still have under `--max-prefix-objects`.
    remaining: usize,
}

impl Listing<'_> {
    async fn run(
        &self,
        client: &aws_sdk_s3::Client,
        budget: &MountBudget,
        charge: &mut Charge,
        metrics: &Metrics,
    ) -> Result<Vec<Member>, MountError> {
        let label = &self.object.label;
        let mut members = Vec::new();
        let mut listed_bytes = 0usize;
        let mut markers = 0usize;
        let mut token: Option<String> = None;
        loop {
            let call = metrics.aws_request("s3", "ListObjectsV2");
            let result = client
                .list_objects_v2()
                .bucket(self.bucket)
                .prefix(self.prefix)
                .max_keys(PAGE_KEYS)
                .set_continuation_token(token.take())
                .send()
                .await;
            let page = match result {
                Ok(page) => page,
                Err(err) => {
                    let status = err.raw_response().map(|r| r.status().as_u16());
                    let mapped = match err.as_service_error() {
                        Some(ListObjectsV2Error::NoSuchBucket(_)) => MountError::NotFound {
                            object: label.clone(),
                            what: "bucket".to_owned(),
                        },
                        _ => aws_error::classify(label, &err, status),
                    };
                    return Err(aws_error::failed(call, label, &err, status, mapped));
                }
            };
            call.finish("ok");
            let mut kept_bytes = 0usize;
            for listed in page.contents() {
                let Some(key) = listed.key() else { continue };
                let relative = self.relative(key)?;
                // Directory markers (`a/b/`, or the prefix itself) hold no secret.
                if relative.is_empty() || relative.ends_with('/') {
                    markers += 1;
                    if markers > MAX_PREFIX_MARKERS {
                        return Err(catalogue::too_many_markers(label, MAX_PREFIX_MARKERS));
                    }
                    continue;
                }
                if members.len() >= self.remaining {
                    return Err(self.over_cap());
                }
                let size = usize::try_from(listed.size().unwrap_or(0).max(0)).unwrap_or(usize::MAX);
                listed_bytes = listed_bytes.saturating_add(size);
                self.check_size(relative, size, listed_bytes)?;
                // The relative key and the member's path and label.
                kept_bytes = kept_bytes.saturating_add(key.len().saturating_mul(3));
                members.push(self.member(relative)?);
            }
            budget.grow(charge, kept_bytes, label)?;
            // Every page must move the listing on, so the keys bound the pages too.
            match (page.is_truncated(), page.next_continuation_token()) {
                (Some(true), Some(next)) if !next.is_empty() && !page.contents().is_empty() => {
                    token = Some(next.to_owned());
                }
                (Some(true), _) => {
                    return Err(MountError::Transient {
                        object: label.clone(),
                        reason: catalogue::listing_stuck(),
                    });
                }
                _ => break,
            }
        }
        if members.is_empty() {
            return Err(MountError::NotFound {
                object: label.clone(),
                what: catalogue::nothing_under_prefix(),
            });
        }
        members.sort_by(|a, b| a.relative.cmp(&b.relative));
        Ok(members)
    }

    /// `key` without the prefix. S3 only lists keys that start with it; an endpoint that does
    /// otherwise is refused rather than trusted.
    fn relative<'k>(&self, key: &'k str) -> Result<&'k str, MountError> {
        key.strip_prefix(self.prefix)
            .ok_or_else(|| catalogue::key_outside_prefix(&self.object.label, &limits::quote(key)))
    }

    fn over_cap(&self) -> MountError {
        let cap = self.limits.max_prefix_objects;
        let used = cap - self.remaining;
        let earlier = if used > 0 {
            catalogue::taken_earlier(used)
        } else {
            String::new()
        };
        catalogue::prefix_over_cap(&self.object.label, cap, earlier)
    }

    /// The listing's sizes against the Mount's limits, before anything is fetched: each object
    /// against `--max-object-bytes`, and, where the files are the stored bytes (`s3`, `utf-8`),
    /// their sum against `--max-response-bytes`.
    fn check_size(&self, relative: &str, size: usize, total: usize) -> Result<(), MountError> {
        let label = &self.object.label;
        if size > self.limits.max_object_bytes {
            return Err(catalogue::listed_object_too_large(
                label,
                &limits::quote(relative),
                size,
                self.limits.max_object_bytes,
            ));
        }
        let as_stored = self.object.object_type == ObjectType::S3
            && self.object.encoding == ObjectEncoding::Utf8;
        if as_stored && total > self.limits.max_response_bytes {
            return Err(catalogue::listed_objects_too_large(
                label,
                total,
                self.limits.max_response_bytes,
            ));
        }
        Ok(())
    }

    /// The member at `relative`, its path checked by the alias rules.
    fn member(&self, relative: &str) -> Result<Member, MountError> {
        let object = self.object;
        let alias = format!("{}/{relative}", object.alias);
        mount_path::validate(&alias).map_err(|e| {
            catalogue::prefix_key_unusable(&object.label, &limits::quote(relative), e)
        })?;
        let plan = ObjectPlan {
            label: catalogue::prefix_member(&object.label, &limits::quote(relative)),
            source: Source::S3 {
                bucket: self.bucket.to_owned(),
                key: format!("{}{relative}", self.prefix),
                version: None,
                replica: None,
            },
            object_type: object.object_type,
            alias,
            mode: object.mode,
            encryption_context: object.encryption_context.clone(),
            jmes_paths: Vec::new(),
            encoding: object.encoding,
        };
        Ok(Member {
            relative: relative.to_owned(),
            plan,
        })
    }
}

/// Every file path of the Mount, members included, against the others (duplicates and
/// file/directory clashes), as `objects::parse` checks the aliases it can see.
fn claim_paths(expanded: &[Expanded<'_>]) -> Result<(), MountError> {
    let mut paths = PathSet::default();
    for entry in expanded {
        match entry {
            Expanded::Single(object) => {
                for jmes in &object.jmes_paths {
                    paths.claim(&jmes.alias, &object.label)?;
                }
                paths.claim(&object.alias, &object.label)?;
            }
            Expanded::Prefix { members, .. } => {
                for member in members {
                    paths.claim(&member.plan.alias, &member.plan.label)?;
                }
            }
        }
    }
    Ok(())
}

/// The `ObjectVersion.version` of a prefix entry: `prefix-` and 32 hex digits of a SHA-256
/// over its sorted (relative key, member version) pairs. It changes when a member is added,
/// removed or changed, and is the same on every node, because the member versions are
/// (`s3.rs`); those never derive from the plaintext, so neither does this.
pub fn version<'a, 'b>(members: impl Iterator<Item = (&'a str, &'b str)>) -> String {
    let mut text = String::new();
    for (relative, version) in members {
        text.push_str(relative);
        text.push('\0');
        text.push_str(version);
        text.push('\n');
    }
    let hex: String = digest(&SHA256, text.as_bytes()).as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("prefix-{hex}")
}

#[cfg(test)]
mod tests;
