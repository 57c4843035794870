//! Reads the IAM role of a pod's ServiceAccount (`eks.amazonaws.com/role-arn`) from the
//! Kubernetes API, for IRSA without `roleArn`. Needs only `get serviceaccounts`. Answers are
//! cached for a minute: the annotation rarely changes and every volume re-Mounts each minute.
//! Concurrent lookups of one ServiceAccount make one request.

use std::path::PathBuf;
use std::time::Duration;

use keywarden_runtime::cache::{Bound, Cache, Evict};

use crate::error::MountError;
use crate::http_client::{HttpClient, roots_from_pem};

/// The annotation IRSA uses.
pub const ROLE_ANNOTATION: &str = "eks.amazonaws.com/role-arn";
const SA_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
const CACHE_FOR: Duration = Duration::from_secs(60);
/// ServiceAccounts whose role is cached at most (the oldest go first).
const CACHE_ENTRIES: usize = 4096;

/// A Kubernetes API client for ServiceAccount lookups.
#[derive(Debug)]
pub struct KubeApi {
    base: String,
    http: HttpClient,
    token_file: PathBuf,
    cache: Cache<ServiceAccountRef, Option<String>>,
}

/// (namespace, name) of a ServiceAccount.
type ServiceAccountRef = (String, String);

impl KubeApi {
    /// The API at `url`, or the in-cluster API when `url` is `None`; `Ok(None)` when neither is
    /// available (outside a cluster, no `--kubernetes-api`).
    pub fn new(url: Option<&str>) -> Result<Option<Self>, String> {
        let token_file = PathBuf::from(SA_DIR).join("token");
        let ca = std::fs::read(PathBuf::from(SA_DIR).join("ca.crt")).ok();
        let roots = match &ca {
            Some(pem) => roots_from_pem(pem)?,
            None => rustls::RootCertStore::empty(),
        };
        let base = match url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => {
                let (Ok(host), Ok(port)) = (
                    std::env::var("KUBERNETES_SERVICE_HOST"),
                    std::env::var("KUBERNETES_SERVICE_PORT"),
                ) else {
                    return Ok(None);
                };
                let host = if host.contains(':') {
                    format!("[{host}]")
                } else {
                    host
                };
                format!("https://{host}:{port}")
            }
        };
        let http = HttpClient::new(roots, Duration::from_secs(5)).map_err(|e| e.to_string())?;
        Ok(Some(Self {
            base,
            http,
            token_file,
            cache: Cache::new(Bound::Entries(CACHE_ENTRIES), Evict::OldestStored)
                .with_ttl(CACHE_FOR),
        }))
    }

    /// The role annotation of ServiceAccount `namespace/name`, if any.
    pub async fn role_of(&self, namespace: &str, name: &str) -> Result<Option<String>, MountError> {
        let key = (namespace.to_owned(), name.to_owned());
        let (role, _) = self
            .cache
            .get_or_try_load(&key, || self.fetch_role(namespace, name))
            .await?;
        Ok(role)
    }

    async fn fetch_role(&self, namespace: &str, name: &str) -> Result<Option<String>, MountError> {
        let url = format!(
            "{}/api/v1/namespaces/{namespace}/serviceaccounts/{name}",
            self.base
        );
        let bearer = std::fs::read_to_string(&self.token_file)
            .ok()
            .map(|t| format!("Bearer {}", t.trim()));
        let mut headers = vec![("accept", "application/json")];
        if let Some(bearer) = &bearer {
            headers.push(("authorization", bearer.as_str()));
        }
        let reply = self.http.get(&url, &headers).await.map_err(|e| {
            tracing::warn!(error = %e, "ServiceAccount lookup failed");
            MountError::Transient {
                object: format!("ServiceAccount {namespace}/{name}"),
                reason: "Kubernetes API unreachable".into(),
            }
        })?;
        let role = match reply.status {
            200 => serde_json::from_slice::<serde_json::Value>(&reply.body)
                .ok()
                .and_then(|sa| {
                    sa["metadata"]["annotations"][ROLE_ANNOTATION]
                        .as_str()
                        .map(str::to_owned)
                })
                .filter(|r| !r.is_empty()),
            404 => {
                return Err(MountError::Precondition(format!(
                    "ServiceAccount {namespace}/{name} not found"
                )));
            }
            401 | 403 => {
                return Err(MountError::Precondition(format!(
                    "the provider may not read ServiceAccount {namespace}/{name} (HTTP {}): grant it \
                     get serviceaccounts, or set roleArn in the SecretProviderClass",
                    reply.status
                )));
            }
            status => {
                return Err(MountError::Transient {
                    object: format!("ServiceAccount {namespace}/{name}"),
                    reason: format!("Kubernetes API answered HTTP {status}"),
                });
            }
        };
        Ok(role)
    }
}
