//! Object specs: the YAML list in the `objects` parameter, parsed strictly and validated into
//! [`ObjectPlan`]s before any AWS call (docs/reference.md §2.3).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::catalogue;
use crate::encoding::ObjectEncoding;
use crate::error::MountError;
use crate::limits::{self, MAX_JMESPATH_ENTRIES, MAX_OBJECTS, MAX_OBJECTS_BYTES};
use crate::mount_path::{self, PathSet};

mod failover;
mod managed;
mod s3_url;
pub(crate) mod yaml;

use failover::RawFailover;
pub use failover::Replica;
pub use managed::{ManagedRef, PathTranslation};
pub use s3_url::parse_s3_url;
use s3_url::prefix_source;

/// What the fetched bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectType {
    /// The bytes as stored (S3 server-side encryption applies).
    S3,
    /// An AWS KMS ciphertext blob.
    Kms,
    /// A Keywarden sealed object.
    Sealed,
    /// An AWS Secrets Manager secret (`SecretString` or `SecretBinary`).
    #[serde(rename = "secretsmanager")]
    SecretsManager,
    /// An SSM Parameter Store parameter (`SecureString` values decrypted).
    #[serde(rename = "ssmparameter")]
    SsmParameter,
}

impl ObjectType {
    /// The name as written in a SecretProviderClass.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::S3 => "s3",
            Self::Kms => "kms",
            Self::Sealed => "sealed",
            Self::SecretsManager => "secretsmanager",
            Self::SsmParameter => "ssmparameter",
        }
    }

    /// Whether the object is read from Secrets Manager or Parameter Store.
    pub fn is_managed(self) -> bool {
        matches!(self, Self::SecretsManager | Self::SsmParameter)
    }
}

/// One object spec exactly as written in the SecretProviderClass.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawObject {
    object_name: Option<String>,
    object_type: Option<ObjectType>,
    ciphertext: Option<String>,
    object_alias: Option<String>,
    object_version: Option<String>,
    object_version_label: Option<String>,
    failover_object: Option<RawFailover>,
    file_permission: Option<String>,
    encryption_context: Option<BTreeMap<String, String>>,
    jmes_path: Option<Vec<RawJmesPath>>,
    object_encoding: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawJmesPath {
    path: String,
    object_alias: String,
    file_permission: Option<String>,
    object_encoding: Option<String>,
}

/// Where an object's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An S3 object, optionally pinned to a version.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
        /// Pinned VersionId.
        version: Option<String>,
        /// `failoverObject`: the replica read in `failoverRegion` when this one fails.
        replica: Option<Replica>,
    },
    /// Every object under an S3 prefix (`objectName` ending in `/`), listed at Mount time
    /// (`s3_prefix.rs`); the plan's alias is the directory its members go under.
    S3Prefix {
        /// Bucket name.
        bucket: String,
        /// The prefix, ending in `/`.
        prefix: String,
    },
    /// Base64 ciphertext written inline in the SecretProviderClass.
    Inline {
        /// The base64 text.
        ciphertext: String,
    },
    /// A Secrets Manager secret or a Parameter Store parameter (the object type says which).
    Managed(ManagedRef),
}

/// A field extracted from a JSON object into its own file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JmesPathPlan {
    /// The JMESPath expression.
    pub path: String,
    /// File path in the mount.
    pub alias: String,
    /// File mode.
    pub mode: u32,
    /// How the extracted string is decoded into the file.
    pub encoding: ObjectEncoding,
}

/// A validated object: everything needed to fetch it and place it in the mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectPlan {
    /// `objects[i] (name)`, used in every message about this object.
    pub label: String,
    /// Where the bytes come from.
    pub source: Source,
    /// What the bytes are.
    pub object_type: ObjectType,
    /// File path in the mount.
    pub alias: String,
    /// File mode.
    pub mode: u32,
    /// Context for `kms:Decrypt`.
    pub encryption_context: BTreeMap<String, String>,
    /// Fields to extract.
    pub jmes_paths: Vec<JmesPathPlan>,
    /// How the decrypted bytes are decoded into the object's own file (jmesPath fields read
    /// the decrypted bytes, not the decoded ones).
    pub encoding: ObjectEncoding,
}

impl ObjectPlan {
    /// The `ObjectVersion.id` of this object: `s3://bucket/key`, `s3://bucket/prefix/` or
    /// `inline:<alias>`.
    pub fn id(&self) -> String {
        match &self.source {
            Source::S3 { bucket, key, .. } => format!("s3://{bucket}/{key}"),
            Source::S3Prefix { bucket, prefix } => format!("s3://{bucket}/{prefix}"),
            Source::Inline { .. } => format!("inline:{}", self.alias),
            Source::Managed(r) => format!("{}:{}", self.object_type.as_str(), r.name),
        }
    }
}

/// Parses and validates the `objects` parameter. `default_mode` comes from the request's
/// `permission`. Every bound of [`crate::limits`] that concerns the list is checked before the
/// part it protects is read further.
pub fn parse(yaml: &str, default_mode: u32) -> Result<Vec<ObjectPlan>, MountError> {
    parse_with(yaml, default_mode, PathTranslation::default())
}

/// [`parse`], with the class parameter `pathTranslation`, which makes the file names of
/// `secretsmanager` and `ssmparameter` objects.
pub fn parse_with(
    yaml: &str,
    default_mode: u32,
    translation: PathTranslation,
) -> Result<Vec<ObjectPlan>, MountError> {
    if yaml.len() > MAX_OBJECTS_BYTES {
        return Err(catalogue::too_big(catalogue::over_limit(
            "parameter objects",
            yaml.len(),
            MAX_OBJECTS_BYTES,
            "MAX_OBJECTS_BYTES",
        )));
    }
    let value = yaml::read(yaml).map_err(catalogue::objects_not_specs)?;
    let count = value.as_array().map_or(0, Vec::len);
    if count > MAX_OBJECTS {
        return Err(catalogue::too_many_objects(count, MAX_OBJECTS));
    }
    let raw: Vec<RawObject> = serde_json::from_value(value)
        .map_err(|e| catalogue::objects_not_specs(limits::clip(&e.to_string())))?;
    if raw.is_empty() {
        return Err(catalogue::objects_empty());
    }
    let entries: usize = raw
        .iter()
        .map(|o| o.jmes_path.as_ref().map_or(0, Vec::len))
        .sum();
    if entries > MAX_JMESPATH_ENTRIES {
        return Err(catalogue::too_many_jmes_paths(
            entries,
            MAX_JMESPATH_ENTRIES,
        ));
    }
    let mut paths = PathSet::default();
    let mut plans = Vec::with_capacity(raw.len());
    for (i, raw) in raw.into_iter().enumerate() {
        let plan = validate_object(i, raw, default_mode, translation, &mut paths)?;
        plans.push(plan);
    }
    Ok(plans)
}

fn validate_object(
    i: usize,
    mut raw: RawObject,
    default_mode: u32,
    translation: PathTranslation,
    paths: &mut PathSet,
) -> Result<ObjectPlan, MountError> {
    let name = raw.object_name.as_deref().unwrap_or("inline");
    let label = format!("objects[{i}] ({})", limits::prefix(name));
    let mut object_type = raw.object_type.unwrap_or(ObjectType::S3);
    let managed_name = raw.object_name.as_deref().is_some_and(managed::is_arn);
    if raw.object_version_label.is_some() && !object_type.is_managed() && !managed_name {
        return Err(catalogue::label_not_managed(&label));
    }
    let (source, default_alias) = match (raw.object_name, raw.ciphertext) {
        (Some(name), None) if object_type.is_managed() || managed_name => {
            let (found, reference) = managed::parse(
                &label,
                raw.object_type,
                name,
                raw.object_version,
                raw.object_version_label,
            )?;
            object_type = found;
            let default_alias = reference.name.clone();
            let mut reference = reference;
            if let Some(failover) = raw.failover_object.take() {
                if raw.object_alias.is_none() {
                    return Err(catalogue::failover_needs_alias(&label));
                }
                let version = reference.version.as_deref();
                let failover = failover::managed(&label, found, version, failover)?;
                reference.failover = Some(Box::new(failover));
            }
            (Source::Managed(reference), Some(default_alias))
        }
        (Some(_), Some(_)) => {
            return Err(catalogue::name_and_ciphertext(&label));
        }
        (None, None) => {
            return Err(catalogue::name_missing(&label));
        }
        (Some(name), None) => {
            let (bucket, key) =
                parse_s3_url(&name).map_err(|e| catalogue::bad_object_name(&label, e))?;
            if key.ends_with('/') {
                if raw.failover_object.is_some() {
                    return Err(catalogue::failover_prefix(&label));
                }
                let (source, default_alias) = prefix_source(
                    &label,
                    bucket,
                    key,
                    raw.object_version.as_deref(),
                    raw.jmes_path.is_some(),
                )?;
                (source, Some(default_alias))
            } else {
                let default_alias = key.rsplit('/').next().unwrap_or_default().to_owned();
                let version = raw.object_version.filter(|v| !v.is_empty());
                let replica = raw
                    .failover_object
                    .take()
                    .map(|f| failover::s3_replica(&label, version.as_deref(), f))
                    .transpose()?;
                (
                    Source::S3 {
                        bucket,
                        key,
                        version,
                        replica,
                    },
                    Some(default_alias),
                )
            }
        }
        (None, Some(ciphertext)) => {
            if raw.failover_object.is_some() {
                return Err(catalogue::failover_not_by_name(&label));
            }
            if raw.object_version.is_some() {
                return Err(catalogue::version_not_s3(&label));
            }
            if !matches!(object_type, ObjectType::Kms | ObjectType::Sealed) {
                return Err(catalogue::ciphertext_needs_type(&label));
            }
            if ciphertext.trim().is_empty() {
                return Err(catalogue::ciphertext_empty(&label));
            }
            (Source::Inline { ciphertext }, None)
        }
    };
    let alias = match (raw.object_alias, default_alias) {
        (Some(alias), _) => alias,
        (None, Some(default)) => default,
        (None, None) => return Err(catalogue::alias_required(&label)),
    };
    // As the AWS provider names its files: `/` in the name or alias translated.
    let alias = if object_type.is_managed() {
        translation.apply(&alias)
    } else {
        alias
    };
    mount_path::validate(&alias).map_err(|e| catalogue::bad_alias(&label, e))?;
    let mode = match raw.file_permission {
        Some(p) => parse_mode(&p).map_err(|e| catalogue::bad_file_permission(&label, e))?,
        None => default_mode,
    };
    let encoding = parse_encoding(&label, raw.object_encoding.as_deref())?;
    let encryption_context = raw.encryption_context.unwrap_or_default();
    if !encryption_context.is_empty() && object_type != ObjectType::Kms {
        return Err(catalogue::context_not_kms(&label));
    }

    let mut jmes_paths = Vec::new();
    match raw.jmes_path {
        Some(list) if list.is_empty() => return Err(catalogue::jmes_paths_empty(&label)),
        Some(list) => {
            for (j, jp) in list.into_iter().enumerate() {
                let owner = format!("{label} jmesPath[{j}]");
                if jp.path.trim().is_empty() {
                    return Err(catalogue::jmes_path_empty(&owner));
                }
                crate::jmes::check(&jp.path).map_err(|e| catalogue::bad_jmes_path(&owner, e))?;
                mount_path::validate(&jp.object_alias)
                    .map_err(|e| catalogue::bad_alias(&owner, e))?;
                let mode = match jp.file_permission {
                    Some(p) => {
                        parse_mode(&p).map_err(|e| catalogue::bad_file_permission(&owner, e))?
                    }
                    None => mode,
                };
                let encoding = parse_encoding(&owner, jp.object_encoding.as_deref())?;
                paths.claim(&jp.object_alias, &owner)?;
                jmes_paths.push(JmesPathPlan {
                    path: jp.path,
                    alias: jp.object_alias,
                    mode,
                    encoding,
                });
            }
        }
        None => {}
    }
    // The whole object is written too, unless it is only a source for jmesPath fields. A
    // prefix's alias is a directory: its members' paths are claimed once they are listed.
    if !matches!(source, Source::S3Prefix { .. }) {
        paths.claim(&alias, &label)?;
    }
    Ok(ObjectPlan {
        label,
        source,
        object_type,
        alias,
        mode,
        encryption_context,
        jmes_paths,
        encoding,
    })
}

/// `objectEncoding` of `owner`, `utf-8` when absent.
fn parse_encoding(owner: &str, text: Option<&str>) -> Result<ObjectEncoding, MountError> {
    let Some(text) = text else {
        return Ok(ObjectEncoding::Utf8);
    };
    ObjectEncoding::parse(text)
        .ok_or_else(|| catalogue::bad_encoding_name(owner, &limits::quote(text)))
}

/// Parses an octal permission string such as `"0400"` or `"644"` (0000–0777).
pub fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text.trim();
    let valid = !digits.is_empty()
        && digits.len() <= 4
        && digits.bytes().all(|b| (b'0'..=b'7').contains(&b));
    match u32::from_str_radix(digits, 8) {
        Ok(mode) if valid && mode <= 0o777 => Ok(mode),
        _ => Err(catalogue::bad_mode(&limits::quote(text))),
    }
}

#[cfg(test)]
mod tests;
