//! `jmesPath` extraction, compatible with the AWS provider for the expressions that select a
//! field: the decrypted object is JSON, each expression must yield a string of it, and each
//! string becomes its own file.
//!
//! An expression is tenant input, so it is bounded before the compiler sees it (length,
//! operators, nesting: each operator can add a level of recursion to the compiler and the
//! evaluator) and its compiled form is checked against an allow-list of selections: fields,
//! sub-expressions, indexes, slices, projections, flatten, filters with comparisons, `&&`, `||`,
//! `!`, pipes and literals. Function calls and multi-select lists and hashes are refused: they
//! build new values, which a selection of a string never needs, and some of them (`to_string`,
//! `join`, `[@, @, @]` under a projection) turn a small document into a very large one.

use std::sync::Arc;

use jmespath::Variable;
use jmespath::ast::Ast;
use zeroize::Zeroize;

use crate::catalogue;
use crate::error::MountError;
use crate::limits::{self, MAX_JMESPATH_BYTES, MAX_JMESPATH_NESTING, MAX_JMESPATH_OPERATORS};
use crate::objects::JmesPathPlan;
use crate::secret_bytes::SecretBytes;

/// Bytes charged per JSON value when a document is parsed for extraction: the parse holds far
/// more than the text (an intermediate tree and the reference-counted one the search runs on),
/// measured at its peak at about 180 bytes per number in an array and 245 per one-letter string,
/// malloc's rounding included. The unit tests hold the charge to the measured heap.
pub const BYTES_PER_JSON_VALUE: usize = 256;

/// Bytes charged per JSON object on top of its values: each object is a B-tree map, in both
/// trees, whose first node is allocated whole whatever its number of keys (measured at about
/// 1,200 bytes per one-key object with its values).
pub const BYTES_PER_JSON_OBJECT: usize = 768;

/// Checks an expression before any AWS call: bounded, compiles, and only selects.
pub fn check(path: &str) -> Result<(), String> {
    bound(path)?;
    let expr = jmespath::compile(path).map_err(|e| {
        catalogue::jmes_syntax(&limits::quote(path), limits::clip(&e.reason.to_string()))
    })?;
    selects_only(expr.as_ast())
        .map_err(|what| catalogue::jmes_not_a_selection(&limits::quote(path), what))
}

/// The lexical bounds, checked without compiling: length, operator count and nesting, with
/// quoted names (`"…"`), raw strings (`'…'`) and JSON literals (`` `…` ``) skipped.
fn bound(path: &str) -> Result<(), String> {
    if path.len() > MAX_JMESPATH_BYTES {
        return Err(catalogue::jmes_too_long(
            &limits::quote(path),
            path.len(),
            MAX_JMESPATH_BYTES,
        ));
    }
    let (mut operators, mut depth, mut deepest) = (0usize, 0usize, 0usize);
    let mut quote: Option<u8> = None;
    let mut escaped = false;
    for b in path.bytes() {
        if let Some(q) = quote {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                _ if b == q => quote = None,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' | b'\'' | b'`' => quote = Some(b),
            b'(' | b'[' | b'{' => {
                operators += 1;
                depth += 1;
                deepest = deepest.max(depth);
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b'.' | b'|' | b'!' | b'&' | b'*' | b'?' | b'<' | b'>' | b'=' => operators += 1,
            _ => {}
        }
    }
    if operators > MAX_JMESPATH_OPERATORS {
        return Err(catalogue::jmes_too_many_operators(
            &limits::quote(path),
            operators,
            MAX_JMESPATH_OPERATORS,
        ));
    }
    if deepest > MAX_JMESPATH_NESTING {
        return Err(catalogue::jmes_too_deep(
            &limits::quote(path),
            deepest,
            MAX_JMESPATH_NESTING,
        ));
    }
    Ok(())
}

/// Walks the compiled expression (its depth is bounded by [`bound`]) and refuses every node
/// that builds a value instead of selecting one.
fn selects_only(ast: &Ast) -> Result<(), String> {
    match ast {
        Ast::Identity { .. }
        | Ast::Field { .. }
        | Ast::Index { .. }
        | Ast::Literal { .. }
        | Ast::Slice { .. } => Ok(()),
        Ast::Flatten { node, .. } | Ast::Not { node, .. } | Ast::ObjectValues { node, .. } => {
            selects_only(node)
        }
        Ast::Comparison { lhs, rhs, .. }
        | Ast::And { lhs, rhs, .. }
        | Ast::Or { lhs, rhs, .. }
        | Ast::Projection { lhs, rhs, .. }
        | Ast::Subexpr { lhs, rhs, .. } => selects_only(lhs).and_then(|()| selects_only(rhs)),
        Ast::Condition {
            predicate, then, ..
        } => selects_only(predicate).and_then(|()| selects_only(then)),
        Ast::Function { name, .. } => Err(catalogue::jmes_function(&limits::quote(name))),
        Ast::Expref { .. } => Err(catalogue::jmes_expref()),
        Ast::MultiList { .. } | Ast::MultiHash { .. } => Err(catalogue::jmes_multi_select()),
    }
}

/// What parsing `json` for extraction may allocate, at most: its text, plus
/// [`BYTES_PER_JSON_VALUE`] per value it can hold (one per `,` `:` `[` `{`, plus one), plus
/// [`BYTES_PER_JSON_OBJECT`] per object. The unit tests hold it to the heap a parse really
/// takes, for documents shaped to cost the most per byte.
pub fn parse_cost(json: &[u8]) -> usize {
    let (mut values, mut objects) = (1usize, 0usize);
    for b in json {
        match b {
            b',' | b':' | b'[' => values += 1,
            b'{' => {
                values += 1;
                objects += 1;
            }
            _ => {}
        }
    }
    json.len()
        .saturating_add(values.saturating_mul(BYTES_PER_JSON_VALUE))
        .saturating_add(objects.saturating_mul(BYTES_PER_JSON_OBJECT))
}

/// Extracts every field of `plans` from `json`. The caller has charged [`parse_cost`] to the
/// Mount's budget. Each field is a new secret buffer, copied only after `admit` accepted its
/// length (the Mount charges it to its budget there), so many fields of a large document fail
/// on the first one over the budget instead of being copied all at once.
pub fn extract<C>(
    label: &str,
    json: &[u8],
    plans: &[JmesPathPlan],
    mut admit: impl FnMut(usize) -> Result<C, MountError>,
) -> Result<Vec<(SecretBytes, C)>, MountError> {
    let text = std::str::from_utf8(json).map_err(|_| catalogue::jmes_not_utf8(label))?;
    let data = jmespath::Variable::from_json(text).map_err(|_| catalogue::jmes_not_json(label))?;
    let data = Arc::new(data);
    let fields = plans
        .iter()
        .map(|plan| {
            let quoted = limits::quote(&plan.path);
            let failed = |e: jmespath::JmespathError| {
                catalogue::jmes_failed(label, &quoted, limits::clip(&e.reason.to_string()))
            };
            let expr = jmespath::compile(&plan.path).map_err(failed)?;
            let found = expr.search(data.clone()).map_err(failed)?;
            match found.as_string() {
                Some(s) => {
                    let admitted = admit(s.len())?;
                    Ok((SecretBytes::from(s.as_bytes().to_vec()), admitted))
                }
                None if found.is_null() => Err(catalogue::jmes_nothing(label, &quoted)),
                None => Err(catalogue::jmes_not_string(label, &quoted, found.get_type())),
            }
        })
        .collect();
    wipe(data);
    fields
}

/// Wipes the strings (values and keys) of a parsed document once nothing else refers to it,
/// without recursion: the tree holds copies of the secret.
fn wipe(root: Arc<Variable>) {
    let mut stack = vec![root];
    while let Some(node) = stack.pop() {
        let Ok(mut node) = Arc::try_unwrap(node) else {
            continue;
        };
        match &mut node {
            Variable::String(s) => s.zeroize(),
            Variable::Array(items) => stack.append(items),
            Variable::Object(map) => {
                for (mut key, value) in std::mem::take(map) {
                    key.zeroize();
                    stack.push(value);
                }
            }
            Variable::Null | Variable::Bool(_) | Variable::Number(_) | Variable::Expref(_) => {}
        }
    }
}

#[cfg(test)]
mod tests;
