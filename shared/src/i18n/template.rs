//! One text with named placeholders: "Hello {name}", with `{{` and `}}` for literal braces.

/// What is wrong with a text's braces. `position` counts characters from 0.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem} (at character {position})")]
pub struct TemplateError {
    pub problem: &'static str,
    pub position: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Placeholder(String),
}

/// A parsed text, ready to fill in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    segments: Vec<Segment>,
}

impl Template {
    pub(crate) fn parse(source: &str) -> Result<Template, TemplateError> {
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut chars = source.chars().enumerate().peekable();
        while let Some((position, c)) = chars.next() {
            match c {
                '{' if chars.next_if(|&(_, next)| next == '{').is_some() => literal.push('{'),
                '}' if chars.next_if(|&(_, next)| next == '}').is_some() => literal.push('}'),
                '}' => {
                    return Err(TemplateError {
                        problem: "a '}' without a matching '{'; write '}}' for a literal brace",
                        position,
                    })
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some((_, '}')) => break,
                            Some((_, n)) if n.is_ascii_alphanumeric() || n == '_' => name.push(n),
                            Some(_) | None => {
                                return Err(TemplateError {
                                    problem: "a '{' must start a placeholder such as {name} \
                                              (letters, digits and '_'); write '{{' for a \
                                              literal brace",
                                    position,
                                })
                            }
                        }
                    }
                    if name.is_empty() {
                        return Err(TemplateError {
                            problem: "an empty placeholder '{}'; give it a name such as {name}",
                            position,
                        });
                    }
                    if !literal.is_empty() {
                        segments.push(Segment::Literal(std::mem::take(&mut literal)));
                    }
                    segments.push(Segment::Placeholder(name));
                }
                _ => literal.push(c),
            }
        }
        if !literal.is_empty() {
            segments.push(Segment::Literal(literal));
        }
        Ok(Template { segments })
    }

    /// Placeholder names in order of first appearance, each once.
    pub(crate) fn placeholders(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for segment in &self.segments {
            if let Segment::Placeholder(name) = segment {
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
        }
        names
    }

    /// The literal text (escapes resolved), without placeholders: for checks on the wording.
    pub(crate) fn literal_text(&self) -> String {
        self.segments
            .iter()
            .filter_map(|s| match s {
                Segment::Literal(text) => Some(text.as_str()),
                Segment::Placeholder(_) => None,
            })
            .collect()
    }

    /// Fills in the placeholders. A name `value_of` does not know stays visible as `{name}`
    /// and is reported to `on_missing`.
    pub(crate) fn render(
        &self,
        mut value_of: impl FnMut(&str) -> Option<String>,
        mut on_missing: impl FnMut(&str),
    ) -> String {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Placeholder(name) => match value_of(name) {
                    Some(value) => out.push_str(&value),
                    None => {
                        on_missing(name);
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                },
            }
        }
        out
    }
}

/// The placeholder names of a text, in order of first appearance, or what is wrong with its
/// braces. For checking a text a person typed (a tenant's own wording) before saving it.
pub fn parse_placeholders(text: &str) -> Result<Vec<String>, TemplateError> {
    Template::parse(text).map(|t| t.placeholders())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(source: &str, args: &[(&str, &str)]) -> (String, Vec<String>) {
        let template = Template::parse(source).expect("valid template");
        let mut missing = Vec::new();
        let out = template.render(
            |name| {
                args.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            },
            |name| missing.push(name.to_string()),
        );
        (out, missing)
    }

    #[test]
    fn fills_named_placeholders() {
        let (out, missing) = fill(
            "Hi {name}, you owe {amount}.",
            &[("name", "Ali"), ("amount", "5")],
        );
        assert_eq!(out, "Hi Ali, you owe 5.");
        assert!(missing.is_empty());
        let (out, _) = fill("{a}{a}{b_2}", &[("a", "x"), ("b_2", "y")]);
        assert_eq!(out, "xxy");
        let (out, _) = fill("سلام {name}!", &[("name", "علی")]);
        assert_eq!(out, "سلام علی!");
    }

    #[test]
    fn missing_args_stay_visible() {
        let (out, missing) = fill("Hi {name}, {rest}", &[("name", "Ali")]);
        assert_eq!(out, "Hi Ali, {rest}");
        assert_eq!(missing, ["rest"]);
    }

    #[test]
    fn doubled_braces_are_literal() {
        let (out, _) = fill("{{not}} {x} }}{{", &[("x", "1")]);
        assert_eq!(out, "{not} 1 }{");
        assert_eq!(parse_placeholders("{{x}}"), Ok(vec![]));
    }

    #[test]
    fn values_are_not_reparsed() {
        let (out, _) = fill("{a}", &[("a", "{b} }")]);
        assert_eq!(out, "{b} }");
    }

    #[test]
    fn placeholder_names() {
        assert_eq!(
            parse_placeholders("{b} {a} {b} {c}"),
            Ok(vec!["b".to_string(), "a".to_string(), "c".to_string()])
        );
        assert_eq!(
            Template::parse("a {x} b").expect("valid").literal_text(),
            "a  b"
        );
    }

    #[test]
    fn bad_braces_are_errors() {
        for (source, position) in [
            ("a { b", 2),
            ("{", 0),
            ("x}", 1),
            ("{}", 0),
            ("{na me}", 0),
            ("{a", 0),
        ] {
            let err = parse_placeholders(source).expect_err(source);
            assert_eq!(err.position, position, "{source}: {err}");
        }
        let message = parse_placeholders("50% {off")
            .expect_err("unclosed")
            .to_string();
        assert!(message.contains("'{{'"), "{message}");
    }
}
