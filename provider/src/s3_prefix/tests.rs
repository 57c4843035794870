//! Tests for prefix listing, against a mocked S3 client.

use super::*;
use crate::limits::MAX_PREFIX_MARKERS;
use aws_sdk_s3::Client;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::types::Object;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use prometheus_client::registry::Registry;
use tonic::Code;

const LIMITS: Limits = Limits {
    max_object_bytes: 1000,
    max_response_bytes: 10_000,
    max_prefix_objects: 8,
};

fn plans(yaml: &str) -> Vec<ObjectPlan> {
    crate::objects::parse(yaml, 0o644).expect("valid objects")
}

fn budget() -> MountBudget {
    crate::budget::NodeBudget::new(1 << 30).mount(usize::MAX)
}

fn metrics() -> Metrics {
    Metrics::register(&mut Registry::default())
}

fn page(keys: &[(&str, i64)], next: Option<&str>) -> ListObjectsV2Output {
    let contents = keys
        .iter()
        .map(|(k, size)| Object::builder().key(*k).size(*size).build())
        .collect();
    ListObjectsV2Output::builder()
        .set_contents(Some(contents))
        .is_truncated(next.is_some())
        .set_next_continuation_token(next.map(str::to_owned))
        .build()
}

/// A client whose listing of prefix `p/` answers `pages` in turn, page i+1 for token `t<i>`.
fn client(pages: Vec<Vec<(&'static str, i64)>>) -> Client {
    let count = pages.len();
    let rules: Vec<_> = pages
        .into_iter()
        .enumerate()
        .map(|(i, keys)| {
            let token = (i > 0).then(|| format!("t{i}"));
            let next = (i + 1 < count).then(|| format!("t{}", i + 1));
            mock!(Client::list_objects_v2)
                .match_requests(move |r| {
                    r.prefix() == Some("p/")
                        && r.max_keys() == Some(PAGE_KEYS)
                        && r.continuation_token() == token.as_deref()
                })
                .then_output(move || page(&keys, next.as_deref()))
        })
        .collect();
    let refs: Vec<_> = rules.iter().collect();
    mock_client!(aws_sdk_s3, RuleMode::MatchAny, refs.as_slice())
}

async fn expand_with(
    objects: &[ObjectPlan],
    client: &Client,
    limits: Limits,
) -> Result<Vec<(String, String)>, MountError> {
    let (expanded, _charge) = expand(objects, client, limits, &budget(), &metrics()).await?;
    Ok(expanded
        .iter()
        .flat_map(Expanded::plans)
        .map(|p| {
            let Source::S3 { key, .. } = &p.source else {
                panic!("members are single objects")
            };
            (p.alias.clone(), key.clone())
        })
        .collect())
}

#[tokio::test]
async fn pages_are_followed_and_markers_skipped() {
    let objects = plans("- objectName: s3://b-1/p/\n  objectAlias: dir\n  objectType: kms\n");
    let client = client(vec![
        vec![("p/", 0), ("p/b", 3), ("p/nested/", 0)],
        vec![("p/nested/c", 4), ("p/a", 1)],
    ]);
    let got = expand_with(&objects, &client, LIMITS)
        .await
        .expect("listed");
    assert_eq!(
        got,
        [
            ("dir/a".into(), "p/a".into()),
            ("dir/b".into(), "p/b".into()),
            ("dir/nested/c".into(), "p/nested/c".into()),
        ]
    );
    let (expanded, _) = expand(&objects, &client, LIMITS, &budget(), &metrics())
        .await
        .expect("listed");
    let member = expanded[0].plans().next().expect("a member");
    assert_eq!(member.object_type, ObjectType::Kms);
    assert_eq!(member.label, "objects[0] (s3://b-1/p/) key \"a\"");
}

#[tokio::test]
async fn hostile_keys_fail_naming_the_key() {
    let long = Box::leak(format!("p/{}", "k".repeat(300)).into_boxed_str());
    for (key, want) in [
        (
            "p/../x",
            "key \"../x\" under the prefix cannot be a file in the mount",
        ),
        ("p/..data/x", "element starting with '..'"),
        ("p//etc/passwd", "not clean"),
        ("p/a/./b", "not clean ('.' element)"),
        (&*long, "element longer than 255 bytes"),
    ] {
        let objects = plans("- objectName: s3://b-1/p/\n");
        let client = client(vec![vec![("p/fine", 1), (key, 1)]]);
        let err = expand_with(&objects, &client, LIMITS).await.expect_err(key);
        assert_eq!(err.grpc_code(), Code::InvalidArgument, "{key}: {err}");
        let text = err.to_string();
        assert!(text.starts_with("objects[0] (s3://b-1/p/): key "), "{text}");
        assert!(text.contains(want), "{key}: {text}");
        assert!(text.len() < 400, "bounded: {text}");
    }
}

#[tokio::test]
async fn the_cap_is_shared_by_every_prefix_of_the_mount() {
    let limits = Limits {
        max_prefix_objects: 3,
        ..LIMITS
    };
    let objects = plans("- objectName: s3://b-1/p/\n");
    let client3 = client(vec![vec![("p/a", 1), ("p/b", 1)], vec![("p/c", 1)]]);
    assert_eq!(
        expand_with(&objects, &client3, limits)
            .await
            .expect("at the cap")
            .len(),
        3
    );
    let client4 = client(vec![
        vec![("p/a", 1), ("p/b", 1)],
        vec![("p/c", 1), ("p/d", 1)],
    ]);
    let err = expand_with(&objects, &client4, limits)
        .await
        .expect_err("over");
    assert_eq!(err.grpc_code(), Code::ResourceExhausted);
    assert!(
        err.to_string()
            .contains("more objects than the limit of 3 per mount (--max-prefix-objects)"),
        "{err}"
    );
    // Two entries listing the same prefix under two directories: 2 + 2 > 3.
    let twice = plans(
        "- objectName: s3://b-1/p/\n  objectAlias: one\n- objectName: s3://b-1/p/\n  objectAlias: two\n",
    );
    let client2 = client(vec![vec![("p/a", 1), ("p/b", 1)]]);
    let err = expand_with(&twice, &client2, limits)
        .await
        .expect_err("over together");
    assert!(
        err.to_string().starts_with("objects[1] (s3://b-1/p/)")
            && err
                .to_string()
                .contains("earlier prefixes of the mount took 2"),
        "{err}"
    );
}

#[tokio::test]
async fn listed_sizes_are_checked_before_any_fetch() {
    let objects = plans("- objectName: s3://b-1/p/\n");
    let client1 = client(vec![vec![("p/a", 1001)]]);
    let err = expand_with(&objects, &client1, LIMITS)
        .await
        .expect_err("object too large");
    assert!(
        err.to_string()
            .contains("key \"a\" is 1001 bytes, over the limit of 1000 (--max-object-bytes)"),
        "{err}"
    );
    let many: Vec<(&str, i64)> = vec![("p/a", 900); 8]
        .into_iter()
        .enumerate()
        .map(|(i, (_, s))| (&*Box::leak(format!("p/{i}").into_boxed_str()), s))
        .collect();
    let client2 = client(vec![many]);
    let small = Limits {
        max_response_bytes: 5000,
        ..LIMITS
    };
    let err = expand_with(&objects, &client2, small)
        .await
        .expect_err("sum too large");
    assert!(
        err.to_string()
            .contains("reach 5400 bytes, over the limit of 5000 (--max-response-bytes)"),
        "{err}"
    );
    // A kms object's file is smaller than what is stored: only the fetch decides.
    let kms = plans("- objectName: s3://b-1/p/\n  objectType: kms\n");
    expand_with(&kms, &client2, small)
        .await
        .expect("kms sizes are not summed");
}

#[tokio::test]
async fn an_empty_prefix_is_not_found_and_clashes_are_refused() {
    let objects = plans("- objectName: s3://b-1/p/\n");
    let empty = client(vec![vec![("p/", 0), ("p/dir/", 0)]]);
    let err = expand_with(&objects, &empty, LIMITS)
        .await
        .expect_err("empty");
    assert_eq!(err.grpc_code(), Code::NotFound);
    assert_eq!(
        err.to_string(),
        "objects[0] (s3://b-1/p/): object under the prefix not found"
    );

    let clash = plans("- objectName: s3://b-1/p/\n- objectName: s3://b-1/x\n  objectAlias: p/a\n");
    let err = expand_with(&clash, &client(vec![vec![("p/a", 1)]]), LIMITS)
        .await
        .expect_err("duplicate path");
    assert!(
        err.to_string()
            .contains("path \"p/a\" is already used by objects[0]"),
        "{err}"
    );
    let file_and_dir = client(vec![vec![("p/a", 1), ("p/a/b", 1)]]);
    let err = expand_with(&objects, &file_and_dir, LIMITS)
        .await
        .expect_err("file and directory");
    assert_eq!(err.grpc_code(), Code::InvalidArgument, "{err}");
}

#[tokio::test]
async fn markers_are_bounded_and_every_page_must_carry_keys() {
    let objects = plans("- objectName: s3://b-1/p/\n");
    let names: Vec<&'static str> = (0..=MAX_PREFIX_MARKERS)
        .map(|i| &*Box::leak(format!("p/m{i}/").into_boxed_str()))
        .collect();
    let at_bound: Vec<(&str, i64)> = names[..MAX_PREFIX_MARKERS]
        .iter()
        .map(|k| (*k, 0))
        .collect();
    let mut ok_pages = vec![at_bound];
    ok_pages.push(vec![("p/a", 1)]);
    expand_with(&objects, &client(ok_pages), LIMITS)
        .await
        .expect("1000 markers are skipped");
    let over: Vec<(&str, i64)> = names.iter().map(|k| (*k, 0)).collect();
    let err = expand_with(&objects, &client(vec![over, vec![("p/a", 1)]]), LIMITS)
        .await
        .expect_err("too many markers");
    assert!(
        err.to_string()
            .contains("more than 1000 keys ending in '/' (MAX_PREFIX_MARKERS)"),
        "{err}"
    );
    // A truncated page without keys would let an endpoint keep the listing going forever.
    let err = expand_with(&objects, &client(vec![vec![], vec![("p/a", 1)]]), LIMITS)
        .await
        .expect_err("empty truncated page");
    assert_eq!(err.grpc_code(), Code::Unavailable, "{err}");
}

#[tokio::test]
async fn listing_errors_get_the_codes_single_objects_get() {
    use aws_sdk_s3::types::error::NoSuchBucket;
    let objects = plans("- objectName: s3://b-1/p/\n");
    let status = |code: u16, body: &'static str| {
        mock!(Client::list_objects_v2).then_http_response(move || {
            aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(code).expect("status"),
                aws_smithy_types::body::SdkBody::from(body),
            )
        })
    };
    let denied = status(
        403,
        "<Error><Code>AccessDenied</Code><Message>no</Message></Error>",
    );
    let slow = status(503, "<Error><Code>SlowDown</Code></Error>");
    let missing = mock!(Client::list_objects_v2)
        .then_error(|| ListObjectsV2Error::NoSuchBucket(NoSuchBucket::builder().build()));
    for (rule, code, text) in [
        (
            &denied,
            Code::PermissionDenied,
            "objects[0] (s3://b-1/p/): access denied by AWS (AccessDenied)",
        ),
        (
            &slow,
            Code::Unavailable,
            "objects[0] (s3://b-1/p/): AWS temporarily unavailable (SlowDown)",
        ),
        (
            &missing,
            Code::NotFound,
            "objects[0] (s3://b-1/p/): bucket not found",
        ),
    ] {
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [rule]);
        let err = expand_with(&objects, &client, LIMITS)
            .await
            .expect_err(text);
        assert_eq!((err.grpc_code(), err.to_string().as_str()), (code, text));
    }
}

#[test]
fn the_version_changes_with_any_member_and_only_then() {
    let v = |pairs: &[(&str, &str)]| version(pairs.iter().copied());
    let base = v(&[("a", "v1"), ("b", "v1")]);
    assert!(
        base.starts_with("prefix-") && base.len() == 7 + 32,
        "{base}"
    );
    assert_eq!(base, v(&[("a", "v1"), ("b", "v1")]));
    assert_ne!(base, v(&[("a", "v1"), ("b", "v2")]), "changed");
    assert_ne!(base, v(&[("a", "v1")]), "removed");
    assert_ne!(base, v(&[("a", "v1"), ("b", "v1"), ("c", "v1")]), "added");
    assert_ne!(base, v(&[("a", "v1"), ("c", "v1")]), "renamed");
    assert_ne!(v(&[("ab", "c")]), v(&[("a", "bc")]), "pairs are delimited");
}
