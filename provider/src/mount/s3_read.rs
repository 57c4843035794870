//! An S3 object through the plaintext cache, once the revalidation window (`mount.rs`) has not
//! spared the request: a kept entry revalidated with one conditional `GetObject` (304: no KMS
//! call), else the object fetched, decrypted and stored. When the Mount's region fails and the object names a replica
//! (`failoverObject`), the replica is read in `failoverRegion` with the same identity; an
//! entry served there carries no ETag, so the next read asks the Mount's region in full.

use crate::budget::Charge;
use crate::cache::{Entry, FlightGuard};
use crate::catalogue;
use crate::content::{self, OpenContext};
use crate::error::MountError;
use crate::failover;
use crate::objects::{ObjectPlan, Replica};
use crate::s3::{self, Fetched, GetOutcome, ObjectRef};
use crate::secrets_manager::ReadContext;

use super::Mounter;

/// Which S3 object to read.
#[derive(Debug, Clone, Copy)]
pub(super) struct S3Object<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub version: Option<&'a str>,
    pub replica: Option<&'a Replica>,
}

impl Mounter {
    /// The entry of `object` after asking S3 (revalidating `cached` when there is one), and
    /// the charge of a plaintext this call decrypted.
    pub(super) async fn read_s3(
        &self,
        object: &ObjectPlan,
        from: S3Object<'_>,
        cached: Option<Entry>,
        flight: &FlightGuard<'_>,
        ctx: ReadContext<'_>,
        open: OpenContext<'_>,
    ) -> Result<(Entry, Option<Charge>), MountError> {
        let primary = ObjectRef {
            label: &object.label,
            bucket: from.bucket,
            key: from.key,
            version: from.version,
            if_none_match: cached.as_ref().and_then(|e| e.etag.as_deref()),
        };
        let (fetched, read_in) = match self.get(ctx.clients, primary, ctx).await {
            Ok(GetOutcome::NotModified) => {
                let entry = cached.ok_or_else(|| MountError::Transient {
                    object: object.label.clone(),
                    reason: catalogue::unexpected_not_modified(),
                })?;
                self.cache.confirm(flight, &entry);
                return Ok((entry, None));
            }
            Ok(GetOutcome::Modified(fetched)) => (fetched, None),
            Err(err) => match (from.replica, ctx.failover) {
                (Some(replica), Some(other)) if failover::fails_over(&err) => {
                    failover::note(ctx.metrics, "s3", &object.label, &other.region);
                    let label = failover::label(&object.label, &other.region);
                    let replica = ObjectRef {
                        label: &label,
                        bucket: &replica.bucket,
                        key: &replica.key,
                        version: from.version,
                        if_none_match: None,
                    };
                    (
                        self.fetch(other, replica, ctx).await?,
                        Some(other.region.as_str()),
                    )
                }
                _ => return Err(err),
            },
        };
        let Fetched {
            bytes,
            version,
            etag,
            charge: _body_charge,
        } = fetched;
        let opened = content::open(object, bytes, open).await?;
        let produced = ctx.budget.hold(opened.plaintext.len(), &object.label)?;
        let entry = match read_in.or(opened.served_by) {
            Some(region) => Entry::new(
                opened.plaintext,
                failover::served_version(&version, region),
                None,
            ),
            None => Entry::new(opened.plaintext, version, etag),
        };
        self.cache.store(flight, entry.clone());
        Ok((entry, Some(produced)))
    }

    async fn get(
        &self,
        clients: &crate::aws::RegionalClients,
        object: ObjectRef<'_>,
        ctx: ReadContext<'_>,
    ) -> Result<GetOutcome, MountError> {
        s3::get_object(
            &clients.s3,
            object,
            self.limits.max_object_bytes,
            ctx.budget,
            ctx.metrics,
        )
        .await
    }

    /// An unconditional read: its answer is always the object's bytes.
    async fn fetch(
        &self,
        clients: &crate::aws::RegionalClients,
        object: ObjectRef<'_>,
        ctx: ReadContext<'_>,
    ) -> Result<Fetched, MountError> {
        match self.get(clients, object, ctx).await? {
            GetOutcome::Modified(fetched) => Ok(fetched),
            GetOutcome::NotModified => Err(MountError::Transient {
                object: object.label.to_owned(),
                reason: catalogue::unexpected_not_modified(),
            }),
        }
    }
}
