//! A bounded reader for the `objects` YAML: one pass over the parser's events into a plain
//! value tree, refusing what a SecretProviderClass never needs and an attacker would use.
//!
//! Anchors and aliases are refused (they let a few hundred bytes expand into megabytes), and so
//! are tags, several documents, non-scalar map keys and duplicate keys. Depth and node count are
//! bounded while reading, before anything is built from them. Every scalar becomes a string
//! (`filePermission: 0400` stays `"0400"`), and a plain `~`, `null` or empty scalar becomes null,
//! as a YAML reader would read them. The parser itself keeps its state on the heap, not on the
//! call stack, so deep input cannot overflow the stack here.

use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use serde_json::{Map, Value};

use crate::catalogue;
use crate::limits::{MAX_YAML_DEPTH, MAX_YAML_NODES};

/// Reads `text` into a value tree, or says what is wrong (with the line and column).
pub(super) fn read(text: &str) -> Result<Value, String> {
    let mut builder = Builder::default();
    let mut documents = 0usize;
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
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(at(catalogue::yaml_documents()));
                }
            }
            Event::Alias(_) => return Err(at(catalogue::yaml_alias())),
            Event::Scalar(value, style, anchor, tag) => {
                refuse_anchor_and_tag(anchor, tag.is_some(), &span)?;
                let null = style == ScalarStyle::Plain
                    && matches!(value.as_ref(), "" | "~" | "null" | "Null" | "NULL");
                let value = if null {
                    Value::Null
                } else {
                    Value::String(value.into_owned())
                };
                builder.value(value, &span)?;
            }
            Event::SequenceStart(anchor, tag) => {
                refuse_anchor_and_tag(anchor, tag.is_some(), &span)?;
                builder.open(Open::List(Vec::new()), &span)?;
            }
            Event::MappingStart(anchor, tag) => {
                refuse_anchor_and_tag(anchor, tag.is_some(), &span)?;
                builder.open(Open::Map(Map::new(), None), &span)?;
            }
            Event::SequenceEnd | Event::MappingEnd => builder.close(&span)?,
        }
    }
    builder.root.ok_or_else(catalogue::yaml_empty)
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
    fn count(&mut self, span: &Span) -> Result<(), String> {
        self.nodes += 1;
        if self.nodes > MAX_YAML_NODES {
            return Err(at(&catalogue::yaml_too_many_nodes(MAX_YAML_NODES), span));
        }
        Ok(())
    }

    fn open(&mut self, open: Open, span: &Span) -> Result<(), String> {
        self.count(span)?;
        if let Some(Open::Map(_, None)) = self.stack.last() {
            return Err(at(&catalogue::yaml_complex_key(), span));
        }
        if self.stack.len() >= MAX_YAML_DEPTH {
            return Err(at(&catalogue::yaml_too_deep(MAX_YAML_DEPTH), span));
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

    fn value(&mut self, value: Value, span: &Span) -> Result<(), String> {
        self.count(span)?;
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
}
