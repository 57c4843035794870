//! A read-only etcd client for `keywarden-kms scan`: ranges over key prefixes through etcd's v3
//! JSON gateway (`POST /v3/kv/range`, the same endpoint and port as gRPC), page by page at one
//! revision, over plain HTTP or mutual TLS with the apiserver's etcd client certificate.
//!
//! Only `Range` is ever sent: the scan cannot change what etcd holds.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::catalogue;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Largest page read at once (etcd's own request limit is 1.5 MiB per value).
const MAX_BODY: usize = 256 * 1024 * 1024;

/// Why reading etcd failed.
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    /// A certificate or key file could not be used.
    #[error("{}", catalogue::etcd_tls(.path, .reason))]
    Tls {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// etcd could not be reached or did not answer in time.
    #[error("{}", catalogue::etcd_unreachable(.endpoint, .reason))]
    Unreachable {
        /// The endpoint.
        endpoint: String,
        /// What happened.
        reason: String,
    },
    /// etcd answered with an error or something that is not a range response.
    #[error("{}", catalogue::etcd_answer(.endpoint, .reason))]
    Answer {
        /// The endpoint.
        endpoint: String,
        /// What it answered.
        reason: String,
    },
}

/// Client certificate files for mutual TLS.
#[derive(Debug, Clone, Default)]
pub struct TlsFiles<'a> {
    /// CA bundle that signed etcd's serving certificate.
    pub ca: Option<&'a Path>,
    /// Client certificate.
    pub cert: Option<&'a Path>,
    /// Client private key.
    pub key: Option<&'a Path>,
}

/// One etcd endpoint, read-only.
#[derive(Debug)]
pub struct Etcd {
    endpoint: String,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl Etcd {
    /// A client of `endpoint` (`http://…` or `https://…`).
    pub fn new(endpoint: &str, tls: &TlsFiles<'_>, timeout: Duration) -> Result<Self, EtcdError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_err("TLS", e))?
            .with_root_certificates(roots(tls.ca)?);
        let config = match (tls.cert, tls.key) {
            (Some(cert), Some(key)) => {
                let chain = CertificateDer::pem_file_iter(cert)
                    .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                    .map_err(|e| tls_err(&cert.display().to_string(), e))?;
                let key = PrivateKeyDer::from_pem_file(key)
                    .map_err(|e| tls_err(&key.display().to_string(), e))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| tls_err("client certificate", e))?
            }
            _ => builder.with_no_client_auth(),
        };
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Self {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
        })
    }

    /// Calls `each(key, value)` for every key under `prefix`, `page` keys per request, all at
    /// the revision of the first page.
    pub async fn range_prefix(
        &self,
        prefix: &[u8],
        page: usize,
        mut each: impl FnMut(&[u8], &[u8]),
    ) -> Result<(), EtcdError> {
        let end = prefix_end(prefix);
        let mut start = prefix.to_vec();
        let mut revision: Option<String> = None;
        loop {
            let mut body = serde_json::json!({
                "key": B64.encode(&start),
                "range_end": B64.encode(&end),
                "limit": page,
            });
            if let Some(rev) = &revision {
                body["revision"] = serde_json::Value::String(rev.clone());
            }
            let answer = self.post("/v3/kv/range", &body).await?;
            if revision.is_none() {
                revision = answer["header"]["revision"]
                    .as_str()
                    .map(str::to_owned)
                    .or_else(|| answer["header"]["revision"].as_i64().map(|r| r.to_string()));
            }
            let kvs = answer["kvs"].as_array().cloned().unwrap_or_default();
            let mut last = None;
            for kv in &kvs {
                let key = self.decode(&kv["key"])?;
                let value = self.decode(&kv["value"])?;
                each(&key, &value);
                last = Some(key);
            }
            match (answer["more"].as_bool().unwrap_or(false), last) {
                (true, Some(mut key)) => {
                    key.push(0);
                    start = key;
                }
                _ => return Ok(()),
            }
        }
    }

    fn decode(&self, field: &serde_json::Value) -> Result<Vec<u8>, EtcdError> {
        B64.decode(field.as_str().unwrap_or_default())
            .map_err(|_| self.answer(&catalogue::etcd_not_base64()))
    }

    async fn post(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, EtcdError> {
        let request = http::Request::post(format!("{}{path}", self.endpoint))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| self.unreachable(catalogue::etcd_invalid_endpoint(e)))?;
        let call = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| self.unreachable(error_chain(&e)))?;
            let status = response.status();
            let bytes = Limited::new(response.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| self.unreachable(catalogue::etcd_read_failed(e)))?
                .to_bytes();
            if !status.is_success() {
                let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
                return Err(self.answer(&catalogue::etcd_status(status, &text)));
            }
            serde_json::from_slice(&bytes).map_err(|_| self.answer(&catalogue::etcd_not_json()))
        };
        tokio::time::timeout(self.timeout, call)
            .await
            .unwrap_or_else(|_| Err(self.unreachable(catalogue::etcd_timeout(&self.timeout))))
    }

    fn unreachable(&self, reason: String) -> EtcdError {
        EtcdError::Unreachable {
            endpoint: self.endpoint.clone(),
            reason,
        }
    }

    fn answer(&self, reason: &str) -> EtcdError {
        EtcdError::Answer {
            endpoint: self.endpoint.clone(),
            reason: reason.to_owned(),
        }
    }
}

/// The first key after every key that starts with `prefix` (etcd's `range_end` for a prefix).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

fn roots(ca: Option<&Path>) -> Result<rustls::RootCertStore, EtcdError> {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = ca {
        for cert in
            CertificateDer::pem_file_iter(ca).map_err(|e| tls_err(&ca.display().to_string(), e))?
        {
            let cert = cert.map_err(|e| tls_err(&ca.display().to_string(), e))?;
            roots
                .add(cert)
                .map_err(|e| tls_err(&ca.display().to_string(), e))?;
        }
    }
    Ok(roots)
}

fn tls_err(path: &str, e: impl std::fmt::Display) -> EtcdError {
    EtcdError::Tls {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

/// An error and its sources on one line (hyper's own message is only "client error").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_the_next_key() {
        assert_eq!(prefix_end(b"/registry/secrets/"), b"/registry/secrets0");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff"), b"\0");
    }
}
