//! Reading the Parameter Store parameters of one Mount: every parameter the cache cannot answer
//! is read with `GetParameters`, up to ten names per call (`name`, `name:version` or
//! `name:label`), as the pod's identity, with `SecureString` values decrypted.
//!
//! Each parameter's cache flight is held while its batch is read, so identical reads from
//! Mounts at the same time wait for this one instead of calling again. Flights are entered in
//! the order of their keys, so two Mounts wanting overlapping sets cannot wait on each other.

use std::collections::HashMap;

use aws_sdk_ssm::types::Parameter;

use crate::aws_error;
use crate::budget::Charge;
use crate::cache::{CacheKey, Entry, FlightGuard, Lookup, PlaintextCache};
use crate::error::MountError;
use crate::failover;
use crate::limits::{MAX_PARAMETER_VALUE_BYTES, MAX_PARAMETERS_PER_CALL};
use crate::objects::{ManagedRef, ObjectPlan, ObjectType, Source};
use crate::secret_bytes::SecretBytes;
use crate::secrets_manager::{self, ReadContext};

/// One parameter a Mount wants: its cache key, its label and what to read.
#[derive(Debug, Clone, Copy)]
struct Wanted<'a> {
    /// The cache key (identity, region, selector).
    key: &'a CacheKey,
    /// The object's label, for messages.
    label: &'a str,
    /// What to read.
    reference: &'a ManagedRef,
}

/// The parameters of a Mount, and the charges of the values this Mount read.
#[derive(Debug, Default)]
pub struct Prefetched {
    /// Plaintext by cache key.
    pub entries: HashMap<CacheKey, Entry>,
    /// Charges to the Mount's memory budget, held until the response is sent.
    pub charges: Vec<Charge>,
}

struct Miss<'c, 'a> {
    flight: FlightGuard<'c>,
    wanted: Wanted<'a>,
}

/// Reads every parameter among `objects` (whose cache keys are `keys`) that the cache does not
/// hold, batched.
pub async fn prefetch(
    cache: &PlaintextCache,
    objects: &[&ObjectPlan],
    keys: &[CacheKey],
    ctx: ReadContext<'_>,
) -> Result<Prefetched, MountError> {
    let mut wanted: Vec<Wanted<'_>> = objects
        .iter()
        .zip(keys)
        .filter_map(|(object, key)| match &object.source {
            Source::Managed(reference) if object.object_type == ObjectType::SsmParameter => {
                Some(Wanted {
                    key,
                    label: &object.label,
                    reference,
                })
            }
            _ => None,
        })
        .collect();
    if wanted.is_empty() {
        return Ok(Prefetched::default());
    }
    for w in &wanted {
        secrets_manager::check_region(w.label, w.reference, &ctx.clients.region)?;
    }
    wanted.sort_by(|a, b| a.key.object.cmp(&b.key.object));
    wanted.dedup_by(|a, b| a.key == b.key);
    let mut prefetched = Prefetched::default();
    let mut misses = Vec::new();
    for w in wanted {
        let flight = cache.enter(w.key).await;
        match cache.lookup(&flight) {
            Lookup::Fresh(entry) | Lookup::Valid(entry) => {
                prefetched.entries.insert(w.key.clone(), entry);
            }
            Lookup::Miss => misses.push(Miss { flight, wanted: w }),
        }
    }
    for batch in batches(misses, |m| canonical(&m.wanted.reference.name)) {
        read_batch(cache, batch, ctx, &mut prefetched).await?;
    }
    Ok(prefetched)
}

/// Groups misses into calls of at most ten names, never two selectors of one parameter in a
/// call (by name or by ARN), so each answer is matched to its request by name alone.
fn batches<T>(items: Vec<T>, name: impl Fn(&T) -> &str) -> Vec<Vec<T>> {
    let mut batches: Vec<Vec<T>> = Vec::new();
    for item in items {
        let open = batches.iter_mut().find(|b| {
            b.len() < MAX_PARAMETERS_PER_CALL && b.iter().all(|other| name(other) != name(&item))
        });
        match open {
            Some(batch) => batch.push(item),
            None => batches.push(vec![item]),
        }
    }
    batches
}

async fn read_batch(
    cache: &PlaintextCache,
    batch: Vec<Miss<'_, '_>>,
    ctx: ReadContext<'_>,
    prefetched: &mut Prefetched,
) -> Result<(), MountError> {
    let Some(first) = batch.first().map(|m| m.wanted.label) else {
        return Ok(());
    };
    let primary: Vec<&ManagedRef> = batch.iter().map(|m| m.wanted.reference).collect();
    let (output, targets, served_by) = match get_parameters(first, &primary, ctx.clients, ctx).await
    {
        Err(err) if failover::fails_over(&err) && ctx.failover.is_some() => {
            let Some(failover) = ctx.failover else {
                return Err(err);
            };
            let targets: Vec<&ManagedRef> = batch
                .iter()
                .map(|m| {
                    m.wanted
                        .reference
                        .failover
                        .as_deref()
                        .unwrap_or(m.wanted.reference)
                })
                .collect();
            for (m, target) in batch.iter().zip(&targets) {
                secrets_manager::check_region(m.wanted.label, target, &failover.region)?;
            }
            failover::note(ctx.metrics, "ssm", first, &failover.region);
            let label = failover::label(first, &failover.region);
            let output = get_parameters(&label, &targets, failover, ctx).await?;
            (output, targets, Some(failover.region.as_str()))
        }
        other => (other?, primary, None),
    };
    let mut found = output.parameters.unwrap_or_default();
    for (miss, target) in batch.into_iter().zip(targets) {
        let name = &target.name;
        let label = miss.wanted.label;
        let Some(i) = found.iter().position(|p| answers(p, name)) else {
            return Err(MountError::NotFound {
                object: label.to_owned(),
                what: if target.selector() == *name {
                    "parameter"
                } else {
                    "parameter version"
                }
                .to_owned(),
            });
        };
        let parameter = found.swap_remove(i);
        let version = match served_by {
            Some(region) => failover::served_version(&parameter.version.to_string(), region),
            None => parameter.version.to_string(),
        };
        let bytes = SecretBytes::from(parameter.value.unwrap_or_default().into_bytes());
        let (bytes, charge) =
            secrets_manager::accept(label, bytes, MAX_PARAMETER_VALUE_BYTES, ctx)?;
        let entry = Entry::new(bytes, version, None);
        cache.store(&miss.flight, entry.clone());
        prefetched.entries.insert(miss.wanted.key.clone(), entry);
        prefetched.charges.push(charge);
    }
    Ok(())
}

/// The parameter name a request names: itself, or the name in its ARN.
fn canonical(name: &str) -> &str {
    match name.split_once(":parameter") {
        Some((_, tail)) if name.starts_with("arn:") => arn_name(tail),
        _ => name,
    }
}

/// One `GetParameters` call for `references` with `clients`.
async fn get_parameters(
    first: &str,
    references: &[&ManagedRef],
    clients: &crate::aws::RegionalClients,
    ctx: ReadContext<'_>,
) -> Result<aws_sdk_ssm::operation::get_parameters::GetParametersOutput, MountError> {
    let names: Vec<String> = references.iter().map(|r| r.selector()).collect();
    let call = ctx.metrics.aws_request("ssm", "GetParameters");
    let result = clients
        .ssm()
        .get_parameters()
        .set_names(Some(names))
        .with_decryption(true)
        .send()
        .await;
    match result {
        Ok(output) => {
            call.finish("ok");
            Ok(output)
        }
        Err(err) => {
            let status = err.raw_response().map(|r| r.status().as_u16());
            let mapped = aws_error::classify(first, &err, status);
            Err(aws_error::failed(call, first, &err, status, mapped))
        }
    }
}

/// Whether `parameter` answers the request for `name` (a name, or the parameter's ARN).
fn answers(parameter: &Parameter, name: &str) -> bool {
    parameter.name.as_deref() == Some(name)
        || parameter.arn.as_deref() == Some(name)
        || parameter.name.as_deref() == Some(canonical(name))
}

/// The parameter name in the tail of its ARN (`/app/db` for `parameter/app/db`, `db` for
/// `parameter/db`).
fn arn_name(tail: &str) -> &str {
    let rest = tail.strip_prefix('/').unwrap_or(tail);
    if rest.contains('/') { tail } else { rest }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_arns() {
        assert_eq!(arn_name("/app/db"), "/app/db");
        assert_eq!(arn_name("/db"), "db");
        let p = Parameter::builder().name("/app/db").build();
        assert!(answers(&p, "/app/db"));
        assert!(answers(
            &p,
            "arn:aws:ssm:eu-west-1:111122223333:parameter/app/db"
        ));
        assert!(!answers(&p, "/app/other"));
    }

    #[test]
    fn batches_hold_ten_names_and_one_selector_per_name() {
        let names: Vec<String> = (0..23)
            .map(|i| format!("/p/{i}"))
            .chain(["/p/0".into()])
            .collect();
        let got = batches(names, String::as_str);
        assert_eq!(
            got.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![10, 10, 4]
        );
        assert!(
            got[2].iter().any(|n| n == "/p/0"),
            "the second /p/0 goes to another call"
        );
        let twice = batches(vec!["/a", "/a:2", "/b"], |n| {
            n.split(':').next().unwrap_or(n)
        });
        assert_eq!(twice, vec![vec!["/a", "/b"], vec!["/a:2"]]);
    }
}
