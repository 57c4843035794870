//! `failoverObject`: what an object reads in `failoverRegion` when the Mount's region fails
//! (docs/reference.md §2.3, "Failover regions"). A secret or parameter names its replica as
//! the AWS provider does (`{objectName, objectVersion, objectVersionLabel}`); an S3 object
//! names its replica bucket and key (`s3://replica/key`, or the same mapping). The replica is
//! validated like the object itself, before any AWS call.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use crate::catalogue;
use crate::error::MountError;

use super::managed::{self, ManagedRef};
use super::{ObjectType, parse_s3_url};

/// `failoverObject` as written: a mapping, or its `objectName` alone.
#[derive(Debug)]
pub(super) struct RawFailover {
    object_name: String,
    object_version: Option<String>,
    object_version_label: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Mapping {
    object_name: String,
    object_version: Option<String>,
    object_version_label: Option<String>,
}

impl<'de> Deserialize<'de> for RawFailover {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Either;
        impl<'de> Visitor<'de> for Either {
            type Value = RawFailover;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an objectName, or a mapping with objectName")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<RawFailover, E> {
                Ok(RawFailover {
                    object_name: name.to_owned(),
                    object_version: None,
                    object_version_label: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawFailover, A::Error> {
                let m = Mapping::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RawFailover {
                    object_name: m.object_name,
                    object_version: m.object_version,
                    object_version_label: m.object_version_label,
                })
            }
        }
        deserializer.deserialize_any(Either)
    }
}

/// An S3 object's replica: read with the failover region's clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    /// Bucket in `failoverRegion`.
    pub bucket: String,
    /// Key.
    pub key: String,
}

/// The failover of a secret or parameter of type `found` pinned to `version`: the same type
/// (an ARN of the other type is refused) and the same version.
pub(super) fn managed(
    label: &str,
    found: ObjectType,
    version: Option<&str>,
    raw: RawFailover,
) -> Result<ManagedRef, MountError> {
    let (failover_type, failover) = managed::parse(
        label,
        Some(found),
        raw.object_name,
        raw.object_version,
        raw.object_version_label,
    )?;
    if failover_type != found || failover.version.as_deref() != version {
        return Err(catalogue::failover_differs(label));
    }
    Ok(failover)
}

/// The replica of an S3 object pinned to `version`: one `s3://` object (not a prefix), no
/// label, and no other version (S3 replication keeps version ids).
pub(super) fn s3_replica(
    label: &str,
    version: Option<&str>,
    raw: RawFailover,
) -> Result<Replica, MountError> {
    let replica_version = raw.object_version.as_deref().filter(|v| !v.is_empty());
    if raw.object_version_label.is_some()
        || (replica_version.is_some() && replica_version != version)
    {
        return Err(catalogue::failover_differs(label));
    }
    let (bucket, key) =
        parse_s3_url(&raw.object_name).map_err(|e| catalogue::bad_failover_replica(label, e))?;
    if key.ends_with('/') {
        return Err(catalogue::failover_prefix(label));
    }
    Ok(Replica { bucket, key })
}
