//! Tests for parsing a Mount request's attributes, permission and identity parameters.

use super::*;
use secrecy::ExposeSecret;

fn request(attributes: &str) -> MountRequest {
    MountRequest {
        attributes: attributes.into(),
        secrets: "null".into(),
        target_path: "/tmp/t".into(),
        permission: "420".into(),
        current_object_version: vec![],
    }
}

fn attrs(extra: &[(&str, &str)]) -> String {
    let mut map: HashMap<&str, &str> = HashMap::from([
        ("objects", "- objectName: s3://bucket/key\n"),
        (POD_NAME, "web-0"),
        (POD_NAMESPACE, "team-a"),
        (SERVICE_ACCOUNT, "web"),
        ("secretProviderClass", "app-secrets"),
    ]);
    map.extend(extra.iter().copied());
    serde_json::to_string(&map).expect("json")
}

#[test]
fn parses_a_driver_request() {
    let token_json = r#"{"sts.amazonaws.com":{"token":"eyJ.secret","expirationTimestamp":"2030-01-01T00:00:00Z"}}"#;
    let params = parse(&request(&attrs(&[
        ("identity", "node"),
        ("region", "eu-west-1"),
        (TOKENS, token_json),
    ])))
    .expect("valid");
    assert_eq!(params.identity, IdentityKind::Node);
    assert_eq!(params.region.as_deref(), Some("eu-west-1"));
    assert_eq!(params.pod.namespace.as_deref(), Some("team-a"));
    assert_eq!(params.pod.spc.as_deref(), Some("app-secrets"));
    assert_eq!(params.objects[0].mode, 0o644);
    assert_eq!(
        params
            .tokens
            .as_ref()
            .map(|t| t.expose_secret().to_owned())
            .as_deref(),
        Some(token_json)
    );
    assert!(
        !format!("{params:?}").contains("eyJ.secret"),
        "tokens are redacted in Debug"
    );
}

#[test]
fn identity_defaults_to_irsa() {
    assert_eq!(
        parse(&request(&attrs(&[]))).expect("valid").identity,
        IdentityKind::Irsa
    );
}

#[test]
fn rejects_bad_requests_naming_the_problem() {
    let cases = [
        (request("not json"), "not a JSON object of strings"),
        (request(r#"{"objects": 5}"#), "not a JSON object of strings"),
        (request(r#"{"region":"x"}"#), "parameter objects is missing"),
        (
            request(&attrs(&[("identity", "root")])),
            "identity \"root\"",
        ),
        (
            request(&attrs(&[("region", "us-east-1/../x")])),
            "not an AWS region",
        ),
        (
            request(&attrs(&[("roleArn", "admin")])),
            "not an IAM role ARN",
        ),
        (
            MountRequest {
                permission: "0644x".into(),
                ..request(&attrs(&[]))
            },
            "permission \"0644x\"",
        ),
        (
            MountRequest {
                permission: "4096".into(),
                ..request(&attrs(&[]))
            },
            "between 0 and 511",
        ),
    ];
    for (req, expected) in cases {
        let err = parse(&req).expect_err(expected).to_string();
        assert!(err.contains(expected), "want {expected:?} in {err:?}");
    }
}

#[test]
fn lenient_pod_info_survives_bad_attributes() {
    assert_eq!(PodInfo::lenient("garbage"), PodInfo::default());
    let info = PodInfo::lenient(r#"{"csi.storage.k8s.io/pod.name":"p","objects":7}"#);
    assert_eq!(info.name.as_deref(), Some("p"));
}
