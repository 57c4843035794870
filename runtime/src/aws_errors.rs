//! One-line log descriptions of AWS SDK errors, for both binaries. Never sent to clients: AWS
//! messages can name resources the caller should not learn about.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// The error code, AWS's message and the HTTP status of a service error, or the chain of causes
/// of a transport failure.
pub fn describe<E, R>(err: &SdkError<E, R>, status: Option<u16>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if let SdkError::ServiceError(service) = err {
        let e = service.err();
        return format!(
            "service error {} ({}), HTTP {}",
            e.code().unwrap_or("without code"),
            e.message().unwrap_or("no message"),
            status.map_or_else(|| "status unknown".to_owned(), |s| s.to_string())
        );
    }
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
