//! Tests that different objects and contexts never share a cache key.

use std::collections::HashSet;

use super::*;
use crate::objects;

fn plans(yaml: &str) -> Vec<ObjectPlan> {
    objects::parse(yaml, 0o644).expect("valid objects")
}

fn key(plan: &ObjectPlan, namespace: &str) -> CacheKey {
    cache_key("node", plan, Some(namespace), "us-east-1")
}

#[test]
fn a_context_value_cannot_spell_another_pair() {
    // Namespace a's context, and the one tenant b writes to imitate it.
    let a = plans(
        r#"
- objectName: s3://bucket/secret
  objectType: kms
  objectAlias: a
  encryptionContext: {app: x, keywarden.io/namespace: a}
"#,
    );
    let b = plans(
        r#"
- objectName: s3://bucket/secret
  objectType: kms
  objectAlias: b
  encryptionContext: {app: "x;keywarden.io/namespace=a"}
"#,
    );
    assert_ne!(key(&a[0], "a"), key(&b[0], "b"));
}

#[test]
fn a_key_cannot_spell_a_version() {
    let pinned = plans(
        r#"
- objectName: s3://bucket/a
  objectVersion: x
"#,
    );
    let spelled = plans(
        r#"
- objectName: s3://bucket/a?versionId=x
"#,
    );
    assert_ne!(key(&pinned[0], "n"), key(&spelled[0], "n"));
}

#[test]
fn every_object_of_a_list_has_its_own_key() {
    // Near-misses of each other: bucket/key boundaries, types, contexts split differently.
    let all = plans(
        r#"
- {objectName: s3://bkt/c, objectAlias: f1}
- {objectName: s3://bkt/1/d, objectAlias: f1b}
- {objectName: s3://bkt1/d, objectAlias: f2}
- {objectName: s3://bkt/c, objectType: kms, objectAlias: f3}
- {objectName: s3://bkt/c, objectType: kms, objectAlias: f4, encryptionContext: {a: bc}}
- {objectName: s3://bkt/c, objectType: kms, objectAlias: f5, encryptionContext: {ab: c}}
- {objectName: s3://bkt/c, objectType: kms, objectAlias: f6, encryptionContext: {a: b, c: ""}}
- {objectName: s3://bkt/c, objectType: kms, objectAlias: f7, encryptionContext: {"a": "b:1:c"}}
- {objectName: s3://bkt/c, objectAlias: f8, objectVersion: "1"}
- {objectName: s3://bkt/c1, objectAlias: f9}
"#,
    );
    let keys: HashSet<CacheKey> = all.iter().map(|p| key(p, "n")).collect();
    assert_eq!(keys.len(), all.len());
}

#[test]
fn a_sealed_key_names_the_namespace() {
    let sealed = plans(
        r#"
- objectName: s3://bucket/sealed
  objectType: sealed
"#,
    );
    assert_ne!(key(&sealed[0], "a"), key(&sealed[0], "b"));
    assert_ne!(
        key(&sealed[0], ""),
        cache_key("node", &sealed[0], None, "us-east-1")
    );
}
