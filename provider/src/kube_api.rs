//! Reads the IAM role of a pod's ServiceAccount (`eks.amazonaws.com/role-arn`) from the
//! Kubernetes API, for IRSA without `roleArn`. Needs only `get serviceaccounts`. Answers are
//! cached for a minute: the annotation rarely changes and every volume re-Mounts each minute.
//! Concurrent lookups of one ServiceAccount make one request.

use std::path::PathBuf;
use std::time::Duration;

use keywarden_runtime::cache::{Bound, Cache, Evict};

use crate::catalogue;
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
    /// available: outside a cluster, or inside one without the provider's API token (the chart's
    /// `identity.serviceAccountLookup: false` does not mount it), where a request could only fail
    /// the TLS handshake for want of the cluster's CA.
    pub fn new(url: Option<&str>) -> Result<Option<Self>, String> {
        let service = match (
            std::env::var("KUBERNETES_SERVICE_HOST"),
            std::env::var("KUBERNETES_SERVICE_PORT"),
        ) {
            (Ok(host), Ok(port)) => Some((host, port)),
            _ => None,
        };
        Self::with(url, std::path::Path::new(SA_DIR), service)
    }

    /// [`KubeApi::new`] with the ServiceAccount directory and the in-cluster service address
    /// given.
    fn with(
        url: Option<&str>,
        sa_dir: &std::path::Path,
        service: Option<(String, String)>,
    ) -> Result<Option<Self>, String> {
        let token_file = sa_dir.join("token");
        let ca = std::fs::read(sa_dir.join("ca.crt")).ok();
        let base = match url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => {
                let Some((host, port)) = service else {
                    return Ok(None);
                };
                if ca.is_none() || !token_file.is_file() {
                    return Ok(None);
                }
                let host = if host.contains(':') {
                    format!("[{host}]")
                } else {
                    host
                };
                format!("https://{host}:{port}")
            }
        };
        let roots = match &ca {
            Some(pem) => roots_from_pem(pem)?,
            None => rustls::RootCertStore::empty(),
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
                object: catalogue::service_account_object(namespace, name),
                reason: catalogue::kube_unreachable(),
            }
        })?;
        let role = match reply.status {
            200 => role_annotation(&reply.body),
            404 => {
                return Err(catalogue::service_account_missing(namespace, name));
            }
            401 | 403 => {
                return Err(catalogue::service_account_forbidden(
                    namespace,
                    name,
                    reply.status,
                ));
            }
            status => {
                return Err(MountError::Transient {
                    object: catalogue::service_account_object(namespace, name),
                    reason: catalogue::kube_status(status),
                });
            }
        };
        Ok(role)
    }
}

/// The role annotation of a ServiceAccount's JSON, if it has a non-empty one. Only that
/// annotation is built: the rest of the object (up to the reply's 1 MiB, which as a generic
/// JSON tree would take tens of times that) is skipped as it is read.
fn role_annotation(json: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct ServiceAccount {
        #[serde(default)]
        metadata: Metadata,
    }
    #[derive(Default, serde::Deserialize)]
    struct Metadata {
        #[serde(default)]
        annotations: Annotations,
    }
    #[derive(Default, serde::Deserialize)]
    struct Annotations {
        /// [`ROLE_ANNOTATION`].
        #[serde(rename = "eks.amazonaws.com/role-arn")]
        role: Option<String>,
    }
    serde_json::from_slice::<ServiceAccount>(json)
        .ok()
        .and_then(|sa| sa.metadata.annotations.role)
        .filter(|r| !r.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> Option<(String, String)> {
        Some(("10.0.0.1".to_owned(), "443".to_owned()))
    }

    #[test]
    fn the_role_annotation_is_read_and_nothing_else_is_built() {
        let sa = format!(
            r#"{{"kind":"ServiceAccount","metadata":{{"name":"app","annotations":{{"a":"b","{ROLE_ANNOTATION}":"arn:aws:iam::1:role/app"}}}},"secrets":[{}{{"name":"x"}}]}}"#,
            r#"{"name":"x"},"#.repeat(50_000)
        );
        let (role, _, peak) = keywarden_heap_meter::measure(|| role_annotation(sa.as_bytes()));
        assert_eq!(role.as_deref(), Some("arn:aws:iam::1:role/app"));
        // A generic JSON tree of these 50,000 objects would take tens of MiB.
        assert!(peak < 64 * 1024, "reading the annotation took {peak} bytes");
        for none in [
            r#"{"metadata":{"annotations":{"eks.amazonaws.com/role-arn":""}}}"#,
            r#"{"metadata":{}}"#,
            r#"{}"#,
            "not json",
        ] {
            assert_eq!(role_annotation(none.as_bytes()), None, "{none}");
        }
    }

    #[test]
    fn in_cluster_without_the_api_token_is_no_api() {
        // `identity.serviceAccountLookup: false`: the service address is set, the token and CA
        // are not mounted. Without this, lookups failed the TLS handshake as UNAVAILABLE.
        let empty = tempfile::tempdir().expect("tempdir");
        assert!(
            KubeApi::with(None, empty.path(), service())
                .expect("no error")
                .is_none()
        );
    }

    #[test]
    fn outside_a_cluster_is_no_api() {
        let empty = tempfile::tempdir().expect("tempdir");
        assert!(
            KubeApi::with(None, empty.path(), None)
                .expect("no error")
                .is_none()
        );
    }

    #[test]
    fn an_explicit_url_needs_no_token() {
        let empty = tempfile::tempdir().expect("tempdir");
        let api = KubeApi::with(Some("http://127.0.0.1:1/"), empty.path(), None).expect("no error");
        assert_eq!(api.expect("an API").base, "http://127.0.0.1:1");
    }
}
