//! `jmesPath` extraction, compatible with the AWS provider: the decrypted object is JSON, each
//! expression must yield a string, and each string becomes its own file.

use crate::error::MountError;
use crate::objects::JmesPathPlan;
use crate::secret_bytes::SecretBytes;

/// Checks an expression compiles; done during validation, before any AWS call.
pub fn check(path: &str) -> Result<(), String> {
    jmespath::compile(path)
        .map(|_| ())
        .map_err(|e| format!("path {path:?} is not a JMESPath expression: {}", e.reason))
}

/// Extracts every field of `plans` from `json`.
pub fn extract(
    label: &str,
    json: &[u8],
    plans: &[JmesPathPlan],
) -> Result<Vec<SecretBytes>, MountError> {
    let invalid = |msg: String| MountError::InvalidArgument(format!("{label}: {msg}"));
    let text = std::str::from_utf8(json)
        .map_err(|_| invalid("jmesPath needs JSON content, which is not UTF-8".into()))?;
    let data = jmespath::Variable::from_json(text)
        .map_err(|_| invalid("jmesPath needs JSON content, and it does not parse".into()))?;
    let data = std::sync::Arc::new(data);
    plans
        .iter()
        .map(|plan| {
            let expr = jmespath::compile(&plan.path)
                .map_err(|e| invalid(format!("jmesPath {:?}: {}", plan.path, e.reason)))?;
            let found = expr
                .search(data.clone())
                .map_err(|e| invalid(format!("jmesPath {:?}: {}", plan.path, e.reason)))?;
            match found.as_string() {
                Some(s) => Ok(SecretBytes::from(s.as_bytes().to_vec())),
                None if found.is_null() => {
                    Err(invalid(format!("jmesPath {:?} matched nothing", plan.path)))
                }
                None => Err(invalid(format!(
                    "jmesPath {:?} yields a {}, not a string",
                    plan.path,
                    found.get_type()
                ))),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(path: &str) -> JmesPathPlan {
        JmesPathPlan {
            path: path.into(),
            alias: "x".into(),
            mode: 0o400,
        }
    }

    #[test]
    fn extracts_strings() {
        let json = br#"{"username":"app","db":{"password":"hunter2"},"port":5432}"#;
        let out = extract("o", json, &[plan("username"), plan("db.password")]).expect("ok");
        assert_eq!(out[0].as_slice(), b"app");
        assert_eq!(out[1].as_slice(), b"hunter2");
    }

    #[test]
    fn non_strings_and_misses_are_errors() {
        let json = br#"{"port":5432,"tags":["a"]}"#;
        let err = extract("o", json, &[plan("port")])
            .expect_err("number")
            .to_string();
        assert!(err.contains("yields a number, not a string"), "{err}");
        let err = extract("o", json, &[plan("missing")])
            .expect_err("null")
            .to_string();
        assert!(err.contains("matched nothing"), "{err}");
        let err = extract("o", b"not json", &[plan("a")])
            .expect_err("json")
            .to_string();
        assert!(err.contains("does not parse"), "{err}");
    }

    #[test]
    fn bad_expressions_fail_the_check() {
        assert!(check("a.b").is_ok());
        assert!(
            check("a.[")
                .expect_err("bad")
                .contains("not a JMESPath expression")
        );
    }
}
