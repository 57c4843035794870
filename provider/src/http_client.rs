//! A small HTTP(S) GET client for the two non-AWS services the provider talks to: the
//! Kubernetes API (ServiceAccount annotations) and the EKS Pod Identity agent. Built once,
//! bounded by a timeout, bodies capped in size.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Largest response body read.
const MAX_BODY: usize = 1024 * 1024;

/// Why a GET failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The URL or a header was invalid.
    #[error("{}", crate::catalogue::http_bad_request(.0))]
    Request(String),
    /// No answer: refused connection, DNS, TLS, timeout.
    #[error("{0}")]
    Unreachable(String),
}

/// A response: status and body.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Body (capped).
    pub body: Bytes,
}

/// The client. Cheap to clone.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>,
    timeout: Duration,
}

impl HttpClient {
    /// A client trusting `roots` for HTTPS (plain HTTP is allowed too).
    pub fn new(roots: rustls::RootCertStore, timeout: Duration) -> Result<Self, HttpError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| HttpError::Request(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Self {
            inner: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
        })
    }

    /// GETs `url` with the given headers.
    pub async fn get(&self, url: &str, headers: &[(&str, &str)]) -> Result<Reply, HttpError> {
        let mut request = http::Request::get(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Empty::new())
            .map_err(|e| HttpError::Request(e.to_string()))?;
        let call = async {
            let response =
                self.inner.request(request).await.map_err(|e| {
                    HttpError::Unreachable(crate::catalogue::http_unreachable(url, e))
                })?;
            let status = response.status().as_u16();
            let body = Limited::new(response.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| HttpError::Unreachable(crate::catalogue::http_body_failed(url, e)))?
                .to_bytes();
            Ok(Reply { status, body })
        };
        tokio::time::timeout(self.timeout, call)
            .await
            .unwrap_or_else(|_| {
                Err(HttpError::Unreachable(crate::catalogue::http_timeout(
                    url,
                    &self.timeout,
                )))
            })
    }
}

/// Reads PEM certificates into a root store.
pub fn roots_from_pem(pem: &[u8]) -> Result<rustls::RootCertStore, String> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(crate::catalogue::bad_certificate)?;
        roots
            .add(cert)
            .map_err(crate::catalogue::unusable_certificate)?;
    }
    Ok(roots)
}
