//! The service account tokens kubelet hands over in `csi.storage.k8s.io/serviceAccount.tokens`
//! (one per audience listed in the CSIDriver's `tokenRequests`), picked by audience and checked
//! for expiry. Tokens stay behind [`SecretString`].

use std::collections::HashMap;
use std::time::SystemTime;

use secrecy::SecretString;
use serde::Deserialize;

use crate::catalogue;
use crate::error::MountError;

#[derive(Deserialize)]
struct RawToken {
    token: String,
    #[serde(rename = "expirationTimestamp")]
    expiration: Option<String>,
}

/// A pod token for one audience.
#[derive(Debug)]
pub struct PodToken {
    /// The JWT.
    pub token: SecretString,
    /// When it expires, if kubelet said.
    pub expires: Option<SystemTime>,
}

/// Picks the token for `audience` from the tokens JSON.
pub fn for_audience(tokens: Option<&SecretString>, audience: &str) -> Result<PodToken, MountError> {
    use secrecy::ExposeSecret;
    let missing = || catalogue::no_token(audience);
    let tokens = tokens.ok_or_else(missing)?;
    let mut parsed: HashMap<String, RawToken> =
        serde_json::from_str(tokens.expose_secret()).map_err(|_| catalogue::tokens_not_json())?;
    let raw = parsed.remove(audience).ok_or_else(missing)?;
    let expires = match raw.expiration.as_deref().filter(|t| !t.is_empty()) {
        None => None,
        Some(text) => Some(
            humantime::parse_rfc3339_weak(text)
                .map_err(|_| catalogue::token_expiry_unreadable(audience))?,
        ),
    };
    if let Some(expires) = expires
        && expires <= SystemTime::now()
    {
        return Err(catalogue::token_expired(
            audience,
            humantime::format_rfc3339_seconds(expires),
        ));
    }
    Ok(PodToken {
        token: SecretString::from(raw.token),
        expires,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use tonic::Code;

    fn tokens(json: &str) -> SecretString {
        SecretString::from(json.to_owned())
    }

    #[test]
    fn picks_the_audience() {
        let t = tokens(
            r#"{"sts.amazonaws.com":{"token":"jwt-a","expirationTimestamp":"2099-01-01T00:00:00Z"},"pods.eks.amazonaws.com":{"token":"jwt-b"}}"#,
        );
        assert_eq!(
            for_audience(Some(&t), "sts.amazonaws.com")
                .expect("a")
                .token
                .expose_secret(),
            "jwt-a"
        );
        assert_eq!(
            for_audience(Some(&t), "pods.eks.amazonaws.com")
                .expect("b")
                .token
                .expose_secret(),
            "jwt-b"
        );
    }

    #[test]
    fn missing_and_expired_tokens_say_what_to_do() {
        let err = for_audience(None, "sts.amazonaws.com").expect_err("missing");
        assert_eq!(err.grpc_code(), Code::FailedPrecondition);
        assert!(err.to_string().contains("tokenRequests"), "{err}");
        let t = tokens(r#"{"other":{"token":"x"}}"#);
        assert!(
            for_audience(Some(&t), "sts.amazonaws.com")
                .expect_err("absent")
                .to_string()
                .contains("tokenRequests")
        );
        let t = tokens(
            r#"{"sts.amazonaws.com":{"token":"x","expirationTimestamp":"2001-01-01T00:00:00Z"}}"#,
        );
        let err = for_audience(Some(&t), "sts.amazonaws.com").expect_err("expired");
        assert!(
            err.to_string().contains("expired at 2001-01-01T00:00:00Z"),
            "{err}"
        );
        let t = tokens("not json");
        assert_eq!(
            for_audience(Some(&t), "a").expect_err("json").grpc_code(),
            Code::InvalidArgument
        );
    }
}
