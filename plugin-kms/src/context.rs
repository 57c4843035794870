//! Which encryption context a Decrypt may send to KMS. The context is recorded beside the data
//! (annotations for v2, the ciphertext for v1beta1) so that old data stays readable after the
//! configuration changes; but whoever can write to etcd can write that record too. Key policies
//! that condition on the context (docs/security-model.md) must keep their force, so the
//! configured pairs are always asserted unless the operator allowed an older context by name.

use crate::envelope::Context;
use crate::error::PluginError;

/// The rule for the context a Decrypt sends to KMS: every pair of the configured context must
/// be in the recorded one (so stored data cannot drop or change what key policies condition
/// on), unless the recorded context is on the `--decrypt-encryption-contexts` allow-list.
pub fn check_context(
    recorded: &Context,
    configured: &Context,
    allowed: &[Context],
) -> Result<(), PluginError> {
    let contained = configured
        .iter()
        .all(|(k, v)| recorded.get(k).is_some_and(|r| r == v));
    if contained || allowed.contains(recorded) {
        return Ok(());
    }
    let missing: Vec<&str> = configured
        .iter()
        .filter(|(k, v)| recorded.get(*k) != Some(*v))
        .map(|(k, _)| k.as_str())
        .collect();
    Err(PluginError::ContextNotAllowed {
        keys: missing.join(","),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configured_context_must_be_contained_in_the_recorded_one() {
        let ctx = |pairs: &[(&str, &str)]| -> Context {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let configured = ctx(&[("cluster", "prod")]);
        let ok = [
            ctx(&[("cluster", "prod")]),
            ctx(&[("cluster", "prod"), ("purpose", "etcd")]),
        ];
        for recorded in &ok {
            check_context(recorded, &configured, &[]).expect("contained");
        }
        let refused = [
            ctx(&[]),
            ctx(&[("cluster", "dev")]),
            ctx(&[("purpose", "etcd")]),
        ];
        for recorded in &refused {
            let err = check_context(recorded, &configured, &[]).expect_err("not contained");
            assert_eq!(err.grpc_code(), tonic::Code::PermissionDenied, "{err}");
            assert!(err.to_string().contains("cluster"), "{err}");
        }
        let allowed = [ctx(&[("cluster", "dev")])];
        check_context(&refused[1], &configured, &allowed).expect("on the allow-list");
        assert!(check_context(&refused[0], &configured, &allowed).is_err());
        check_context(&ctx(&[]), &ctx(&[]), &[]).expect("nothing configured");
    }
}
