//! A bounded reader for the YAML a tenant or a manifest file supplies: one pass over the
//! parser's events into a plain value tree, refusing what a SecretProviderClass never needs and
//! an attacker would use. It reads the `objects` parameter ([`read`]) and the manifests
//! `keywarden-provider check` is given ([`read_manifest`]).
//!
//! Anchors and aliases are refused (they let a few hundred bytes expand into megabytes: the
//! nodes built would grow with the square of the text), and so are tags, non-scalar map keys
//! and duplicate keys; `objects` is one document, a manifest may hold several. Depth and node
//! count are bounded while reading, before anything is built from them. In `objects` every
//! scalar becomes a string (`filePermission: 0400` stays `"0400"`); in a manifest a plain
//! scalar is read with the YAML 1.2 core schema, so `check` can tell a number from a quoted
//! string as the API server would. A plain `~`, `null` or empty scalar becomes null in both.
//! The parser keeps its state on the heap, not on the call stack, so deep input cannot overflow
//! the stack here.

mod scalars;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use serde_json::{Map, Value};

use crate::catalogue;
use crate::limits::{MAX_MANIFEST_DEPTH, MAX_MANIFEST_NODES, MAX_YAML_DEPTH, MAX_YAML_NODES};
use scalars::{core_schema, is_null};

/// What one kind of input may hold.
struct Rules {
    depth: (usize, &'static str),
    nodes: (usize, &'static str),
    /// Several `---` documents.
    documents: bool,
    /// Plain scalars read with the core schema (else every scalar is a string).
    typed: bool,
}

const OBJECTS: Rules = Rules {
    depth: (MAX_YAML_DEPTH, "MAX_YAML_DEPTH"),
    nodes: (MAX_YAML_NODES, "MAX_YAML_NODES"),
    documents: false,
    typed: false,
};

const MANIFEST: Rules = Rules {
    depth: (MAX_MANIFEST_DEPTH, "MAX_MANIFEST_DEPTH"),
    nodes: (MAX_MANIFEST_NODES, "MAX_MANIFEST_NODES"),
    documents: true,
    typed: true,
};

/// Reads the `objects` parameter into a value tree, or says what is wrong (with the line and
/// column).
pub(super) fn read(text: &str) -> Result<Value, String> {
    read_with(text, &OBJECTS)?
        .into_iter()
        .next()
        .flatten()
        .ok_or_else(catalogue::yaml_empty)
}

/// Reads every document of a manifest (an empty document is null), or says what is wrong.
pub(crate) fn read_manifest(text: &str) -> Result<Vec<Value>, String> {
    let documents = read_with(text, &MANIFEST)?;
    Ok(documents
        .into_iter()
        .map(|d| d.unwrap_or(Value::Null))
        .collect())
}

/// Every document's value (`None` when it holds none).
fn read_with(text: &str, rules: &Rules) -> Result<Vec<Option<Value>>, String> {
    let mut builder = Builder::default();
    let mut documents = Vec::new();
    let mut started = 0usize;
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| {
            catalogue::yaml_syntax(
                crate::limits::clip(e.info()),
                e.marker().line(),
                e.marker().col() + 1,
            )
        })?;
        let at = |what: String| at(&what, &span);
        match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
            Event::DocumentStart(_) => {
                // A document counts as a node: a file of empty documents is bounded too.
                builder.count(rules, &span)?;
                started += 1;
                if started > 1 && !rules.documents {
                    return Err(at(catalogue::yaml_documents()));
                }
            }
            Event::DocumentEnd => {
                if !builder.stack.is_empty() {
                    return Err(at(catalogue::yaml_malformed()));
                }
                documents.push(builder.root.take());
            }
            Event::Alias(_) => return Err(at(catalogue::yaml_alias())),
            Event::Scalar(value, style, anchor, tag) => {
                refuse_anchor_and_tag(anchor, tag.is_some(), &span)?;
                let plain = style == ScalarStyle::Plain;
                let value = if builder.awaiting_key() || !rules.typed || !plain {
                    let null = plain && is_null(&value);
                    if null {
                        Value::Null
                    } else {
                        Value::String(value.into_owned())
                    }
                } else {
                    core_schema(value.into_owned())
                };
                builder.value(value, rules, &span)?;
            }
            Event::SequenceStart(anchor, tag) => {
                refuse_anchor_and_tag(anchor, tag.is_some(), &span)?;
                builder.open(Open::List(Vec::new()), rules, &span)?;
            }
            Event::MappingStart(anchor, tag) => {
                refuse_anchor_and_tag(anchor, tag.is_some(), &span)?;
                builder.open(Open::Map(Map::new(), None), rules, &span)?;
            }
            Event::SequenceEnd | Event::MappingEnd => builder.close(&span)?,
        }
    }
    Ok(documents)
}

fn at(what: &str, span: &Span) -> String {
    catalogue::yaml_refused(what, span.start.line(), span.start.col() + 1)
}

fn refuse_anchor_and_tag(anchor: usize, tagged: bool, span: &Span) -> Result<(), String> {
    if anchor != 0 {
        return Err(at(&catalogue::yaml_anchor(), span));
    }
    if tagged {
        return Err(at(&catalogue::yaml_tag(), span));
    }
    Ok(())
}

/// A list or map being read; a map remembers the key whose value comes next.
enum Open {
    List(Vec<Value>),
    Map(Map<String, Value>, Option<String>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    root: Option<Value>,
    nodes: usize,
}

impl Builder {
    /// True when the next scalar is a map key.
    fn awaiting_key(&self) -> bool {
        matches!(self.stack.last(), Some(Open::Map(_, None)))
    }

    fn count(&mut self, rules: &Rules, span: &Span) -> Result<(), String> {
        self.nodes += 1;
        let (limit, name) = rules.nodes;
        if self.nodes > limit {
            return Err(at(&catalogue::yaml_too_many_nodes(limit, name), span));
        }
        Ok(())
    }

    fn open(&mut self, open: Open, rules: &Rules, span: &Span) -> Result<(), String> {
        self.count(rules, span)?;
        if self.awaiting_key() {
            return Err(at(&catalogue::yaml_complex_key(), span));
        }
        let (limit, name) = rules.depth;
        if self.stack.len() >= limit {
            return Err(at(&catalogue::yaml_too_deep(limit, name), span));
        }
        self.stack.push(open);
        Ok(())
    }

    fn close(&mut self, span: &Span) -> Result<(), String> {
        let value = match self.stack.pop() {
            Some(Open::List(items)) => Value::Array(items),
            Some(Open::Map(map, None)) => Value::Object(map),
            Some(Open::Map(_, Some(_))) | None => {
                return Err(at(&catalogue::yaml_malformed(), span));
            }
        };
        self.place(value, span)
    }

    fn value(&mut self, value: Value, rules: &Rules, span: &Span) -> Result<(), String> {
        self.count(rules, span)?;
        if let Some(Open::Map(map, key @ None)) = self.stack.last_mut() {
            let Value::String(name) = value else {
                return Err(at(&catalogue::yaml_empty_key(), span));
            };
            if map.contains_key(&name) {
                return Err(at(
                    &catalogue::yaml_repeated_key(&crate::limits::quote(&name)),
                    span,
                ));
            }
            *key = Some(name);
            return Ok(());
        }
        self.place(value, span)
    }

    fn place(&mut self, value: Value, span: &Span) -> Result<(), String> {
        match self.stack.last_mut() {
            None if self.root.is_none() => {
                self.root = Some(value);
                Ok(())
            }
            None => Err(at(&catalogue::yaml_two_values(), span)),
            Some(Open::List(items)) => {
                items.push(value);
                Ok(())
            }
            Some(Open::Map(map, key)) => match key.take() {
                Some(name) => {
                    map.insert(name, value);
                    Ok(())
                }
                None => Err(at(&catalogue::yaml_complex_key(), span)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_object_specs_with_every_scalar_as_a_string() {
        let value = read(
            "- objectName: s3://b/k\n  filePermission: 0400\n  objectVersion: 12\n  objectAlias: ~\n  jmesPath:\n    - {path: a, objectAlias: 'x'}\n",
        )
        .expect("valid");
        assert_eq!(
            value,
            json!([{
                "objectName": "s3://b/k",
                "filePermission": "0400",
                "objectVersion": "12",
                "objectAlias": null,
                "jmesPath": [{"path": "a", "objectAlias": "x"}],
            }])
        );
    }

    #[test]
    fn refuses_what_expands_or_hides() {
        let cases = [
            ("- &a {objectName: s3://b/k}\n- *a\n", "anchor"),
            ("- objectName: &n s3://b/k\n", "anchor"),
            ("- objectName: !!binary aGk=\n", "tag"),
            ("- a: 1\n---\n- b: 2\n", "more than one YAML document"),
            ("- {a: 1, a: 2}\n", "repeats the key \"a\""),
            ("- {[a]: 1}\n", "as a map key"),
            ("- objectName: [\n", "line"),
        ];
        for (yaml, want) in cases {
            let err = read(yaml).expect_err(yaml);
            assert!(err.contains(want), "{yaml:?}: want {want:?} in {err:?}");
        }
    }

    #[test]
    fn bounds_depth_and_nodes_while_reading() {
        let deep = format!("{}{}", "[".repeat(20), "]".repeat(20));
        let err = read(&deep).expect_err("deep");
        assert!(err.contains("MAX_YAML_DEPTH"), "{err}");
        // Far deeper: the parser's own limit may answer first; either way an error, no crash.
        let deeper = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        read(&deeper).expect_err("deeper");
        let block = format!("{}a", "- ".repeat(1000));
        let err = read(&block).expect_err("deep block nesting");
        assert!(err.contains("MAX_YAML_DEPTH"), "{err}");
        let many = format!("[{}]", "1,".repeat(MAX_YAML_NODES + 1));
        let err = read(&many).expect_err("many");
        assert!(err.contains("MAX_YAML_NODES"), "{err}");
    }

    /// One anchor of `n` scalars and `n` aliases of it: a reader that expands aliases builds
    /// n² nodes (4 s and 3.6 GB for a 120 KB file at n = 12,000).
    fn alias_bomb(n: usize) -> String {
        let mut text = String::from("kind: ConfigMap\nanchor: &a [");
        text.push_str(&"x,".repeat(n));
        text.push_str("]\nmany:\n");
        text.push_str(&"  - *a\n".repeat(n));
        text
    }

    #[test]
    fn manifest_aliases_are_refused_at_the_first_anchor() {
        let bomb = alias_bomb(12_000);
        assert!(bomb.len() > 100_000, "{}", bomb.len());
        let err = read_manifest(&bomb).expect_err("alias bomb");
        // Refused at the anchor on line 2, before a single alias was read.
        assert!(err.contains("YAML anchor (&)"), "{err}");
        assert!(err.contains("line 2"), "{err}");
        // An alias of no anchor is the parser's error; of an anchor, refused at the anchor.
        let err = read_manifest("a: b\nc: *a\n").expect_err("alias alone");
        assert!(err.contains("unknown anchor"), "{err}");
        let err = read_manifest("base: &b {x: 1}\na: {<<: *b}\n").expect_err("merge key");
        assert!(err.contains("YAML anchor (&)"), "{err}");
    }

    #[test]
    fn manifests_hold_documents_with_typed_scalars() {
        let docs = read_manifest(
            "kind: ServiceAccount\n---\n---\nkind: SecretProviderClass\nspec:\n  parameters:\n    \
             a: '5'\n    b: 5\n    c: true\n    d: 0o17\n    e: -1.5e3\n    f: .inf\n    \
             g: ~\n    h: 1.2.3\n    i: \"true\"\n    0400: key stays a string\n",
        )
        .expect("valid");
        assert_eq!(docs.len(), 3, "{docs:?}");
        assert_eq!(docs[0], json!({"kind": "ServiceAccount"}));
        assert_eq!(docs[1], Value::Null, "an empty document");
        assert_eq!(
            docs[2]["spec"]["parameters"],
            json!({"a": "5", "b": 5, "c": true, "d": 15, "e": -1500.0, "f": null, "g": null,
                   "h": "1.2.3", "i": "true", "0400": "key stays a string"})
        );
    }

    #[test]
    fn manifest_bounds_name_their_constants() {
        let deep = format!(
            "{}{}",
            "[".repeat(MAX_MANIFEST_DEPTH + 1),
            "]".repeat(MAX_MANIFEST_DEPTH + 1)
        );
        let err = read_manifest(&deep).expect_err("deep");
        assert!(err.contains("MAX_MANIFEST_DEPTH"), "{err}");
        // A Deployment-like nesting of 20 levels is fine.
        let ok = format!("{}{}", "[".repeat(20), "]".repeat(20));
        read_manifest(&ok).expect("20 levels");
        let many = format!("[{}]", "1,".repeat(MAX_MANIFEST_NODES + 1));
        let err = read_manifest(&many).expect_err("many");
        assert!(err.contains("MAX_MANIFEST_NODES"), "{err}");
        // Empty documents hold no node, but each is kept: they count too.
        let empty = "---\n".repeat(MAX_MANIFEST_NODES + 1);
        let err = read_manifest(&empty).expect_err("empty documents");
        assert!(err.contains("MAX_MANIFEST_NODES"), "{err}");
        let err = read_manifest("a: 1\n---\nb: [\n").expect_err("broken second document");
        assert!(err.contains("line"), "{err}");
    }
}
