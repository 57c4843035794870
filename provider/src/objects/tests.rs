//! Tests for object spec parsing and validation.

use super::*;

fn one(yaml: &str) -> Result<ObjectPlan, String> {
    match parse(yaml, 0o644) {
        Ok(mut plans) => Ok(plans.remove(0)),
        Err(e) => Err(e.to_string()),
    }
}

#[test]
fn s3_object_with_defaults() {
    let plan = one("- objectName: s3://my-bucket/app/db-password\n").expect("valid");
    assert_eq!(plan.alias, "db-password");
    assert_eq!(plan.mode, 0o644);
    assert_eq!(plan.object_type, ObjectType::S3);
    assert_eq!(plan.id(), "s3://my-bucket/app/db-password");
    assert_eq!(
        plan.source,
        Source::S3 {
            bucket: "my-bucket".into(),
            key: "app/db-password".into(),
            version: None,
            replica: None,
        }
    );
}

#[test]
fn alias_version_and_permission() {
    let plan = one(
        "- objectName: s3://b-1/k\n  objectAlias: db/password\n  objectVersion: v42\n  filePermission: \"0400\"\n",
    )
    .expect("valid");
    assert_eq!(plan.alias, "db/password");
    assert_eq!(plan.mode, 0o400);
    assert!(matches!(plan.source, Source::S3 { version: Some(ref v), .. } if v == "v42"));
}

#[test]
fn inline_ciphertext_needs_alias_and_type() {
    let err = one("- ciphertext: AQID\n  objectType: kms\n").expect_err("no alias");
    assert!(err.contains("objectAlias is required"), "{err}");
    let err = one("- ciphertext: AQID\n  objectAlias: x\n").expect_err("s3 type");
    assert!(err.contains("objectType kms or sealed"), "{err}");
    let plan = one("- ciphertext: AQID\n  objectType: kms\n  objectAlias: x\n").expect("valid");
    assert_eq!(plan.id(), "inline:x");
}

#[test]
fn every_rule_names_the_object_and_the_problem() {
    let cases = [
        ("objects: [", "not a valid list"),
        ("{}", "not a valid list"),
        ("[]", "at least one is required"),
        (
            "- objectName: s3://b/k\n  colour: blue\n",
            "unknown field `colour`",
        ),
        (
            "- objectName: http://b/k\n",
            "must look like s3://bucket/key",
        ),
        ("- objectName: s3://bucket\n", "has no key"),
        ("- objectName: s3://Bad_Bucket/k\n", "invalid bucket name"),
        ("- objectName: s3://bucket/\n", "must have a key"),
        (
            "- objectName: s3://bucket//\n",
            "objectAlias: path is empty",
        ),
        (
            "- objectName: s3://bkt/k\n  objectAlias: ../x\n",
            "'..' element",
        ),
        (
            "- objectName: s3://bkt/k\n  objectAlias: a/../../x\n",
            "'..' element",
        ),
        (
            "- objectName: s3://bkt/k\n  objectAlias: ..data\n",
            "starting with '..'",
        ),
        (
            "- objectName: s3://bkt/k\n  objectAlias: /etc/x\n",
            "absolute",
        ),
        (
            "- objectName: s3://bkt/k\n  filePermission: \"0999\"\n",
            "not an octal mode",
        ),
        (
            "- objectName: s3://bkt/k\n  filePermission: \"1777\"\n",
            "not an octal mode",
        ),
        (
            "- objectName: s3://bkt/k\n  filePermission: abc\n",
            "not an octal mode",
        ),
        (
            "- objectName: s3://bkt/k\n  objectType: magic\n",
            "unknown variant `magic`",
        ),
        (
            "- objectName: s3://bkt/k\n  encryptionContext: {a: b}\n",
            "only to objectType kms",
        ),
        ("- objectName: s3://bkt/k\n  ciphertext: AQID\n", "not both"),
        ("- objectAlias: x\n", "objectName is required"),
        (
            "- objectName: s3://bkt/a/x\n- objectName: s3://bkt/b/x\n",
            "objects[1] (s3://bkt/b/x): path \"x\" is already used by objects[0]",
        ),
    ];
    for (yaml, expected) in cases {
        let err = one(yaml).expect_err(yaml);
        assert!(
            err.contains(expected),
            "{yaml:?}: got {err:?}, want {expected:?}"
        );
    }
}

#[test]
fn jmes_path_aliases_share_the_namespace() {
    let yaml = "- objectName: s3://bkt/creds.json\n  objectType: kms\n  jmesPath:\n    - path: username\n      objectAlias: user\n      filePermission: \"0400\"\n    - path: password\n      objectAlias: creds.json\n";
    let err = one(yaml).expect_err("clash with object alias");
    assert!(
        err.contains("already used by objects[0] (s3://bkt/creds.json) jmesPath[1]"),
        "{err}"
    );
    let ok = "- objectName: s3://bkt/creds.json\n  jmesPath:\n    - path: username\n      objectAlias: user\n      filePermission: \"0400\"\n";
    let plan = one(ok).expect("valid");
    assert_eq!(plan.jmes_paths[0].mode, 0o400);
}

#[test]
fn modes_parse_as_octal() {
    assert_eq!(parse_mode("0400"), Ok(0o400));
    assert_eq!(parse_mode("644"), Ok(0o644));
    assert_eq!(parse_mode("0"), Ok(0));
    assert_eq!(parse_mode("0777"), Ok(0o777));
    assert!(parse_mode("").is_err());
    assert!(parse_mode("08").is_err());
    assert!(parse_mode("-1").is_err());
}

#[test]
fn object_encoding_on_objects_and_jmespath_entries() {
    use crate::encoding::ObjectEncoding;
    let plan = one("- objectName: s3://b-1/k\n").expect("valid");
    assert_eq!(plan.encoding, ObjectEncoding::Utf8, "the default");
    let plan = one(
        "- objectName: s3://b-1/k\n  objectEncoding: base64\n  jmesPath:\n    - path: a\n      objectAlias: a\n      objectEncoding: hex\n    - path: b\n      objectAlias: b\n    - path: c\n      objectAlias: c\n      objectEncoding: base64url\n",
    )
    .expect("valid");
    assert_eq!(plan.encoding, ObjectEncoding::Base64);
    let encodings: Vec<_> = plan.jmes_paths.iter().map(|p| p.encoding).collect();
    assert_eq!(
        encodings,
        [
            ObjectEncoding::Hex,
            ObjectEncoding::Utf8,
            ObjectEncoding::Base64Url
        ],
        "a field does not inherit the object's encoding"
    );
    let plan =
        one("- ciphertext: AQID\n  objectType: kms\n  objectAlias: x\n  objectEncoding: utf-8\n")
            .expect("valid");
    assert_eq!(plan.encoding, ObjectEncoding::Utf8);
}

#[test]
fn an_unknown_object_encoding_is_named_with_its_object() {
    let err = one("- objectName: s3://b-1/k\n  objectEncoding: base32\n").expect_err("unknown");
    assert!(
        err.contains("objects[0] (s3://b-1/k): objectEncoding \"base32\" is not one of utf-8, base64, base64url, hex"),
        "{err}"
    );
    let err = one(
        "- objectName: s3://b-1/k\n  jmesPath:\n    - path: a\n      objectAlias: a\n      objectEncoding: Base64\n",
    )
    .expect_err("unknown");
    assert!(
        err.contains("objects[0] (s3://b-1/k) jmesPath[0]: objectEncoding \"Base64\""),
        "{err}"
    );
}

#[test]
fn a_trailing_slash_makes_a_prefix_under_its_last_segment() {
    let plan = one("- objectName: s3://b-1/teams/payments/\n  objectType: sealed\n  filePermission: \"0440\"\n")
        .expect("valid");
    assert_eq!(plan.alias, "payments");
    assert_eq!(plan.mode, 0o440);
    assert_eq!(plan.object_type, ObjectType::Sealed);
    assert_eq!(plan.id(), "s3://b-1/teams/payments/");
    assert_eq!(
        plan.source,
        Source::S3Prefix {
            bucket: "b-1".into(),
            prefix: "teams/payments/".into()
        }
    );
    let aliased =
        one("- objectName: s3://b-1/teams/payments/\n  objectAlias: pay/secrets\n").expect("valid");
    assert_eq!(aliased.alias, "pay/secrets");
}

#[test]
fn a_prefix_refuses_what_applies_to_one_object() {
    for (yaml, want) in [
        (
            "- objectName: s3://b-1/p/\n  objectVersion: v1\n",
            "objects[0] (s3://b-1/p/): objectVersion does not apply to a prefix",
        ),
        (
            "- objectName: s3://b-1/p/\n  jmesPath:\n    - path: a\n      objectAlias: a\n",
            "objects[0] (s3://b-1/p/): jmesPath does not apply to a prefix",
        ),
        (
            "- objectName: s3://b-1//\n",
            "objects[0] (s3://b-1//): objectAlias: path is empty",
        ),
        (
            "- objectName: s3://b-1/p/\n  objectAlias: ../p\n",
            "contains a '..' element",
        ),
    ] {
        let err = one(yaml).expect_err(yaml);
        assert!(err.contains(want), "{yaml}: {err}");
    }
}

#[test]
fn a_prefix_directory_is_not_claimed_as_a_file() {
    // Its members' paths are checked once listed (`s3_prefix.rs`); `p/extra` may sit beside them.
    let plans = parse(
        "- objectName: s3://b-1/p/\n- objectName: s3://b-1/other\n  objectAlias: p/extra\n",
        0o644,
    )
    .expect("valid");
    assert_eq!(plans.len(), 2);
}

#[test]
fn aws_provider_descriptors() {
    let arn = "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-AbCdEf";
    let plan = one(&format!("- objectName: {arn}\n")).expect("arn alone");
    assert_eq!(plan.object_type, ObjectType::SecretsManager);
    assert_eq!(
        plan.alias,
        "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod_db-AbCdEf"
    );
    let plan = one("- objectName: /app/db\n  objectType: ssmparameter\n  objectVersion: \"3\"\n")
        .expect("parameter");
    assert_eq!(
        plan.alias, "_app_db",
        "the AWS provider's default pathTranslation"
    );
    assert_eq!(plan.id(), "ssmparameter:/app/db");
    let plans = parse_with(
        "- objectName: app/db\n  objectType: secretsmanager\n  objectAlias: a/b\n",
        0o644,
        PathTranslation::Off,
    )
    .expect("off");
    assert_eq!(plans[0].alias, "a/b");
    // The same name twice with no alias is one file twice: refused, as the AWS provider does.
    let err = match parse(
        "- objectName: db\n  objectType: secretsmanager\n- objectName: db\n  objectType: secretsmanager\n",
        0o644,
    ) {
        Ok(_) => panic!("duplicate accepted"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("objects[1]") && err.contains("\"db\""),
        "{err}"
    );
    // Two versions of one secret under two aliases are two files.
    parse(
        "- objectName: db\n  objectType: secretsmanager\n  objectAlias: cur\n- objectName: db\n  objectType: secretsmanager\n  objectVersionLabel: AWSPREVIOUS\n  objectAlias: prev\n",
        0o644,
    )
    .expect("labels");
    for (yaml, want) in [
        (
            "- objectName: s3://b/k\n  objectVersionLabel: x\n",
            "applies only to secretsmanager",
        ),
        (
            "- ciphertext: AQID\n  objectType: secretsmanager\n  objectAlias: x\n",
            "objectType kms or sealed",
        ),
        (
            "- objectName: db\n  objectType: secretsmanager\n  failoverObject:\n    objectName: db2\n",
            "failoverObject",
        ),
        ("- objectName: db\n  objectType: ssm\n", "unknown variant"),
    ] {
        let err = one(yaml).expect_err(yaml);
        assert!(err.contains(want), "{yaml}: {err}");
    }
}

#[test]
fn s3_replicas_in_both_forms() {
    for yaml in [
        "- objectName: s3://bkt/app/k\n  objectVersion: v1\n  failoverObject: s3://replica/app/k\n",
        "- objectName: s3://bkt/app/k\n  objectVersion: v1\n  failoverObject:\n    objectName: s3://replica/app/k\n    objectVersion: v1\n",
    ] {
        let plan = one(yaml).expect(yaml);
        let Source::S3 {
            replica, version, ..
        } = &plan.source
        else {
            panic!("not S3: {:?}", plan.source);
        };
        let replica = replica.as_ref().expect("replica kept");
        assert_eq!(
            (replica.bucket.as_str(), replica.key.as_str()),
            ("replica", "app/k")
        );
        assert_eq!(version.as_deref(), Some("v1"));
        // The file is named by the object, not by its replica.
        assert_eq!(plan.alias, "k");
    }
}

#[test]
fn failover_object_rules() {
    let plan = one(
        "- objectName: db\n  objectType: secretsmanager\n  objectAlias: db\n  failoverObject:\n    objectName: arn:aws:secretsmanager:us-west-2:111122223333:secret:db-AbCdEf\n",
    )
    .expect("failover by ARN");
    let Source::Managed(reference) = &plan.source else {
        panic!("not managed: {:?}", plan.source);
    };
    let failover = reference.failover.as_deref().expect("failover kept");
    assert_eq!(failover.arn_region.as_deref(), Some("us-west-2"));
    for (yaml, want) in [
        (
            "- objectName: db\n  objectType: secretsmanager\n  failoverObject:\n    objectName: db2\n",
            "needs objectAlias",
        ),
        (
            "- objectName: /p\n  objectType: ssmparameter\n  objectAlias: p\n  objectVersion: \"1\"\n  failoverObject:\n    objectName: /p\n    objectVersion: \"2\"\n",
            "same type and objectVersion",
        ),
        (
            "- objectName: db\n  objectType: secretsmanager\n  objectAlias: db\n  failoverObject:\n    objectName: arn:aws:ssm:us-west-2:111122223333:parameter/db\n",
            "does not match",
        ),
        (
            "- objectName: s3://bkt/p/\n  failoverObject: s3://rep/p/\n",
            "a prefix entry does not fail over",
        ),
        (
            "- objectName: s3://bkt/k\n  failoverObject: s3://rep/p/\n",
            "a prefix entry does not fail over",
        ),
        (
            "- ciphertext: AQID\n  objectType: kms\n  objectAlias: k\n  failoverObject: s3://rep/k\n",
            "failoverObject applies only",
        ),
        (
            "- objectName: s3://bkt/k\n  failoverObject: bkt/k\n",
            "failoverObject: objectName \"bkt/k\" must look like s3://bucket/key",
        ),
        (
            "- objectName: s3://bkt/k\n  objectVersion: v1\n  failoverObject:\n    objectName: s3://rep/k\n    objectVersion: v2\n",
            "same type and objectVersion",
        ),
        (
            "- objectName: s3://bkt/k\n  failoverObject:\n    objectName: s3://rep/k\n    objectVersionLabel: AWSCURRENT\n",
            "same type and objectVersion",
        ),
        (
            "- objectName: db\n  objectType: secretsmanager\n  objectAlias: db\n  failoverObject: s3://rep/k\n",
            "is not a secret name",
        ),
        (
            "- objectName: db\n  objectType: secretsmanager\n  objectAlias: db\n  failoverObject:\n    objectName: db2\n    region: x\n",
            "unknown field `region`",
        ),
    ] {
        let err = one(yaml).expect_err(yaml);
        assert!(err.contains(want), "{yaml}: {err}");
    }
}
