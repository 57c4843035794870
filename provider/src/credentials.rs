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
                return Err(aws_error::failed(call, &label, &err, status, mapped));
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
mod tests;
