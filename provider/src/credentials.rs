//! Per-pod AWS credentials: STS `AssumeRoleWithWebIdentity` for IRSA and the EKS Pod Identity
//! agent, each cached by (role or agent, SHA-256 of the pod token) and refreshed before expiry,
//! so a re-Mount costs no STS call. Concurrent requests for the same credentials wait for one
//! exchange (a failed exchange is not shared: the next request makes its own).

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_lc_rs::digest::{SHA256, digest};
use keywarden_runtime::cache::{Bound, Cache, Evict, Origin};
use secrecy::ExposeSecret;

use crate::aws_error;
use crate::catalogue;
use crate::error::MountError;
use crate::failover;
use crate::http_client::HttpClient;
use crate::metrics::Metrics;
use crate::pod_tokens::PodToken;

/// Credentials closer than this to expiry are renewed.
const REFRESH_BEFORE: Duration = Duration::from_secs(300);
/// Cached credentials kept at most (the oldest go first).
const MAX_ENTRIES: usize = 4096;

/// The STS clients an IRSA exchange may use: the Mount's region's, and `failoverRegion`'s
/// (its name and client) for a regional failure (docs/reference.md §2.3).
#[derive(Debug, Clone, Copy)]
pub struct StsClients<'a> {
    /// STS in the Mount's region.
    pub client: &'a aws_sdk_sts::Client,
    /// STS in `failoverRegion`, if the class names one.
    pub failover: Option<(&'a str, &'a aws_sdk_sts::Client)>,
}

/// Source and cache of pod credentials.
#[derive(Debug)]
pub struct CredentialCache {
    slots: Cache<String, Credentials>,
    http: HttpClient,
    pod_identity_endpoints: Vec<String>,
    metrics: Metrics,
}

impl CredentialCache {
    /// A cache using `http` to reach the Pod Identity agent at `pod_identity_endpoints`.
    pub fn new(http: HttpClient, pod_identity_endpoints: Vec<String>, metrics: Metrics) -> Self {
        Self {
            slots: Cache::new(Bound::Entries(MAX_ENTRIES), Evict::OldestStored)
                .with_expiry(valid_for),
            http,
            pod_identity_endpoints,
            metrics,
        }
    }

    async fn cached<F, Fut>(&self, key: String, fetch: F) -> Result<Credentials, MountError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Credentials, MountError>>,
    {
        let (credentials, origin) = self.slots.get_or_try_load(&key, fetch).await?;
        let result = if origin == Origin::Loaded {
            "miss"
        } else {
            "hit"
        };
        self.metrics.cache("credentials", result);
        Ok(credentials)
    }

    /// Credentials of `role_arn` for the pod holding `token`, from STS in the Mount's region,
    /// else (on a regional failure) in `failoverRegion`: the credentials are valid in every
    /// region, and they are cached under the same key either way.
    pub async fn assume_role(
        &self,
        sts: StsClients<'_>,
        role_arn: &str,
        token: &PodToken,
        session_name: &str,
    ) -> Result<Credentials, MountError> {
        let key = format!("role:{role_arn}:{}", token_hash(token));
        self.cached(key, || async {
            let exchange = |client| self.web_identity(client, role_arn, token, session_name);
            match (exchange(sts.client).await, sts.failover) {
                (Err(err), Some((region, other))) if failover::fails_over(&err) => {
                    failover::note(
                        &self.metrics,
                        "sts",
                        &catalogue::role_object(role_arn),
                        region,
                    );
                    exchange(other).await
                }
                (done, _) => done,
            }
        })
        .await
    }

    /// One `AssumeRoleWithWebIdentity` call.
    async fn web_identity(
        &self,
        sts: &aws_sdk_sts::Client,
        role_arn: &str,
        token: &PodToken,
        session_name: &str,
    ) -> Result<Credentials, MountError> {
        let label = catalogue::role_object(role_arn);
        let call = self.metrics.aws_request("sts", "AssumeRoleWithWebIdentity");
        let output = sts
            .assume_role_with_web_identity()
            .role_arn(role_arn)
            .role_session_name(session_name)
            .web_identity_token(token.token.expose_secret())
            .send()
            .await;
        let output = match output {
            Ok(output) => {
                call.finish("ok");
                output
            }
            Err(err) => {
                let status = err.raw_response().map(|r| r.status().as_u16());
                let code = aws_sdk_sts::error::ProvideErrorMetadata::code(&err)
                    .unwrap_or_default()
                    .to_owned();
                let mapped = match code.as_str() {
                    "InvalidIdentityToken" | "ExpiredTokenException" => {
                        catalogue::sts_refused_token(&label, &code)
                    }
                    _ => aws_error::classify(&label, &err, status),
                };
                call.finish(mapped.label());
                tracing::warn!(
                    role = role_arn,
                    error = aws_error::describe(&err, status),
                    "AssumeRoleWithWebIdentity failed"
                );
                return Err(mapped);
            }
        };
        let c = output.credentials.ok_or_else(|| MountError::Transient {
            object: label.clone(),
            reason: catalogue::sts_no_credentials(),
        })?;
        let expires = SystemTime::try_from(c.expiration).ok();
        Ok(Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            Some(c.session_token),
            expires,
            "keywarden-irsa",
        ))
    }

    /// Credentials from the EKS Pod Identity agent for the pod holding `token`.
    pub async fn pod_identity(&self, token: &PodToken) -> Result<Credentials, MountError> {
        let key = format!("pod-identity:{}", token_hash(token));
        self.cached(key, || async {
            let mut last = String::from("no endpoint configured");
            for endpoint in &self.pod_identity_endpoints {
                let reply = match self
                    .http
                    .get(endpoint, &[("authorization", token.token.expose_secret())])
                    .await
                {
                    Ok(reply) => reply,
                    Err(e) => {
                        last = e.to_string();
                        continue;
                    }
                };
                return match reply.status {
                    200 => parse_agent_reply(&reply.body),
                    400 | 401 | 403 => Err(catalogue::agent_refused(reply.status)),
                    status => Err(MountError::Transient {
                        object: catalogue::agent_object(),
                        reason: catalogue::agent_status(status),
                    }),
                };
            }
            tracing::warn!(error = last, "EKS Pod Identity agent unreachable");
            Err(MountError::Transient {
                object: catalogue::agent_object(),
                reason: catalogue::agent_unreachable(),
            })
        })
        .await
    }
}

/// How long credentials may be used before they are renewed (`None`: they do not expire).
fn valid_for(credentials: &Credentials) -> Option<Duration> {
    let expiry = credentials.expiry()?;
    let left = expiry.duration_since(SystemTime::now()).unwrap_or_default();
    Some(left.saturating_sub(REFRESH_BEFORE))
}

fn token_hash(token: &PodToken) -> String {
    digest(&SHA256, token.token.expose_secret().as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AgentCredentials {
    access_key_id: String,
    secret_access_key: String,
    token: Option<String>,
    expiration: Option<String>,
}

fn parse_agent_reply(body: &[u8]) -> Result<Credentials, MountError> {
    let c: AgentCredentials = serde_json::from_slice(body).map_err(|_| MountError::Transient {
        object: catalogue::agent_object(),
        reason: catalogue::agent_unreadable(),
    })?;
    let expires = c
        .expiration
        .as_deref()
        .and_then(|t| humantime::parse_rfc3339_weak(t).ok());
    Ok(Credentials::new(
        c.access_key_id,
        c.secret_access_key,
        c.token,
        expires,
        "keywarden-pod-identity",
    ))
}

#[cfg(test)]
mod tests {
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
        let http = HttpClient::new(rustls::RootCertStore::empty(), Duration::from_secs(1))
            .expect("client");
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
                .match_requests(|r| {
                    r.role_arn() == Some(ROLE) && r.web_identity_token() == Some("jwt")
                })
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
}
