//! Unit tests of the credential cache: reuse until near expiry, the agent's reply, and STS
//! failover of the IRSA exchange.

use super::*;

#[test]
fn agent_reply_parses() {
    let body = br#"{"AccessKeyId":"AKIA","SecretAccessKey":"s","Token":"t","Expiration":"2099-01-01T00:00:00Z","AccountId":"1"}"#;
    let c = parse_agent_reply(body).expect("parsed");
    assert_eq!(c.access_key_id(), "AKIA");
    assert!(valid_for(&c) > Some(Duration::from_secs(3600)));
    assert!(parse_agent_reply(b"{}").is_err());
}

#[test]
fn near_expiry_is_not_fresh() {
    assert_eq!(valid_for(&expiring_in(60)), Some(Duration::ZERO));
    assert_eq!(valid_for(&expiring_in(-60)), Some(Duration::ZERO));
}

fn expiring_in(seconds: i64) -> Credentials {
    let at = if seconds >= 0 {
        SystemTime::now() + Duration::from_secs(seconds.unsigned_abs())
    } else {
        SystemTime::now() - Duration::from_secs(seconds.unsigned_abs())
    };
    Credentials::new("a", "b", None, Some(at), "t")
}

fn cache() -> CredentialCache {
    let http =
        HttpClient::new(rustls::RootCertStore::empty(), Duration::from_secs(1)).expect("client");
    CredentialCache::new(http, vec![], Metrics::register(&mut Default::default()))
}

#[tokio::test(start_paused = true)]
async fn credentials_are_reused_until_shortly_before_they_expire() {
    let cache = cache();
    let exchanges = std::sync::atomic::AtomicUsize::new(0);
    let exchange = || async {
        exchanges.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(expiring_in(3600))
    };
    let count = || exchanges.load(std::sync::atomic::Ordering::SeqCst);
    cache.cached("k".into(), exchange).await.expect("first");
    tokio::time::advance(REFRESH_BEFORE * 10).await;
    cache.cached("k".into(), exchange).await.expect("reused");
    assert_eq!(count(), 1);
    // Renewed REFRESH_BEFORE ahead of the expiry.
    tokio::time::advance(Duration::from_secs(3600) - REFRESH_BEFORE * 11).await;
    cache.cached("k".into(), exchange).await.expect("renewed");
    assert_eq!(count(), 2);
}

#[tokio::test(start_paused = true)]
async fn concurrent_requests_share_one_exchange_and_failures_are_not_kept() {
    let cache = cache();
    let exchanges = std::sync::atomic::AtomicUsize::new(0);
    let exchange = |fail: bool| {
        let exchanges = &exchanges;
        move || async move {
            exchanges.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(1)).await;
            if fail {
                Err(crate::catalogue::no_region())
            } else {
                Ok(expiring_in(3600))
            }
        }
    };
    let (a, b) = tokio::join!(
        cache.cached("k".into(), exchange(false)),
        cache.cached("k".into(), exchange(false)),
    );
    assert!(a.is_ok() && b.is_ok());
    assert_eq!(exchanges.load(std::sync::atomic::Ordering::SeqCst), 1);
    let (a, b) = tokio::join!(
        cache.cached("f".into(), exchange(true)),
        cache.cached("f".into(), exchange(false)),
    );
    assert!(
        a.is_err() && b.is_ok(),
        "the second request makes its own exchange"
    );
    assert_eq!(exchanges.load(std::sync::atomic::Ordering::SeqCst), 3);
}

mod sts_failover {
    use super::*;
    use aws_sdk_sts::Client;
    use aws_sdk_sts::operation::assume_role_with_web_identity::{
        AssumeRoleWithWebIdentityError, AssumeRoleWithWebIdentityOutput,
    };
    use aws_sdk_sts::types::error::InvalidIdentityTokenException;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    const ROLE: &str = "arn:aws:iam::111122223333:role/app";

    fn token() -> PodToken {
        PodToken {
            token: "jwt".to_owned().into(),
            expires: None,
        }
    }

    fn granted(key: &'static str) -> AssumeRoleWithWebIdentityOutput {
        let expiration = aws_smithy_types::DateTime::from_secs(4_102_444_800); // 2100
        let credentials = aws_sdk_sts::types::Credentials::builder()
            .access_key_id(key)
            .secret_access_key("s")
            .session_token("t")
            .expiration(expiration)
            .build()
            .expect("credentials");
        AssumeRoleWithWebIdentityOutput::builder()
            .credentials(credentials)
            .build()
    }

    fn unavailable() -> Client {
        let rule = mock!(Client::assume_role_with_web_identity).then_http_response(|| {
            aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(503).expect("status"),
                aws_smithy_types::body::SdkBody::from(
                    "<ErrorResponse><Error><Code>ServiceUnavailable</Code></Error></ErrorResponse>",
                ),
            )
        });
        mock_client!(aws_sdk_sts, RuleMode::MatchAny, [&rule])
    }

    #[tokio::test(start_paused = true)]
    async fn a_regional_failure_exchanges_the_token_in_the_failover_region() {
        let rule = mock!(Client::assume_role_with_web_identity)
            .match_requests(|r| r.role_arn() == Some(ROLE) && r.web_identity_token() == Some("jwt"))
            .then_output(|| granted("ASIAWEST"));
        let west = mock_client!(aws_sdk_sts, RuleMode::MatchAny, [&rule]);
        let east = unavailable();
        let sts = StsClients {
            client: &east,
            failover: Some(("us-west-2", &west)),
        };
        let got = cache()
            .assume_role(sts, ROLE, &token(), "keywarden-a-web")
            .await
            .expect("failed over");
        assert_eq!(got.access_key_id(), "ASIAWEST");
        assert_eq!(rule.num_calls(), 1);

        // Without failoverRegion the regional failure stands.
        let alone = StsClients {
            client: &east,
            failover: None,
        };
        let err = cache()
            .assume_role(alone, ROLE, &token(), "keywarden-a-web")
            .await
            .expect_err("no failover");
        assert_eq!(err.grpc_code(), tonic::Code::Unavailable, "{err}");
    }

    #[tokio::test]
    async fn a_refused_token_never_fails_over() {
        let refused = mock!(Client::assume_role_with_web_identity).then_error(|| {
            AssumeRoleWithWebIdentityError::InvalidIdentityTokenException(
                InvalidIdentityTokenException::builder()
                    .meta(
                        aws_smithy_types::error::ErrorMetadata::builder()
                            .code("InvalidIdentityToken")
                            .build(),
                    )
                    .build(),
            )
        });
        let east = mock_client!(aws_sdk_sts, RuleMode::MatchAny, [&refused]);
        let other =
            mock!(Client::assume_role_with_web_identity).then_output(|| granted("ASIAWEST"));
        let west = mock_client!(aws_sdk_sts, RuleMode::MatchAny, [&other]);
        let sts = StsClients {
            client: &east,
            failover: Some(("us-west-2", &west)),
        };
        let err = cache()
            .assume_role(sts, ROLE, &token(), "keywarden-a-web")
            .await
            .expect_err("refused");
        assert_eq!(err.grpc_code(), tonic::Code::FailedPrecondition, "{err}");
        assert_eq!(other.num_calls(), 0, "the failover region was not asked");
    }
}
