//! Reading one Secrets Manager secret (`GetSecretValue`) as the pod's identity. The Mount reads
//! it through the plaintext cache (`mount.rs`): Secrets Manager has no conditional read, so
//! within the cache TTL a re-Mount makes no call at all, and identical reads in flight at once
//! are made once.
//!
//! `SecretBinary` is the file's bytes; `SecretString` its UTF-8 text. The value is bounded by
//! the service's own maximum (64 KiB) and by `--max-object-bytes`, and charged to the Mount's
//! memory budget, before anything else uses it.

use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use aws_sdk_secretsmanager::primitives::Blob;

use crate::aws::RegionalClients;
use crate::aws_error;
use crate::budget::{Charge, MountBudget};
use crate::catalogue;
use crate::error::MountError;
use crate::failover;
use crate::limits::{self, MAX_SECRET_VALUE_BYTES};
use crate::metrics::Metrics;
use crate::objects::ManagedRef;
use crate::secret_bytes::SecretBytes;

/// A value read from Secrets Manager or Parameter Store.
#[derive(Debug)]
pub struct Fetched {
    /// The value.
    pub bytes: SecretBytes,
    /// The secret's `VersionId`, or the parameter's version number.
    pub version: String,
    /// The value's charge to the Mount's memory budget.
    pub charge: Charge,
}

/// Where a read happens and what bounds it.
#[derive(Debug, Clone, Copy)]
pub struct ReadContext<'a> {
    /// The Mount's clients (its region and the pod's identity).
    pub clients: &'a RegionalClients,
    /// The clients of `failoverRegion` (the same identity), if the class names one.
    pub failover: Option<&'a RegionalClients>,
    /// `--max-object-bytes`.
    pub max_bytes: usize,
    /// The Mount's memory budget.
    pub budget: &'a MountBudget,
    /// Metrics.
    pub metrics: &'a Metrics,
}

/// Refuses an ARN of another region than the Mount's: its client would sign for the wrong one.
pub fn check_region(label: &str, reference: &ManagedRef, region: &str) -> Result<(), MountError> {
    match &reference.arn_region {
        Some(arn_region) if arn_region != region => Err(catalogue::arn_region_mismatch(
            label,
            &limits::quote(arn_region),
            &limits::quote(region),
        )),
        _ => Ok(()),
    }
}

/// Bounds a value the service returned and charges it to the budget.
pub fn accept(
    label: &str,
    bytes: SecretBytes,
    service_limit: usize,
    ctx: ReadContext<'_>,
) -> Result<(SecretBytes, Charge), MountError> {
    if bytes.len() > service_limit {
        return Err(catalogue::managed_value_too_large(
            label,
            bytes.len(),
            service_limit,
        ));
    }
    if bytes.len() > ctx.max_bytes {
        return Err(catalogue::object_too_large(
            label,
            bytes.len().to_string(),
            ctx.max_bytes,
        ));
    }
    let charge = ctx.budget.hold(bytes.len(), label)?;
    Ok((bytes, charge))
}

/// The secret, from the Mount's region, else (on a regional failure) from `failoverRegion`:
/// its `failoverObject`, or the same name.
pub async fn read_secret(
    label: &str,
    reference: &ManagedRef,
    ctx: ReadContext<'_>,
) -> Result<Fetched, MountError> {
    let primary = get_secret_value(label, reference, ctx.clients, ctx).await;
    match (primary, ctx.failover) {
        (Err(err), Some(failover)) if failover::fails_over(&err) => {
            let target = reference.failover.as_deref().unwrap_or(reference);
            check_region(label, target, &failover.region)?;
            failover::note(ctx.metrics, "secretsmanager", label, &failover.region);
            let label = failover::label(label, &failover.region);
            let mut fetched = get_secret_value(&label, target, failover, ctx).await?;
            fetched.version = failover::served_version(&fetched.version, &failover.region);
            Ok(fetched)
        }
        (result, _) => result,
    }
}

/// One `GetSecretValue` call with `clients`.
async fn get_secret_value(
    label: &str,
    reference: &ManagedRef,
    clients: &RegionalClients,
    ctx: ReadContext<'_>,
) -> Result<Fetched, MountError> {
    let call = ctx.metrics.aws_request("secretsmanager", "GetSecretValue");
    let result = clients
        .secrets()
        .get_secret_value()
        .secret_id(&reference.name)
        .set_version_id(reference.version.clone())
        .set_version_stage(reference.label.clone())
        .send()
        .await;
    let output = match result {
        Ok(output) => output,
        Err(err) => {
            let status = err.raw_response().map(|r| r.status().as_u16());
            let mapped = match err.as_service_error() {
                Some(GetSecretValueError::ResourceNotFoundException(_)) => MountError::NotFound {
                    object: label.to_owned(),
                    what: if reference.version.is_some() || reference.label.is_some() {
                        "secret version"
                    } else {
                        "secret"
                    }
                    .to_owned(),
                },
                Some(GetSecretValueError::DecryptionFailure(_)) => {
                    catalogue::key_cannot_be_used(label, "DecryptionFailure")
                }
                _ => aws_error::classify(label, &err, status),
            };
            return Err(aws_error::failed(call, label, &err, status, mapped));
        }
    };
    let version = output.version_id.clone().unwrap_or_default();
    let bytes = match (output.secret_binary, output.secret_string) {
        (Some(binary), _) => SecretBytes::from(Blob::into_inner(binary)),
        (None, Some(text)) => SecretBytes::from(text.into_bytes()),
        (None, None) => {
            call.finish("no_value");
            return Err(catalogue::secret_has_no_value(label));
        }
    };
    let (bytes, charge) = match accept(label, bytes, MAX_SECRET_VALUE_BYTES, ctx) {
        Ok(accepted) => accepted,
        Err(err) => {
            call.finish(err.label());
            return Err(err);
        }
    };
    call.finish("ok");
    Ok(Fetched {
        bytes,
        version,
        charge,
    })
}
