//! The AWS provider's object syntax for Secrets Manager secrets and Parameter Store parameters:
//! `objectName` as a name or a full ARN (the type then follows from the ARN), `objectVersion`,
//! `objectVersionLabel`, and the file name derived from the name under `pathTranslation`. The
//! rules are the AWS provider's, except where Keywarden's own are stricter (names and versions
//! are bounded and restricted to the characters the services accept; file names still pass
//! `mount_path::validate`).

use crate::catalogue;
use crate::error::MountError;
use crate::limits;

use super::ObjectType;

/// Longest Secrets Manager secret name (the service's limit).
pub(super) const MAX_SECRET_NAME_BYTES: usize = 512;
/// Longest parameter name or ARN (the service's limit).
pub(super) const MAX_PARAMETER_NAME_BYTES: usize = 2048;
/// Longest Secrets Manager staging label.
const MAX_SECRET_LABEL_BYTES: usize = 256;
/// Longest parameter label.
const MAX_PARAMETER_LABEL_BYTES: usize = 100;
/// Longest Secrets Manager version id.
const MAX_SECRET_VERSION_BYTES: usize = 64;

/// How `/` in a secret or parameter name becomes a file name (class parameter
/// `pathTranslation`; the AWS provider's default replaces it with `_`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathTranslation {
    /// Replace every `/` with this character.
    Replace(char),
    /// Keep `/` (directories in the mount); a leading `/` is dropped.
    Off,
}

impl Default for PathTranslation {
    fn default() -> Self {
        Self::Replace('_')
    }
}

impl PathTranslation {
    /// Parses the class parameter: `False` in any case, or exactly one character.
    pub fn parse(value: &str) -> Result<Self, MountError> {
        if value.eq_ignore_ascii_case("false") {
            return Ok(Self::Off);
        }
        let mut chars = value.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => Ok(Self::Replace(c)),
            _ => Err(catalogue::bad_path_translation(&limits::quote(value))),
        }
    }

    /// The file name of `name` (an alias or an object name).
    pub fn apply(self, name: &str) -> String {
        match self {
            Self::Replace(c) => name.replace('/', c.encode_utf8(&mut [0; 4])),
            Self::Off => name.strip_prefix('/').unwrap_or(name).to_owned(),
        }
    }
}

/// What a Secrets Manager or Parameter Store object reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedRef {
    /// `SecretId` or parameter name, as written (a name or an ARN).
    pub name: String,
    /// The region of an ARN, which must be the Mount's.
    pub arn_region: Option<String>,
    /// Secrets Manager `VersionId`, or the parameter version number.
    pub version: Option<String>,
    /// Secrets Manager `VersionStage`, or the parameter label.
    pub label: Option<String>,
    /// `failoverObject`: what to read in `failoverRegion` instead of the same name.
    pub failover: Option<Box<ManagedRef>>,
}

impl ManagedRef {
    /// The `GetParameters` selector: `name`, `name:version` or `name:label`.
    pub fn selector(&self) -> String {
        match (&self.version, &self.label) {
            (Some(v), _) | (None, Some(v)) => format!("{}:{v}", self.name),
            (None, None) => self.name.clone(),
        }
    }
}

/// The type an ARN names, and its region.
fn parse_arn(label: &str, name: &str) -> Result<(ObjectType, String), MountError> {
    let bad = || catalogue::bad_arn(label, &limits::quote(name));
    let parts: Vec<&str> = name.splitn(6, ':').collect();
    let [_, partition, service, region, account, resource] = parts[..] else {
        return Err(bad());
    };
    let region_ok = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    if !partition.starts_with("aws") || !region_ok || !account_ok {
        return Err(bad());
    }
    let object_type = match service {
        "secretsmanager"
            if resource
                .strip_prefix("secret:")
                .is_some_and(|n| !n.is_empty()) =>
        {
            ObjectType::SecretsManager
        }
        "ssm"
            if resource
                .strip_prefix("parameter/")
                .is_some_and(|n| !n.is_empty()) =>
        {
            ObjectType::SsmParameter
        }
        _ => return Err(bad()),
    };
    Ok((object_type, region.to_owned()))
}

/// Whether `name` names a secret or parameter rather than an S3 object.
pub(super) fn is_arn(name: &str) -> bool {
    name.starts_with("arn:")
}

/// Validates a `secretsmanager` or `ssmparameter` object (`explicit` is its `objectType`, if
/// written) and returns its type, what it reads and the file name its name gives.
pub(super) fn parse(
    label: &str,
    explicit: Option<ObjectType>,
    name: String,
    version: Option<String>,
    version_label: Option<String>,
) -> Result<(ObjectType, ManagedRef), MountError> {
    let (object_type, arn_region) = if is_arn(&name) {
        if name.len() > MAX_PARAMETER_NAME_BYTES {
            return Err(catalogue::bad_arn(label, &limits::quote(&name)));
        }
        let (from_arn, region) = parse_arn(label, &name)?;
        if let Some(explicit) = explicit
            && explicit != from_arn
        {
            return Err(catalogue::arn_type_mismatch(
                label,
                explicit.as_str(),
                from_arn.as_str(),
            ));
        }
        (from_arn, Some(region))
    } else {
        let object_type = explicit.unwrap_or(ObjectType::S3);
        check_name(label, object_type, &name)?;
        (object_type, None)
    };
    let version = version.filter(|v| !v.is_empty());
    let version_label = version_label.filter(|v| !v.is_empty());
    if object_type == ObjectType::SsmParameter && version.is_some() && version_label.is_some() {
        return Err(catalogue::parameter_version_and_label(label));
    }
    if let Some(v) = &version {
        check_version(label, object_type, v)?;
    }
    if let Some(l) = &version_label {
        let limit = match object_type {
            ObjectType::SsmParameter => MAX_PARAMETER_LABEL_BYTES,
            _ => MAX_SECRET_LABEL_BYTES,
        };
        let ok = l.len() <= limit
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !ok {
            return Err(catalogue::bad_version_label(
                label,
                &limits::quote(l),
                limit,
            ));
        }
    }
    Ok((
        object_type,
        ManagedRef {
            name,
            arn_region,
            version,
            label: version_label,
            failover: None,
        },
    ))
}

fn check_name(label: &str, object_type: ObjectType, name: &str) -> Result<(), MountError> {
    let quoted = || limits::quote(name);
    match object_type {
        ObjectType::SecretsManager => {
            let ok = !name.is_empty()
                && name.len() <= MAX_SECRET_NAME_BYTES
                && name.bytes().all(|b| {
                    b.is_ascii_alphanumeric()
                        || matches!(b, b'/' | b'_' | b'+' | b'=' | b'.' | b'@' | b'-')
                });
            if !ok {
                return Err(catalogue::bad_secret_name(
                    label,
                    &quoted(),
                    MAX_SECRET_NAME_BYTES,
                ));
            }
        }
        _ => {
            let ok = !name.is_empty()
                && name.len() <= MAX_PARAMETER_NAME_BYTES
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'.' | b'-'));
            if !ok {
                return Err(catalogue::bad_parameter_name(
                    label,
                    &quoted(),
                    MAX_PARAMETER_NAME_BYTES,
                ));
            }
        }
    }
    Ok(())
}

fn check_version(label: &str, object_type: ObjectType, version: &str) -> Result<(), MountError> {
    if object_type == ObjectType::SsmParameter {
        let ok = version.len() <= 19 && version.bytes().all(|b| b.is_ascii_digit());
        if !ok {
            return Err(catalogue::bad_parameter_version(
                label,
                &limits::quote(version),
            ));
        }
        return Ok(());
    }
    let ok = version.len() <= MAX_SECRET_VERSION_BYTES
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !ok {
        return Err(catalogue::bad_secret_version(
            label,
            &limits::quote(version),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(
        explicit: Option<ObjectType>,
        name: &str,
        version: Option<&str>,
        label: Option<&str>,
    ) -> Result<(ObjectType, ManagedRef), String> {
        parse(
            "objects[0] (x)",
            explicit,
            name.to_owned(),
            version.map(str::to_owned),
            label.map(str::to_owned),
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn arns_give_the_type_and_region() {
        let (t, r) = parsed(
            None,
            "arn:aws:secretsmanager:eu-west-1:111122223333:secret:db-AbCdEf",
            None,
            None,
        )
        .expect("sm arn");
        assert_eq!(t, ObjectType::SecretsManager);
        assert_eq!(r.arn_region.as_deref(), Some("eu-west-1"));
        let (t, _) = parsed(
            None,
            "arn:aws:ssm:eu-west-1:111122223333:parameter/app/db",
            Some("3"),
            None,
        )
        .expect("ssm arn");
        assert_eq!(t, ObjectType::SsmParameter);
        for bad in [
            "arn:aws:s3:::bucket/key",
            "arn:aws:secretsmanager:eu-west-1:111122223333:secret:",
            "arn:aws:ssm:eu-west-1:111122223333:document/x",
            "arn:aws:ssm:eu-west-1:1111:parameter/x",
            "arn:aws:secretsmanager:EU:111122223333:secret:x",
            "arn:",
        ] {
            let err = parsed(None, bad, None, None).expect_err(bad);
            assert!(
                err.contains("is not a Secrets Manager secret or SSM parameter ARN"),
                "{err}"
            );
        }
    }

    #[test]
    fn explicit_type_must_agree_with_the_arn() {
        let err = parsed(
            Some(ObjectType::SsmParameter),
            "arn:aws:secretsmanager:eu-west-1:111122223333:secret:db",
            None,
            None,
        )
        .expect_err("mismatch");
        assert!(
            err.contains("objectType ssmparameter does not match the secretsmanager ARN"),
            "{err}"
        );
    }

    #[test]
    fn names_versions_and_labels_are_bounded() {
        let sm = Some(ObjectType::SecretsManager);
        let ssm = Some(ObjectType::SsmParameter);
        parsed(
            sm,
            "prod/db+x=y.z@w-1",
            Some("EXAMPLE1-90ab-cdef"),
            Some("AWSCURRENT"),
        )
        .expect("valid secret");
        assert!(
            parsed(sm, "a b", None, None)
                .expect_err("space")
                .contains("not a secret name")
        );
        assert!(parsed(sm, &"a".repeat(513), None, None).is_err());
        assert!(
            parsed(ssm, "/a/b", Some("v1"), None)
                .expect_err("v")
                .contains("version number")
        );
        assert!(
            parsed(ssm, "/a/b", Some("2"), Some("l"))
                .expect_err("both")
                .contains("cannot both")
        );
        assert!(parsed(ssm, "/a/b", None, Some(&"l".repeat(101))).is_err());
        assert!(
            parsed(sm, "a", None, Some("bad label"))
                .expect_err("label")
                .contains("objectVersionLabel")
        );
        let (_, r) = parsed(ssm, "/a/b", None, Some("prod")).expect("label");
        assert_eq!(r.selector(), "/a/b:prod");
    }

    #[test]
    fn path_translation() {
        assert_eq!(PathTranslation::default().apply("/app/db"), "_app_db");
        assert_eq!(
            PathTranslation::parse("-").expect("one").apply("a/b"),
            "a-b"
        );
        assert_eq!(
            PathTranslation::parse("FALSE").expect("off").apply("/a/b"),
            "a/b"
        );
        for bad in ["", "__", "True"] {
            let err = PathTranslation::parse(bad).expect_err(bad).to_string();
            assert!(err.contains("must be False or a single character"), "{err}");
        }
    }
}
