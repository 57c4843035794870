//! Tests for the plan cache: a kept parse is the parse, every input the plans depend on is part
//! of the key, errors are not kept, and the bound holds against many distinct specs. The oracle
//! is a fresh `objects::parse_with` of the same input.

use super::*;

const TWO: &str = "- objectName: s3://bucket-a/app/db\n  objectAlias: db\n- objectName: \"arn:aws:secretsmanager:us-east-1:123456789012:secret:app/api-AbCdEf\"\n  objectType: secretsmanager\n";

fn fresh(yaml: &str, mode: u32, translation: PathTranslation) -> Vec<ObjectPlan> {
    objects::parse_with(yaml, mode, translation).expect("valid spec")
}

fn spec(i: usize) -> String {
    format!("- objectName: s3://bucket-{i:04}/key/{i}\n  objectAlias: file-{i}\n")
}

#[test]
fn a_kept_parse_is_the_fresh_parse() {
    let cache = PlanCache::default();
    let want = fresh(TWO, 0o640, PathTranslation::default());
    let first = cache
        .get_or_parse(TWO, 0o640, PathTranslation::default())
        .expect("valid");
    assert_eq!(cache.len(), 1);
    let second = cache
        .get_or_parse(TWO, 0o640, PathTranslation::default())
        .expect("valid");
    assert_eq!(cache.len(), 1, "the same spec is kept once");
    assert_eq!(&first[..], &want[..]);
    assert_eq!(&second[..], &want[..]);
    assert!(
        Arc::ptr_eq(&first, &second),
        "the second parse is the kept one"
    );
}

#[test]
fn a_changed_spec_is_parsed_again() {
    let cache = PlanCache::default();
    let translation = PathTranslation::default();
    for i in 0..3 {
        let text = spec(i);
        let got = cache
            .get_or_parse(&text, 0o644, translation)
            .expect("valid");
        assert_eq!(&got[..], &fresh(&text, 0o644, translation)[..], "spec {i}");
        assert_eq!(got[0].alias, format!("file-{i}"));
    }
    // One byte changed in a kept spec.
    let changed = spec(1).replace("file-1", "file-9");
    let got = cache
        .get_or_parse(&changed, 0o644, translation)
        .expect("valid");
    assert_eq!(got[0].alias, "file-9");
    assert_eq!(cache.len(), 4);
}

#[test]
fn the_default_mode_and_path_translation_are_part_of_the_key() {
    let cache = PlanCache::default();
    let managed = "- objectName: app/db\n  objectType: secretsmanager\n";
    let cases = [
        (0o644, PathTranslation::default()),
        (0o400, PathTranslation::default()),
        (0o400, PathTranslation::Replace('-')),
        (0o400, PathTranslation::Off),
    ];
    for (mode, translation) in cases {
        let got = cache
            .get_or_parse(managed, mode, translation)
            .expect("valid");
        assert_eq!(&got[..], &fresh(managed, mode, translation)[..]);
    }
    assert_eq!(cache.len(), cases.len());
    let aliases: Vec<String> = cases
        .iter()
        .map(|(mode, t)| {
            let got = cache.get_or_parse(managed, *mode, *t).expect("valid");
            format!("{} {:o}", got[0].alias, got[0].mode)
        })
        .collect();
    assert_eq!(
        aliases,
        ["app_db 644", "app_db 400", "app-db 400", "app/db 400"]
    );
}

#[test]
fn refused_specs_are_not_kept_and_stay_refused() {
    let cache = PlanCache::default();
    let bad = "- objectName: s3://bucket/key\n  objectAlias: ../escape\n";
    let want = objects::parse_with(bad, 0o644, PathTranslation::default())
        .expect_err("refused")
        .to_string();
    for _ in 0..2 {
        let got = cache
            .get_or_parse(bad, 0o644, PathTranslation::default())
            .expect_err("refused every time")
            .to_string();
        assert_eq!(got, want);
    }
    let huge = "#".repeat(MAX_OBJECTS_BYTES + 1);
    let err = cache
        .get_or_parse(&huge, 0o644, PathTranslation::default())
        .expect_err("too big");
    assert!(err.to_string().contains("MAX_OBJECTS_BYTES"), "{err}");
    assert!(cache.is_empty());
}

#[test]
fn many_distinct_specs_stay_within_the_bound() {
    let max = 16 * 1024;
    let cache = PlanCache::new(max);
    let one = weight(
        &cache
            .get_or_parse(&spec(0), 0o644, PathTranslation::default())
            .expect("valid"),
    );
    let capacity = max / one;
    assert!(capacity >= 2, "the test needs room for a few entries");
    for i in 0..(capacity * 10) {
        let text = spec(i);
        let got = cache
            .get_or_parse(&text, 0o644, PathTranslation::default())
            .expect("valid");
        assert_eq!(
            &got[..],
            &fresh(&text, 0o644, PathTranslation::default())[..]
        );
        assert!(
            cache.bytes() <= max,
            "{} bytes kept after {i}",
            cache.bytes()
        );
        assert!(
            cache.len() <= capacity,
            "{} specs kept after {i}",
            cache.len()
        );
    }
    assert!(
        cache.len() >= capacity - 1,
        "the cache still keeps recent specs"
    );
    // The most recent spec is kept; the first ones were evicted, and parse again correctly.
    let last = spec(capacity * 10 - 1);
    let kept = cache
        .get_or_parse(&last, 0o644, PathTranslation::default())
        .expect("valid");
    let again = cache
        .get_or_parse(&last, 0o644, PathTranslation::default())
        .expect("valid");
    assert!(Arc::ptr_eq(&kept, &again));
    let first = cache
        .get_or_parse(&spec(0), 0o644, PathTranslation::default())
        .expect("valid");
    assert_eq!(first[0].alias, "file-0");
}

#[test]
fn the_entry_count_is_bounded_however_small_the_specs() {
    let cache = PlanCache::new(8 * ENTRY_OVERHEAD_BYTES);
    for i in 0..100 {
        cache
            .get_or_parse(
                &format!("- objectName: s3://bkt/{i}\n"),
                0o644,
                PathTranslation::default(),
            )
            .expect("valid");
    }
    assert!(cache.len() < 8, "{} entries", cache.len());
}

#[test]
fn a_zero_sized_cache_parses_every_time() {
    let cache = PlanCache::new(0);
    let a = cache
        .get_or_parse(TWO, 0o644, PathTranslation::default())
        .expect("valid");
    let b = cache
        .get_or_parse(TWO, 0o644, PathTranslation::default())
        .expect("valid");
    assert!(!Arc::ptr_eq(&a, &b));
    assert_eq!(&a[..], &b[..]);
    assert!(cache.is_empty());
}

#[test]
fn the_weight_grows_with_what_a_plan_holds() {
    let small = fresh(
        "- objectName: s3://bkt/k\n",
        0o644,
        PathTranslation::default(),
    );
    let long = format!("- objectName: s3://bkt/{}/k\n", "d".repeat(1000));
    let large = fresh(&long, 0o644, PathTranslation::default());
    let (small, large) = (weight(&small.into()), weight(&large.into()));
    assert!(
        large >= small + 1000,
        "the key is counted: {small} vs {large}"
    );
}

/// A Mount request of `namespace` whose one `kms` object is bound to namespace `team-a`.
fn bound_request(namespace: &str) -> keywarden_proto::csi::MountRequest {
    let objects = "- objectName: s3://bucket/key\n  objectType: kms\n  encryptionContext:\n    keywarden.io/namespace: team-a\n";
    let attributes = serde_json::json!({
        "objects": objects,
        "csi.storage.k8s.io/pod.namespace": namespace,
        "csi.storage.k8s.io/pod.name": "web-0",
    });
    keywarden_proto::csi::MountRequest {
        attributes: attributes.to_string(),
        secrets: "null".into(),
        target_path: "/tmp/t".into(),
        permission: "420".into(),
        current_object_version: vec![],
    }
}

#[test]
fn what_depends_on_the_pod_is_checked_on_every_mount() {
    let cache = PlanCache::default();
    let own = crate::params::parse_cached(&bound_request("team-a"), &cache).expect("own namespace");
    assert_eq!(cache.len(), 1);
    let fresh = crate::params::parse(&bound_request("team-b"))
        .expect_err("another namespace")
        .to_string();
    let cached = crate::params::parse_cached(&bound_request("team-b"), &cache)
        .expect_err("another namespace, with the spec kept")
        .to_string();
    assert_eq!(cached, fresh);
    assert!(cached.contains("team-b"), "{cached}");
    assert_eq!(own.pod.namespace.as_deref(), Some("team-a"));
}
