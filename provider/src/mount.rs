//! One Mount, from validated parameters to the complete set of files: all objects or none.
//!
//! Objects are fetched concurrently, a bounded number at a time; the first failure cancels the
//! rest. Every buffer is charged to the Mount's memory budget (`budget.rs`) before it is filled,
//! and files count against `--max-response-bytes` as they are produced; the encoded response is
//! sized exactly before it is returned, so a Mount that would exceed the limit fails cleanly
//! instead of being cut off by the driver's gRPC receive limit.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use keywarden_proto::csi::{File, MountResponse, ObjectVersion};
use prost::Message;

use crate::aws::{RegionalClients, SharedAws};
use crate::budget::{Charge, MountBudget};
use crate::cache::{CacheKey, Entry, Lookup, PlaintextCache};
use crate::catalogue;
use crate::content::{self, OpenContext};
use crate::credentials::StsClients;
use crate::error::MountError;
use crate::failover;
use crate::identity::IdentityResolver;
use crate::metrics::Metrics;
use crate::objects::{ObjectPlan, ObjectType, Source};
use crate::parameters::{self, Prefetched};
use crate::params::MountParams;
use crate::s3_prefix::{self, Expanded};
use crate::secret_bytes::SecretBytes;
use crate::secrets_manager::{self, ReadContext};

mod cache_key;
mod files;
mod provider_write;
mod s3_read;

use cache_key::cache_key;
use files::{Produced, files};
use provider_write::{check_target_path, write_files};
use s3_read::S3Object;

/// Size limits of a Mount.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `--max-object-bytes`.
    pub max_object_bytes: usize,
    /// `--max-response-bytes`.
    pub max_response_bytes: usize,
    /// `--max-prefix-objects`: objects all prefix entries of one Mount may list together.
    pub max_prefix_objects: usize,
}

/// Who writes the files of a Mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Return them in the response; the driver writes them.
    Driver,
    /// Write them into the request's target path; return only the versions.
    Provider {
        /// Write outside tmpfs too.
        allow_non_tmpfs: bool,
    },
}

/// Performs Mounts. Cheap to share; holds no per-request state.
#[derive(Debug, Clone)]
pub struct Mounter {
    aws: SharedAws,
    identities: Arc<IdentityResolver>,
    limits: Limits,
    output: Output,
    cache: Arc<PlaintextCache>,
    metrics: Metrics,
}

impl Mounter {
    /// A mounter using `aws` clients as the identities `identities` resolves.
    pub fn new(
        aws: SharedAws,
        identities: Arc<IdentityResolver>,
        limits: Limits,
        output: Output,
        cache: Arc<PlaintextCache>,
        metrics: Metrics,
    ) -> Self {
        Self {
            aws,
            identities,
            limits,
            output,
            cache,
            metrics,
        }
    }

    /// Fetches and decrypts every object of `params` and returns the files and versions.
    /// `budget` is the Mount's share of the node's memory budget: every buffer is charged to it
    /// before it is filled.
    pub async fn mount(
        &self,
        params: &MountParams,
        budget: &MountBudget,
    ) -> Result<Mounted, MountError> {
        if let Output::Provider { allow_non_tmpfs } = self.output {
            check_target_path(&params.target_path, allow_non_tmpfs)?;
        }
        let region = self.aws.region(params.region.as_deref())?;
        let failover_region = match params.failover_region.as_deref() {
            Some(other) if other == region => {
                return Err(catalogue::failover_region_same(&crate::limits::quote(
                    other,
                )));
            }
            other => other,
        };
        let sts = self.aws.sts(region);
        let failover_sts = failover_region.map(|other| (other, self.aws.sts(other)));
        let sts = StsClients {
            client: &sts,
            failover: failover_sts
                .as_ref()
                .map(|(other, client)| (*other, client)),
        };
        let identity = self.identities.resolve(params, sts).await?;
        let clients = self.aws.clients(region, identity.credentials.as_ref());
        // The same identity in the failover region.
        let failover =
            failover_region.map(|other| self.aws.clients(other, identity.credentials.as_ref()));
        let identity_key = identity.key;
        let namespace = params.pod.namespace.as_deref();
        // Prefix entries are listed first (as the pod's identity); their members are then
        // fetched like single objects.
        let (expanded, listing_charge) = s3_prefix::expand(
            &params.objects,
            &clients.s3,
            self.limits,
            budget,
            &self.metrics,
        )
        .await?;
        let plans: Vec<&ObjectPlan> = expanded.iter().flat_map(Expanded::plans).collect();
        let keys: Vec<CacheKey> = plans
            .iter()
            .map(|object| cache_key(&identity_key, object, namespace, &clients.region))
            .collect();
        // Parameter Store objects are read first, batched; their entries serve `produce`.
        let ctx = self.read_context(&clients, failover.as_ref(), budget);
        let prefetched = parameters::prefetch(&self.cache, &plans, &keys, ctx).await?;
        // In order, at most MAX_FETCH_FAN_OUT objects at once; the first failure ends the rest.
        // Each fetch is made when the stream starts it, not all of them up front (by index: a
        // closure taking references would not be `Send` for every lifetime).
        let produced: Vec<Produced> = futures::stream::iter(0..plans.len())
            .map(|i| {
                let ctx = self.read_context(&clients, failover.as_ref(), budget);
                self.produce(plans[i], &keys[i], ctx, &prefetched, namespace)
            })
            .buffered(MAX_FETCH_FAN_OUT)
            .try_collect()
            .await?;

        let mut response = MountResponse::default();
        let mut secrets = Vec::new();
        let mut charges = prefetched.charges;
        charges.push(listing_charge);
        let mut produced = produced.into_iter();
        for entry in &expanded {
            let group: Vec<Produced> = produced.by_ref().take(entry.plan_count()).collect();
            response.object_version.push(ObjectVersion {
                id: entry.object().id(),
                version: entry.version(group.iter().map(|p| p.version.as_str())),
            });
            for produced in group {
                charges.extend(produced.charges);
                for (path, mode, secret) in produced.files {
                    response.files.push(File {
                        path,
                        mode: i32::try_from(mode).unwrap_or(0o644),
                        contents: secret.bytes(),
                    });
                    secrets.push(secret);
                }
            }
        }
        let size = response.encoded_len();
        if size > self.limits.max_response_bytes {
            return Err(catalogue::response_too_large(
                response.files.len(),
                size,
                self.limits.max_response_bytes,
            ));
        }
        // The copy tonic encodes once this returns (or the writer reads) is charged in one piece.
        // The response's own views hold it, and every other charge of the Mount, until the
        // message is dropped after encoding.
        charges.push(budget.hold(size, &catalogue::encoded_response())?);
        let held = Arc::new(charges);
        for (file, secret) in response.files.iter_mut().zip(secrets) {
            file.contents = secret.bytes_holding(held.clone());
        }
        let (response, encoded_len) = match self.output {
            Output::Provider { allow_non_tmpfs } => {
                let versions_only =
                    write_files(&params.target_path, allow_non_tmpfs, response).await?;
                let len = versions_only.encoded_len();
                (versions_only, len)
            }
            Output::Driver => (response, size),
        };
        Ok(Mounted {
            response,
            encoded_len,
            held,
        })
    }

    /// Fetches one object (or reuses the cached plaintext), decrypts it, and extracts its
    /// jmesPath fields. The AWS calls' futures are boxed: they are several KiB each, and this
    /// future lives once per object of every Mount in flight (most of them waiting on another
    /// Mount's fetch, or served from the cache without any call).
    async fn produce(
        &self,
        object: &ObjectPlan,
        key: &CacheKey,
        ctx: ReadContext<'_>,
        prefetched: &Prefetched,
        namespace: Option<&str>,
    ) -> Result<Produced, MountError> {
        let (clients, budget) = (ctx.clients, ctx.budget);
        // Parameters were read in batches before; their entries are in `prefetched`.
        if object.object_type == ObjectType::SsmParameter {
            let entry =
                prefetched
                    .entries
                    .get(key)
                    .cloned()
                    .ok_or_else(|| MountError::NotFound {
                        object: object.label.clone(),
                        what: "parameter".to_owned(),
                    })?;
            return files(object, entry, None, budget);
        }
        if let Source::Managed(reference) = &object.source {
            secrets_manager::check_region(&object.label, reference, &clients.region)?;
        }
        // A kept entry that needs no request is used without joining the key's flight.
        let needs_proof = match &object.source {
            Source::S3 { .. } => Some(true),
            Source::Inline { .. } | Source::Managed(_) => Some(false),
            Source::S3Prefix { .. } => None,
        };
        if let Some(needs_proof) = needs_proof
            && let Some(entry) = self.cache.reusable(key, needs_proof)
        {
            return files(object, entry, None, budget);
        }
        let flight = self.cache.enter(key).await;
        let cached = self.cache.lookup(&flight);
        let context = OpenContext {
            kms: &clients.kms,
            failover: ctx.failover,
            namespace,
            metrics: &self.metrics,
            budget,
        };
        // The plaintext this Mount decrypted, charged while the Mount holds it; a waiter on
        // another Mount's flight shares that Mount's buffer and charge.
        let mut produced_here = None;
        let entry = match (&object.source, cached) {
            (_, Lookup::Fresh(entry)) => entry,
            (Source::Inline { .. }, Lookup::Valid(entry)) => entry,
            (Source::Inline { ciphertext }, Lookup::Miss) => {
                let _decoded_charge = budget.hold(ciphertext.len(), &object.label)?;
                let decoded = content::decode_inline(object, ciphertext)?;
                let version = content::inline_version(&decoded);
                let opened =
                    Box::pin(content::open(object, SecretBytes::from(decoded), context)).await?;
                produced_here = Some(budget.hold(opened.plaintext.len(), &object.label)?);
                let version = match opened.served_by {
                    Some(region) => failover::served_version(&version, region),
                    None => version,
                };
                let entry = Entry::new(opened.plaintext, version, None);
                self.cache.store(&flight, entry.clone());
                entry
            }
            (Source::S3Prefix { .. }, _) => {
                // `s3_prefix::expand` replaces every prefix entry by its members.
                return Err(catalogue::prefix_not_listed(&object.label));
            }
            // Secrets Manager has no conditional read: within the TTL the entry is used as is.
            (Source::Managed(_), Lookup::Valid(entry)) => entry,
            (Source::Managed(reference), Lookup::Miss) => {
                let fetched =
                    Box::pin(secrets_manager::read_secret(&object.label, reference, ctx)).await?;
                produced_here = Some(fetched.charge);
                let entry = Entry::new(fetched.bytes, fetched.version, None);
                self.cache.store(&flight, entry.clone());
                entry
            }
            (
                Source::S3 {
                    bucket,
                    key,
                    version,
                    replica,
                },
                cached,
            ) => {
                let cached = match cached {
                    Lookup::Valid(entry) => Some(entry),
                    _ => None,
                };
                let from = S3Object {
                    bucket,
                    key,
                    version: version.as_deref(),
                    replica: replica.as_ref(),
                };
                match cached {
                    // Proven to this identity within the revalidation window: no request.
                    Some(entry) if self.cache.recently_proven(&entry) => entry,
                    cached => {
                        // Any failure drops the cached entry: what S3 or KMS refused is not
                        // served again from memory.
                        let read = self.read_s3(object, from, cached, &flight, ctx, context);
                        let (entry, charge) = Box::pin(read)
                            .await
                            .inspect_err(|_| self.cache.forget(&flight))?;
                        produced_here = charge;
                        entry
                    }
                }
            }
        };
        drop(flight);
        files(object, entry, produced_here, budget)
    }

    fn read_context<'a>(
        &'a self,
        clients: &'a RegionalClients,
        failover: Option<&'a RegionalClients>,
        budget: &'a MountBudget,
    ) -> ReadContext<'a> {
        ReadContext {
            clients,
            failover,
            max_bytes: self.limits.max_object_bytes,
            budget,
            metrics: &self.metrics,
        }
    }
}

/// A finished Mount: its response, and its charges to the memory budget, which must stay taken
/// until the response has been written to the socket (`keywarden_runtime::Outbox`).
#[derive(Debug)]
pub struct Mounted {
    /// What the driver gets.
    pub response: MountResponse,
    /// The size of the response on the wire.
    pub encoded_len: usize,
    /// Every charge of the Mount.
    pub held: Arc<Vec<Charge>>,
}

/// Objects of one Mount fetched at the same time, at most: enough for a Mount of 50 objects to
/// take two round trips' time, few enough that one Mount never opens hundreds of connections
/// (docs/decisions.md, "Fan-out").
pub const MAX_FETCH_FAN_OUT: usize = 32;
