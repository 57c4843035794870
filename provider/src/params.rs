//! The Mount request as the driver sends it: the `attributes` JSON (SecretProviderClass
//! parameters merged with pod information), `permission` and `secrets`, parsed into
//! [`MountParams`] before anything else happens.
//!
//! The raw `attributes` string carries service account tokens, so it is never logged, and the
//! token value is kept behind [`SecretString`].

use std::collections::HashMap;
use std::sync::Arc;

use keywarden_proto::csi::MountRequest;
use secrecy::SecretString;

use crate::catalogue;
use crate::error::MountError;
use crate::limits::{self, MAX_ATTRIBUTES_BYTES};
use crate::objects::{self, ObjectPlan};
use crate::plan_cache::PlanCache;

mod caller;
mod keys;

pub use caller::{Caller, SYNC_TARGET_PATH};

const POD_NAME: &str = "csi.storage.k8s.io/pod.name";
const POD_NAMESPACE: &str = "csi.storage.k8s.io/pod.namespace";
const POD_UID: &str = "csi.storage.k8s.io/pod.uid";
const SERVICE_ACCOUNT: &str = "csi.storage.k8s.io/serviceAccount.name";
const TOKENS: &str = "csi.storage.k8s.io/serviceAccount.tokens";

/// Whose AWS identity the calls of a Mount run as (docs/reference.md §2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityKind {
    /// IAM Roles for Service Accounts: the pod token exchanged with STS.
    Irsa,
    /// EKS Pod Identity agent credentials.
    PodIdentity,
    /// The provider's own credentials (opt-in).
    Node,
}

impl IdentityKind {
    fn parse(value: &str) -> Result<Self, MountError> {
        match value {
            "irsa" => Ok(Self::Irsa),
            "podIdentity" => Ok(Self::PodIdentity),
            "node" => Ok(Self::Node),
            other => Err(catalogue::bad_identity(&limits::quote(other))),
        }
    }

    /// The name as written in a SecretProviderClass.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Irsa => "irsa",
            Self::PodIdentity => "podIdentity",
            Self::Node => "node",
        }
    }
}

/// Who is mounting: taken from the pod information kubelet adds. Safe to log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodInfo {
    /// Pod namespace.
    pub namespace: Option<String>,
    /// Pod name.
    pub name: Option<String>,
    /// Pod UID.
    pub uid: Option<String>,
    /// Service account name.
    pub service_account: Option<String>,
    /// SecretProviderClass name (absent on rotation calls from drivers < v1.6.0).
    pub spc: Option<String>,
}

impl PodInfo {
    fn from_map(map: &HashMap<String, String>) -> Self {
        let get = |k: &str| map.get(k).filter(|v| !v.is_empty()).cloned();
        Self {
            namespace: get(POD_NAMESPACE),
            name: get(POD_NAME),
            uid: get(POD_UID),
            service_account: get(SERVICE_ACCOUNT),
            spc: get("secretProviderClass"),
        }
    }

    /// Best-effort pod information from attributes that may not parse; for logging a failure.
    pub fn lenient(attributes: &str) -> Self {
        if attributes.len() > MAX_ATTRIBUTES_BYTES {
            return Self::default();
        }
        serde_json::from_str::<HashMap<String, serde_json::Value>>(attributes)
            .map(|map| {
                let strings = map
                    .into_iter()
                    .filter_map(|(k, v)| match v {
                        serde_json::Value::String(s) => Some((k, s)),
                        _ => None,
                    })
                    .collect();
                Self::from_map(&strings)
            })
            .unwrap_or_default()
    }
}

/// A parsed, validated Mount request.
#[derive(Debug)]
pub struct MountParams {
    /// The objects to fetch, validated (shared with the plan cache).
    pub objects: Arc<[ObjectPlan]>,
    /// The SPC's `region`, if any.
    pub region: Option<String>,
    /// The SPC's `failoverRegion`, if any.
    pub failover_region: Option<String>,
    /// Whose identity the AWS calls run as.
    pub identity: IdentityKind,
    /// The SPC's `roleArn`, if any.
    pub role_arn: Option<String>,
    /// Who is mounting.
    pub pod: PodInfo,
    /// The `csi.storage.k8s.io/serviceAccount.tokens` JSON, if kubelet sent it.
    pub tokens: Option<SecretString>,
    /// Where the volume is published (used only when the provider writes the files).
    pub target_path: String,
    /// Who sent the request: the CSI driver or the sync controller.
    pub caller: Caller,
}

/// Parses a Mount request. Every error names the parameter or object at fault.
pub fn parse(request: &MountRequest) -> Result<MountParams, MountError> {
    parse_using(request, None)
}

/// [`parse`], taking the `objects` plans from `plans` when this exact spec was parsed before.
/// What depends on the pod or the other parameters is checked on every call.
pub fn parse_cached(request: &MountRequest, plans: &PlanCache) -> Result<MountParams, MountError> {
    parse_using(request, Some(plans))
}

fn parse_using(
    request: &MountRequest,
    plans: Option<&PlanCache>,
) -> Result<MountParams, MountError> {
    if request.attributes.len() > MAX_ATTRIBUTES_BYTES {
        return Err(catalogue::too_big(catalogue::over_limit(
            "attributes",
            request.attributes.len(),
            MAX_ATTRIBUTES_BYTES,
            "MAX_ATTRIBUTES_BYTES",
        )));
    }
    let mut map: HashMap<String, String> = serde_json::from_str(&request.attributes)
        .map_err(|e| catalogue::attributes_not_strings(e.line(), e.column()))?;
    keys::check(map.keys())?;
    let default_mode = parse_permission(&request.permission)?;
    let caller = Caller::of(&request.target_path, &map);
    let mut pod = PodInfo::from_map(&map);
    if caller == Caller::SyncController {
        // The controller names its own pod: nothing of the Mount belongs to it.
        pod.name = None;
        pod.uid = None;
    }
    let tokens = map
        .remove(TOKENS)
        .filter(|t| !t.is_empty())
        .map(SecretString::from);

    let objects_yaml = map
        .get("objects")
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(catalogue::objects_missing)?;
    let translation = match map.get("pathTranslation").filter(|v| !v.is_empty()) {
        Some(value) => objects::PathTranslation::parse(value)?,
        None => objects::PathTranslation::default(),
    };
    let objects: Arc<[ObjectPlan]> = match plans {
        Some(plans) => plans.get_or_parse(objects_yaml, default_mode, translation)?,
        None => objects::parse_with(objects_yaml, default_mode, translation)?.into(),
    };
    for object in objects.iter() {
        crate::content::check_context(
            &object.label,
            &object.encryption_context,
            pod.namespace.as_deref(),
        )?;
    }

    let region = map.get("region").filter(|r| !r.is_empty()).cloned();
    if let Some(region) = &region {
        let valid = region.len() <= 32
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid {
            return Err(catalogue::bad_region(&limits::quote(region)));
        }
    }
    let failover_region = failover_region(&map, region.as_deref(), &objects)?;
    let identity = identity(&map)?;
    let role_arn = map.get("roleArn").filter(|r| !r.is_empty()).cloned();
    if let Some(arn) = &role_arn
        && !(arn.starts_with("arn:") && arn.contains(":iam::") && arn.contains(":role/"))
    {
        return Err(catalogue::bad_role_arn(&limits::quote(arn)));
    }
    Ok(MountParams {
        objects,
        region,
        failover_region,
        identity,
        role_arn,
        pod,
        tokens,
        target_path: request.target_path.clone(),
        caller,
    })
}

/// `failoverRegion`: a region name other than the class's `region`. Every object the class
/// reads by name must have somewhere to fail over to: an ARN needs a `failoverObject`, an S3
/// object its replica, and a prefix entry cannot fail over; `failoverObject` needs the region.
fn failover_region(
    map: &HashMap<String, String>,
    region: Option<&str>,
    objects: &[ObjectPlan],
) -> Result<Option<String>, MountError> {
    use objects::Source;
    let failover = map.get("failoverRegion").filter(|r| !r.is_empty()).cloned();
    for object in objects {
        let has_failover = match &object.source {
            Source::Managed(r) => r.failover.is_some(),
            Source::S3 { replica, .. } => replica.is_some(),
            Source::S3Prefix { .. } | Source::Inline { .. } => false,
        };
        if failover.is_none() {
            if has_failover {
                return Err(catalogue::failover_needs_region(&object.label));
            }
            continue;
        }
        match &object.source {
            Source::Managed(r) if r.arn_region.is_some() && !has_failover => {
                return Err(catalogue::failover_arn_needs_object(&object.label));
            }
            Source::S3 { .. } if !has_failover => {
                return Err(catalogue::failover_s3_needs_replica(&object.label));
            }
            Source::S3Prefix { .. } => return Err(catalogue::failover_prefix(&object.label)),
            _ => {}
        }
    }
    let Some(failover) = failover else {
        return Ok(None);
    };
    let valid = failover.len() <= 32
        && failover
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        return Err(catalogue::bad_failover_region(&limits::quote(&failover)));
    }
    if region == Some(failover.as_str()) {
        return Err(catalogue::failover_region_same(&limits::quote(&failover)));
    }
    Ok(Some(failover))
}

/// `identity`, or the AWS provider's `usePodIdentity: "true"` (which means `podIdentity`); the
/// two may not disagree.
fn identity(map: &HashMap<String, String>) -> Result<IdentityKind, MountError> {
    let named = match map.get("identity").map(String::as_str) {
        None | Some("") => None,
        Some(value) => Some(IdentityKind::parse(value)?),
    };
    let pod_identity = match map.get("usePodIdentity").map(String::as_str) {
        None | Some("") => None,
        Some(v) if v.eq_ignore_ascii_case("true") => Some(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Some(false),
        Some(other) => {
            return Err(catalogue::bad_use_pod_identity(&limits::quote(other)));
        }
    };
    match (named, pod_identity) {
        (Some(kind), Some(true)) if kind != IdentityKind::PodIdentity => {
            Err(catalogue::identity_disagrees(kind.as_str()))
        }
        (Some(kind), _) => Ok(kind),
        (None, Some(true)) => Ok(IdentityKind::PodIdentity),
        (None, _) => Ok(IdentityKind::Irsa),
    }
}

/// The request's `permission`: the driver sends Go's JSON of `os.FileMode(0644)`, i.e. the
/// decimal string `"420"`. Empty means 0644.
fn parse_permission(permission: &str) -> Result<u32, MountError> {
    if permission.is_empty() {
        return Ok(0o644);
    }
    permission
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|mode| *mode <= 0o777)
        .ok_or_else(|| catalogue::bad_permission(&limits::quote(permission)))
}

#[cfg(test)]
mod tests;
