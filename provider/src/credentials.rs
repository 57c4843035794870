//! Per-pod AWS credentials: STS `AssumeRoleWithWebIdentity` for IRSA and the EKS Pod Identity
//! agent, each cached by (role or agent, SHA-256 of the pod token) and refreshed before expiry,
//! so a re-Mount costs no STS call. Concurrent requests for the same credentials wait for one
//! exchange.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_lc_rs::digest::{SHA256, digest};
use secrecy::ExposeSecret;

use crate::aws_error;
use crate::error::MountError;
use crate::http_client::HttpClient;
use crate::metrics::Metrics;
use crate::pod_tokens::PodToken;

/// Credentials closer than this to expiry are renewed.
const REFRESH_BEFORE: Duration = Duration::from_secs(300);
/// Cached credentials kept at most (the map is swept of expired entries on every miss).
const MAX_ENTRIES: usize = 4096;

type Slot = Arc<tokio::sync::Mutex<Option<Credentials>>>;

/// Source and cache of pod credentials.
#[derive(Debug)]
pub struct CredentialCache {
    slots: Mutex<HashMap<String, Slot>>,
    http: HttpClient,
    pod_identity_endpoints: Vec<String>,
    metrics: Metrics,
}

impl CredentialCache {
    /// A cache using `http` to reach the Pod Identity agent at `pod_identity_endpoints`.
    pub fn new(http: HttpClient, pod_identity_endpoints: Vec<String>, metrics: Metrics) -> Self {
        Self {
            slots: Mutex::new(HashMap::new()),
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
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            if !slots.contains_key(&key) && slots.len() >= MAX_ENTRIES {
                slots.retain(|_, slot| {
                    slot.try_lock()
                        .map_or(true, |c| c.as_ref().is_some_and(fresh))
                });
            }
            slots.entry(key).or_default().clone()
        };
        let mut held = slot.lock().await;
        if let Some(credentials) = held.as_ref().filter(|c| fresh(c)) {
            self.metrics.cache("credentials", "hit");
            return Ok(credentials.clone());
        }
        self.metrics.cache("credentials", "miss");
        let credentials = fetch().await?;
        *held = Some(credentials.clone());
        Ok(credentials)
    }

    /// Credentials of `role_arn` for the pod holding `token`.
    pub async fn assume_role(
        &self,
        sts: &aws_sdk_sts::Client,
        role_arn: &str,
        token: &PodToken,
        session_name: &str,
    ) -> Result<Credentials, MountError> {
        let key = format!("role:{role_arn}:{}", token_hash(token));
        self.cached(key, || async {
            let label = format!("role {role_arn}");
            let output = sts
                .assume_role_with_web_identity()
                .role_arn(role_arn)
                .role_session_name(session_name)
                .web_identity_token(token.token.expose_secret())
                .send()
                .await;
            let output = match output {
                Ok(output) => {
                    self.metrics.aws_call("sts", "AssumeRoleWithWebIdentity", "ok");
                    output
                }
                Err(err) => {
                    let status = err.raw_response().map(|r| r.status().as_u16());
                    let code = aws_sdk_sts::error::ProvideErrorMetadata::code(&err).unwrap_or_default().to_owned();
                    let mapped = match code.as_str() {
                        "InvalidIdentityToken" | "ExpiredTokenException" => MountError::Precondition(format!(
                            "STS refused the pod's token for {label} ({code}): check the IAM OIDC provider and --token-audience"
                        )),
                        _ => aws_error::classify(&label, &err, status),
                    };
                    self.metrics.aws_call("sts", "AssumeRoleWithWebIdentity", mapped.label());
                    tracing::warn!(role = role_arn, error = aws_error::describe(&err, status), "AssumeRoleWithWebIdentity failed");
                    return Err(mapped);
                }
            };
            let c = output.credentials.ok_or_else(|| MountError::Transient {
                object: label.clone(),
                reason: "STS returned no credentials".into(),
            })?;
            let expires = SystemTime::try_from(c.expiration).ok();
            Ok(Credentials::new(
                c.access_key_id,
                c.secret_access_key,
                Some(c.session_token),
                expires,
                "keywarden-irsa",
            ))
        })
        .await
    }

    /// Credentials from the EKS Pod Identity agent for the pod holding `token`.
    pub async fn pod_identity(&self, token: &PodToken) -> Result<Credentials, MountError> {
        let key = format!("pod-identity:{}", token_hash(token));
        self.cached(key, || async {
            let mut last = String::from("no endpoint configured");
            for endpoint in &self.pod_identity_endpoints {
                let reply = match self.http.get(endpoint, &[("authorization", token.token.expose_secret())]).await {
                    Ok(reply) => reply,
                    Err(e) => {
                        last = e.to_string();
                        continue;
                    }
                };
                return match reply.status {
                    200 => parse_agent_reply(&reply.body),
                    400 | 401 | 403 => Err(MountError::IdentityForbidden(format!(
                        "the EKS Pod Identity agent refused the pod (HTTP {}): check the pod identity association",
                        reply.status
                    ))),
                    status => Err(MountError::Transient {
                        object: "EKS Pod Identity agent".into(),
                        reason: format!("HTTP {status}"),
                    }),
                };
            }
            tracing::warn!(error = last, "EKS Pod Identity agent unreachable");
            Err(MountError::Transient {
                object: "EKS Pod Identity agent".into(),
                reason: "unreachable".into(),
            })
        })
        .await
    }
}

fn fresh(credentials: &Credentials) -> bool {
    credentials
        .expiry()
        .is_none_or(|expiry| expiry > SystemTime::now() + REFRESH_BEFORE)
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
        object: "EKS Pod Identity agent".into(),
        reason: "unreadable credentials".into(),
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
        assert!(fresh(&c));
        assert!(parse_agent_reply(b"{}").is_err());
    }

    #[test]
    fn near_expiry_is_not_fresh() {
        let soon = Credentials::new(
            "a",
            "b",
            None,
            Some(SystemTime::now() + Duration::from_secs(60)),
            "t",
        );
        assert!(!fresh(&soon));
    }
}
