//! How a plain YAML scalar of a manifest reads under the YAML 1.2 core schema (null, booleans,
//! integers, floats), so that `check` tells an unquoted `5` from the string `"5"` as the API
//! server does; without a regex engine.

use serde_json::Value;

/// A plain `~`, `null` (any case form the schema names) or empty scalar.
pub(super) fn is_null(plain: &str) -> bool {
    matches!(plain, "" | "~" | "null" | "Null" | "NULL")
}

/// A plain scalar as the YAML 1.2 core schema reads it: null, a boolean, an integer (decimal,
/// `0o` octal, `0x` hex) or a float; anything else is a string. JSON has no infinity or NaN:
/// `.inf` and `.nan` read as null, which is not a string either.
pub(super) fn core_schema(plain: String) -> Value {
    let integer =
        |digits: &str, radix: u32| u64::from_str_radix(digits, radix).ok().map(Value::from);
    let number = match plain.as_str() {
        p if is_null(p) => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => return Value::Null,
        p if p.starts_with("0o") => integer(&p[2..], 8),
        p if p.starts_with("0x") => integer(&p[2..], 16),
        p if is_core_number(p) => p
            .parse::<i64>()
            .ok()
            .map(Value::from)
            .or_else(|| p.parse::<f64>().ok().map(Value::from)),
        _ => None,
    };
    number.unwrap_or(Value::String(plain))
}

/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`, without a regex engine.
fn is_core_number(text: &str) -> bool {
    let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
    let s = text.strip_prefix(['-', '+']).unwrap_or(text);
    let whole = digits(s);
    let mut rest = &s[whole..];
    let mut fraction = 0;
    if let Some(after) = rest.strip_prefix('.') {
        fraction = digits(after);
        rest = &after[fraction..];
    }
    if whole == 0 && fraction == 0 {
        return false;
    }
    match rest.strip_prefix(['e', 'E']) {
        None => rest.is_empty(),
        Some(exponent) => {
            let exponent = exponent.strip_prefix(['-', '+']).unwrap_or(exponent);
            !exponent.is_empty() && digits(exponent) == exponent.len()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_of_the_core_schema() {
        for (text, number) in [
            ("1", true),
            ("-2", true),
            ("+.5", true),
            ("3.", true),
            ("1e5", true),
            (".", false),
            ("1e", false),
            ("e5", false),
            ("0x", false),
            ("1_000", false),
            ("", false),
        ] {
            assert_eq!(is_core_number(text), number, "{text:?}");
        }
        assert_eq!(core_schema("0x1f".into()), Value::from(31));
        assert_eq!(core_schema("1e999".into()), Value::Null, "not finite");
        assert_eq!(core_schema("0x".into()), Value::from("0x"));
        assert_eq!(
            core_schema("yes".into()),
            Value::from("yes"),
            "YAML 1.1 only"
        );
    }
}
