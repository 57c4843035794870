//! What `check` verifies of the SecretSyncs beside a SecretProviderClass (docs/reference.md
//! §2.10): the Secrets Store sync controller looks every `sourcePath` up by exact path among the
//! files a Mount returns, and its CRD limits `sourcePath` and `targetKey` to one pattern, so a
//! SecretSync that names a nested alias, or an alias the class does not produce, can never sync.
//! Caught here, offline, instead of on the SecretSync's status after deployment.

use anyhow::bail;
use serde::Deserialize;
use serde_json::Value;

/// `maxLength` of `sourcePath` and `targetKey` in the CRD.
pub const MAX_SOURCE_PATH: usize = 253;

/// The CRD's pattern for `sourcePath` and `targetKey`,
/// `^[A-Za-z0-9.]([-A-Za-z0-9]+([-._a-zA-Z0-9]?[A-Za-z0-9])*)?(\/([0-9]+))*$`, and its length
/// limit, decided without a regex engine: a name, then any number of `/<digits>`. The name is
/// one letter, digit or `.`, optionally followed by a letter, digit or `-`, then letters, digits,
/// `-`, `.` and `_`, where from the first `.` or `_` on no two non-alphanumerics are adjacent
/// and the last character is alphanumeric.
pub fn fits_source_path(path: &str) -> bool {
    if path.is_empty() || path.len() > MAX_SOURCE_PATH {
        return false;
    }
    let (name, suffixes) = path.split_at(path.find('/').unwrap_or(path.len()));
    if let Some(suffixes) = suffixes.strip_prefix('/')
        && !suffixes
            .split('/')
            .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    let alnum = |c: u8| c.is_ascii_alphanumeric();
    let word = |c: u8| alnum(c) || c == b'-';
    let Some((&first, rest)) = name.as_bytes().split_first() else {
        return false;
    };
    if !(alnum(first) || first == b'.') {
        return false;
    }
    let Some(&second) = rest.first() else {
        return true;
    };
    if !word(second) || !rest.iter().all(|&c| word(c) || c == b'.' || c == b'_') {
        return false;
    }
    let Some(dot) = rest.iter().position(|&c| c == b'.' || c == b'_') else {
        return true;
    };
    let tail = &rest[dot..];
    tail.last().is_some_and(|&c| alnum(c)) && tail.windows(2).all(|w| alnum(w[0]) || alnum(w[1]))
}

#[derive(Debug, Deserialize)]
struct Doc {
    #[serde(default)]
    metadata: Metadata,
    spec: Spec,
}

#[derive(Debug, Default, Deserialize)]
struct Metadata {
    name: Option<String>,
    namespace: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    secret_provider_class_name: String,
    #[serde(default)]
    secret_object: SecretObject,
}

#[derive(Debug, Default, Deserialize)]
struct SecretObject {
    #[serde(default)]
    data: Vec<Data>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    source_path: String,
    target_key: String,
}

/// Checks every SecretSync among `documents` (the manifest, read once) that names the class
/// `spc` in `namespace` against the files the class produces; returns a line per SecretSync for
/// the report, or the first `sourcePath`/`targetKey` that can never sync.
pub fn check(
    documents: &[Value],
    spc: &str,
    namespace: &str,
    files: &[&str],
) -> anyhow::Result<String> {
    let mut report = String::new();
    for value in documents {
        if value.get("kind").and_then(|k| k.as_str()) != Some("SecretSync") {
            continue;
        }
        let doc = Doc::deserialize(value)
            .map_err(|e| anyhow::anyhow!(crate::catalogue::secret_sync_shape(e)))?;
        let doc_namespace = doc.metadata.namespace.as_deref().unwrap_or(namespace);
        if doc.spec.secret_provider_class_name != spc || doc_namespace != namespace {
            continue;
        }
        let name = doc.metadata.name.as_deref().unwrap_or("unnamed");
        for entry in &doc.spec.secret_object.data {
            for (field, value) in [
                ("sourcePath", &entry.source_path),
                ("targetKey", &entry.target_key),
            ] {
                if !fits_source_path(value) {
                    bail!(crate::catalogue::source_path_refused(
                        namespace,
                        name,
                        field,
                        &crate::limits::quote(value),
                        MAX_SOURCE_PATH,
                    ));
                }
            }
            if !files.contains(&entry.source_path.as_str()) {
                bail!(crate::catalogue::source_path_unknown(
                    namespace,
                    name,
                    &crate::limits::quote(&entry.source_path),
                    spc,
                    crate::limits::clip(&files.join(", ")),
                ));
            }
        }
        report.push_str(&format!(
            "SecretSync {namespace}/{name}: {} key(s) found among the files\n",
            doc.spec.secret_object.data.len()
        ));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crd_pattern() {
        // Each case checked against the CRD's regular expression.
        let fits = [
            "a",
            "api-key",
            "db-password",
            "tls.crt",
            "ca.crt",
            "db.json",
            ".env",
            "ab_c",
            "db_password",
            "DB_PASSWORD",
            "a-",
            "a--b",
            "foo/0",
            "foo/0/12",
            "x1.y2",
            "a-.b",
        ];
        let refused = [
            "",
            "a_b",
            "x.y",
            "-key",
            "_key",
            "db/password",
            "foo/",
            "foo/a",
            "foo//0",
            "/0",
            "a..b",
            "ab.",
            "ab_",
            "ab._c",
            "a b",
            "ä",
            "ab/0x",
        ];
        for path in fits {
            assert!(fits_source_path(path), "{path:?} fits");
        }
        for path in refused {
            assert!(!fits_source_path(path), "{path:?} is refused");
        }
        assert!(fits_source_path(&"a".repeat(253)));
        assert!(!fits_source_path(&"a".repeat(254)));
    }

    fn docs(yaml: &str) -> Vec<Value> {
        crate::objects::yaml::read_manifest(yaml).expect("yaml")
    }

    const SYNC: &str = "kind: SecretSync\nmetadata: {name: s, namespace: team-a}\nspec:\n  \
                        secretProviderClassName: app\n  secretObject:\n    data:\n";

    #[test]
    fn every_source_path_must_fit_and_be_a_file() {
        let files = ["api-key", "db/password"];
        let ok = docs(&format!(
            "{SYNC}      - {{sourcePath: api-key, targetKey: API_KEY}}\n"
        ));
        let report = check(&ok, "app", "team-a", &files).expect("fits");
        assert!(report.contains("SecretSync team-a/s: 1 key(s)"), "{report}");
        // Another class or namespace: not checked.
        assert_eq!(check(&ok, "other", "team-a", &files).expect("skip"), "");
        assert_eq!(check(&ok, "app", "team-b", &files).expect("skip"), "");

        let nested = docs(&format!(
            "{SYNC}      - {{sourcePath: db/password, targetKey: P}}\n"
        ));
        let err = check(&nested, "app", "team-a", &files).expect_err("nested");
        assert!(
            err.to_string()
                .contains("sourcePath \"db/password\" is refused"),
            "{err}"
        );
        let missing = docs(&format!(
            "{SYNC}      - {{sourcePath: token, targetKey: T}}\n"
        ));
        let err = check(&missing, "app", "team-a", &files).expect_err("no file");
        assert!(err.to_string().contains("\"token\" is not a file"), "{err}");
        assert!(err.to_string().contains("api-key, db/password"), "{err}");
        let key = docs(&format!(
            "{SYNC}      - {{sourcePath: api-key, targetKey: a_b}}\n"
        ));
        let err = check(&key, "app", "team-a", &files).expect_err("key");
        assert!(err.to_string().contains("targetKey \"a_b\""), "{err}");
    }
}
