//! Telegram's formatting: parse_mode HTML, MarkdownV2 and legacy Markdown into plain
//! text plus `MessageEntity` objects (offsets and lengths in UTF-16 code units).
//!
//! Errors carry Telegram's wording after "Bad Request: can't parse entities: ".

use serde_json::{json, Value};

/// Plain text and its entities.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub text: String,
    pub entities: Vec<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// parse_mode is not HTML, MarkdownV2 or Markdown.
    UnsupportedMode,
    /// `"can't parse entities: <detail>"`
    Entities(String),
}

/// Parses `text` according to `parse_mode` (None or "" = plain text) and trims
/// surrounding whitespace like Telegram does.
pub fn parse(text: &str, parse_mode: Option<&str>) -> Result<Parsed, ParseError> {
    let parsed = match parse_mode.map(str::trim).filter(|m| !m.is_empty()) {
        None => Builder::plain(text),
        Some(mode) if mode.eq_ignore_ascii_case("html") => {
            parse_html(text).map_err(ParseError::Entities)?
        }
        Some(mode) if mode.eq_ignore_ascii_case("markdownv2") => {
            parse_markdown_v2(text).map_err(ParseError::Entities)?
        }
        Some(mode) if mode.eq_ignore_ascii_case("markdown") => {
            parse_markdown(text).map_err(ParseError::Entities)?
        }
        Some(_) => return Err(ParseError::UnsupportedMode),
    };
    Ok(parsed.into_trimmed())
}

/// UTF-16 length, the unit of Telegram's offsets and text limits.
pub fn utf16_len(text: &str) -> usize {
    text.encode_utf16().count()
}

/// `bot_command` entities for "/command" or "/command@bot" words in a user's message.
pub fn bot_commands(text: &str) -> Vec<Value> {
    let mut entities = Vec::new();
    let mut utf16 = 0;
    let mut previous: Option<char> = None;
    for (byte, c) in text.char_indices() {
        let starts_word = previous.is_none_or(char::is_whitespace);
        if c == '/' && starts_word {
            let rest = &text[byte + 1..];
            let name_len = rest
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                .unwrap_or(rest.len());
            if (1..=64).contains(&name_len) {
                let mut len = 1 + name_len;
                let after = &rest[name_len..];
                if let Some(mention) = after.strip_prefix('@') {
                    let bot_len = mention
                        .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                        .unwrap_or(mention.len());
                    if bot_len > 0 {
                        len += 1 + bot_len;
                    }
                }
                entities.push(json!({"type": "bot_command", "offset": utf16, "length": len}));
            }
        }
        utf16 += c.len_utf16();
        previous = Some(c);
    }
    entities
}

#[derive(Debug, Clone)]
struct Entity {
    kind: &'static str,
    offset: usize,
    length: usize,
    url: Option<String>,
    language: Option<String>,
}

#[derive(Debug, Default)]
struct Builder {
    text: String,
    utf16: usize,
    entities: Vec<Entity>,
}

impl Builder {
    fn plain(text: &str) -> Parsed {
        Parsed {
            text: text.to_string(),
            entities: Vec::new(),
        }
        .into_builder()
        .finish()
    }

    fn push(&mut self, c: char) {
        self.text.push(c);
        self.utf16 += c.len_utf16();
    }

    fn push_str(&mut self, s: &str) {
        s.chars().for_each(|c| self.push(c));
    }

    fn add(
        &mut self,
        kind: &'static str,
        start: usize,
        url: Option<String>,
        language: Option<String>,
    ) {
        if self.utf16 > start {
            self.entities.push(Entity {
                kind,
                offset: start,
                length: self.utf16 - start,
                url,
                language,
            });
        }
    }

    fn finish(mut self) -> Parsed {
        self.entities
            .sort_by(|a, b| a.offset.cmp(&b.offset).then(b.length.cmp(&a.length)));
        let entities = self
            .entities
            .into_iter()
            .map(|e| {
                let mut value = json!({"type": e.kind, "offset": e.offset, "length": e.length});
                if let Some(url) = e.url {
                    value["url"] = json!(url);
                }
                if let Some(language) = e.language {
                    value["language"] = json!(language);
                }
                value
            })
            .collect();
        Parsed {
            text: self.text,
            entities,
        }
    }
}

impl Parsed {
    fn into_builder(self) -> Builder {
        Builder {
            utf16: utf16_len(&self.text),
            text: self.text,
            entities: Vec::new(),
        }
    }

    /// Drops leading and trailing whitespace and clips entities to what is left.
    fn into_trimmed(self) -> Parsed {
        let trimmed_start = self.text.trim_start();
        let lead = utf16_len(&self.text[..self.text.len() - trimmed_start.len()]);
        let text = trimmed_start.trim_end().to_string();
        let len = utf16_len(&text);
        let entities = self
            .entities
            .into_iter()
            .filter_map(|mut e| {
                let offset = e["offset"].as_u64()? as usize;
                let end = offset + e["length"].as_u64()? as usize;
                let start = offset.max(lead) - lead;
                let end = end.min(lead + len).saturating_sub(lead);
                if end <= start {
                    return None;
                }
                e["offset"] = json!(start);
                e["length"] = json!(end - start);
                Some(e)
            })
            .collect();
        Parsed { text, entities }
    }
}

// ---------------------------------------------------------------- HTML

struct OpenTag {
    tag: String,
    kind: Option<&'static str>,
    url: Option<String>,
    language: Option<String>,
    start: usize,
}

fn decode_html_entity(s: &str) -> Option<(String, usize)> {
    let end = s.get(1..)?.find(';').filter(|&e| e <= 10)? + 1;
    let name = &s[1..end];
    let decoded = match name {
        "lt" => "<".to_string(),
        "gt" => ">".to_string(),
        "amp" => "&".to_string(),
        "quot" => "\"".to_string(),
        "apos" => "'".to_string(),
        "nbsp" => "\u{a0}".to_string(),
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse::<u32>().ok()?,
            };
            char::from_u32(code).filter(|&c| c != '\0')?.to_string()
        }
    };
    Some((decoded, end + 1))
}

fn decode_html_text(s: &str) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < s.len() {
        if s.as_bytes()[i] == b'&' {
            if let Some((decoded, used)) = decode_html_entity(&s[i..]) {
                out.push_str(&decoded);
                i += used;
                continue;
            }
        }
        let c = s[i..].chars().next().unwrap_or('\u{fffd}');
        out.push(c);
        i += c.len_utf8().max(1);
    }
    out
}

/// Splits `name attr="v" attr2='v' attr3=v flag` into the lowercase name and attributes.
fn parse_tag(inner: &str) -> (String, Vec<(String, String)>) {
    let inner = inner.trim();
    let name_end = inner.find(char::is_whitespace).unwrap_or(inner.len());
    let name = inner[..name_end].to_ascii_lowercase();
    let mut attrs = Vec::new();
    let mut rest = inner[name_end..].trim_start();
    while !rest.is_empty() {
        let key_end = rest
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(rest.len());
        let key = rest[..key_end].to_ascii_lowercase();
        rest = rest[key_end..].trim_start();
        let mut value = String::new();
        if let Some(after_eq) = rest.strip_prefix('=') {
            let after_eq = after_eq.trim_start();
            let (raw, remaining) = match after_eq.chars().next() {
                Some(quote @ ('"' | '\'')) => {
                    let body = &after_eq[1..];
                    match body.find(quote) {
                        Some(end) => (&body[..end], &body[end + 1..]),
                        None => (body, ""),
                    }
                }
                _ => {
                    let end = after_eq.find(char::is_whitespace).unwrap_or(after_eq.len());
                    (&after_eq[..end], &after_eq[end..])
                }
            };
            value = decode_html_text(raw);
            rest = remaining.trim_start();
        }
        if !key.is_empty() {
            attrs.push((key, value));
        }
    }
    (name, attrs)
}

fn attr<'a>(attrs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn parse_html(src: &str) -> Result<Parsed, String> {
    let mut out = Builder::default();
    let mut stack: Vec<OpenTag> = Vec::new();
    let mut i = 0;
    while i < src.len() {
        let byte = src.as_bytes()[i];
        if byte == b'&' {
            if let Some((decoded, used)) = decode_html_entity(&src[i..]) {
                out.push_str(&decoded);
                i += used;
                continue;
            }
        }
        if byte != b'<' {
            let c = src[i..].chars().next().unwrap_or('\u{fffd}');
            out.push(c);
            i += c.len_utf8().max(1);
            continue;
        }
        let tag_start = i;
        let Some(close) = src[i..].find('>') else {
            return Err(format!("Unclosed start tag at byte offset {tag_start}"));
        };
        let inner = &src[i + 1..i + close];
        i += close + 1;
        if let Some(end_name) = inner.strip_prefix('/') {
            let end_name = end_name.trim().to_ascii_lowercase();
            let Some(open) = stack.pop() else {
                return Err(format!("Unexpected end tag at byte offset {tag_start}"));
            };
            if open.tag != end_name {
                return Err(format!(
                    "Unmatched end tag at byte offset {tag_start}, expected \"</{}>\", found \"</{}>\"",
                    open.tag, end_name
                ));
            }
            let inside_pre = stack.last().is_some_and(|parent| parent.tag == "pre");
            if open.tag == "code" && inside_pre {
                // <pre><code class="language-x"> is one pre entity with a language.
                if let Some(parent) = stack.last_mut() {
                    if parent.language.is_none() {
                        parent.language = open.language;
                    }
                }
                continue;
            }
            if let Some(kind) = open.kind {
                out.add(kind, open.start, open.url, open.language);
            }
            continue;
        }
        let (name, attrs) = parse_tag(inner);
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(format!(
                "Unsupported start tag \"{name}\" at byte offset {tag_start}"
            ));
        }
        let mut url = None;
        let mut language = None;
        let kind = match name.as_str() {
            "b" | "strong" => Some("bold"),
            "i" | "em" => Some("italic"),
            "u" | "ins" => Some("underline"),
            "s" | "strike" | "del" => Some("strikethrough"),
            "tg-spoiler" => Some("spoiler"),
            "span" => {
                if attr(&attrs, "class") != Some("tg-spoiler") {
                    return Err(format!(
                        "Tag \"span\" must have class \"tg-spoiler\" at byte offset {tag_start}"
                    ));
                }
                Some("spoiler")
            }
            "a" => match attr(&attrs, "href") {
                Some(href) if !href.trim().is_empty() => {
                    url = Some(href.trim().to_string());
                    Some("text_link")
                }
                _ => None,
            },
            "code" => {
                language = attr(&attrs, "class")
                    .and_then(|c| c.strip_prefix("language-"))
                    .map(str::to_string);
                Some("code")
            }
            "pre" => Some("pre"),
            "blockquote" => {
                if attrs.iter().any(|(k, _)| k == "expandable") {
                    Some("expandable_blockquote")
                } else {
                    Some("blockquote")
                }
            }
            "tg-emoji" => None,
            _ => {
                return Err(format!(
                    "Unsupported start tag \"{name}\" at byte offset {tag_start}"
                ))
            }
        };
        stack.push(OpenTag {
            tag: name,
            kind,
            url,
            language,
            start: out.utf16,
        });
    }
    if let Some(open) = stack.last() {
        return Err(format!(
            "Can't find end tag corresponding to start tag \"{}\"",
            open.tag
        ));
    }
    Ok(out.finish())
}

// ---------------------------------------------------------------- MarkdownV2

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Md {
    Bold,
    Italic,
    Underline,
    Strikethrough,
    Spoiler,
    Code,
    Pre,
    TextUrl,
}

impl Md {
    fn kind(self) -> &'static str {
        match self {
            Md::Bold => "bold",
            Md::Italic => "italic",
            Md::Underline => "underline",
            Md::Strikethrough => "strikethrough",
            Md::Spoiler => "spoiler",
            Md::Code => "code",
            Md::Pre => "pre",
            Md::TextUrl => "text_link",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Md::Bold => "Bold",
            Md::Italic => "Italic",
            Md::Underline => "Underline",
            Md::Strikethrough => "Strikethrough",
            Md::Spoiler => "Spoiler",
            Md::Code => "Code",
            Md::Pre => "Pre",
            Md::TextUrl => "TextUrl",
        }
    }
}

struct OpenMd {
    md: Md,
    start: usize,
    byte: usize,
    language: Option<String>,
}

const RESERVED_V2: &str = "_*[]()~`>#+-=|{}.!";

/// Opens `md`, or closes it when it is the innermost open entity.
fn toggle(stack: &mut Vec<OpenMd>, out: &mut Builder, md: Md, byte: usize) -> Result<(), String> {
    if stack.last().is_some_and(|o| o.md == md) {
        if let Some(open) = stack.pop() {
            out.add(open.md.kind(), open.start, None, None);
        }
        return Ok(());
    }
    if stack.iter().any(|o| o.md == md) {
        if let Some(top) = stack.last() {
            return Err(format!(
                "Can't find end of {} entity at byte offset {}",
                top.md.name(),
                top.byte
            ));
        }
    }
    stack.push(OpenMd {
        md,
        start: out.utf16,
        byte,
        language: None,
    });
    Ok(())
}

fn parse_markdown_v2(src: &str) -> Result<Parsed, String> {
    let chars: Vec<(usize, char)> = src.char_indices().collect();
    let mut out = Builder::default();
    let mut stack: Vec<OpenMd> = Vec::new();
    let mut quote_start: Option<usize> = None;
    let mut i = 0;
    while i < chars.len() {
        let (byte, c) = chars[i];
        let next = chars.get(i + 1).map(|&(_, n)| n);
        let at_line_start = i == 0 || chars[i - 1].1 == '\n';
        let in_code = stack
            .last()
            .is_some_and(|o| matches!(o.md, Md::Code | Md::Pre));

        if c == '\\' {
            match next {
                Some(n) if (n as u32) > 0 && (n as u32) < 127 => {
                    out.push(n);
                    i += 2;
                }
                _ => {
                    out.push('\\');
                    i += 1;
                }
            }
            continue;
        }
        if in_code {
            let closing_pre = src[byte..].starts_with("```");
            match stack.last().map(|o| o.md) {
                Some(Md::Pre) if closing_pre => {
                    if let Some(open) = stack.pop() {
                        out.add("pre", open.start, None, open.language);
                    }
                    i += 3;
                }
                Some(Md::Code) if c == '`' => {
                    toggle(&mut stack, &mut out, Md::Code, byte)?;
                    i += 1;
                }
                _ => {
                    out.push(c);
                    i += 1;
                }
            }
            continue;
        }
        match c {
            '*' => toggle(&mut stack, &mut out, Md::Bold, byte)?,
            '~' => toggle(&mut stack, &mut out, Md::Strikethrough, byte)?,
            '_' if next == Some('_') => {
                toggle(&mut stack, &mut out, Md::Underline, byte)?;
                i += 1;
            }
            '_' => toggle(&mut stack, &mut out, Md::Italic, byte)?,
            '|' if next == Some('|') => {
                toggle(&mut stack, &mut out, Md::Spoiler, byte)?;
                i += 1;
            }
            '`' if src[byte..].starts_with("```") => {
                // The rest of the opening line names the language.
                let after = &src[byte + 3..];
                let (language, skip) = match after.find('\n') {
                    Some(nl) => {
                        let lang = after[..nl].trim();
                        (
                            (!lang.is_empty()).then(|| lang.to_string()),
                            after[..=nl].chars().count(),
                        )
                    }
                    None => (None, 0),
                };
                stack.push(OpenMd {
                    md: Md::Pre,
                    start: out.utf16,
                    byte,
                    language,
                });
                i += 2 + skip;
            }
            '`' => toggle(&mut stack, &mut out, Md::Code, byte)?,
            '[' => stack.push(OpenMd {
                md: Md::TextUrl,
                start: out.utf16,
                byte,
                language: None,
            }),
            ']' if stack.last().is_some_and(|o| o.md == Md::TextUrl) => {
                if next != Some('(') {
                    return Err(format!("Can't find end of a URL at byte offset {byte}"));
                }
                let mut url = String::new();
                let mut j = i + 2;
                let mut closed = false;
                while j < chars.len() {
                    let (_, u) = chars[j];
                    if u == '\\' {
                        if let Some(&(_, escaped)) = chars.get(j + 1) {
                            url.push(escaped);
                            j += 2;
                            continue;
                        }
                    }
                    if u == ')' {
                        closed = true;
                        break;
                    }
                    url.push(u);
                    j += 1;
                }
                if !closed {
                    return Err(format!("Can't find end of a URL at byte offset {byte}"));
                }
                if let Some(open) = stack.pop() {
                    out.add("text_link", open.start, Some(url.trim().to_string()), None);
                }
                i = j;
            }
            '>' if at_line_start => {
                if quote_start.is_none() {
                    quote_start = Some(out.utf16);
                }
            }
            '\n' => {
                let continues_quote = next == Some('>');
                if let Some(start) = quote_start.filter(|_| !continues_quote) {
                    out.add("blockquote", start, None, None);
                    quote_start = None;
                }
                out.push('\n');
            }
            _ if RESERVED_V2.contains(c) => {
                return Err(format!(
                    "Character '{c}' is reserved and must be escaped with the preceding '\\'"
                ));
            }
            _ => out.push(c),
        }
        i += 1;
    }
    if let Some(open) = stack.last() {
        return Err(format!(
            "Can't find end of {} entity at byte offset {}",
            open.md.name(),
            open.byte
        ));
    }
    if let Some(start) = quote_start {
        out.add("blockquote", start, None, None);
    }
    Ok(out.finish())
}

// ---------------------------------------------------------------- legacy Markdown

fn parse_markdown(src: &str) -> Result<Parsed, String> {
    let mut out = Builder::default();
    let mut i = 0;
    let unclosed = |at: usize| format!("Can't find end of the entity starting at byte offset {at}");
    while i < src.len() {
        let rest = &src[i..];
        let c = rest.chars().next().unwrap_or('\u{fffd}');
        match c {
            '\\' if rest[1..].starts_with(['_', '*', '`', '[']) => {
                out.push(rest[1..].chars().next().unwrap_or('\\'));
                i += 2;
            }
            '*' | '_' => {
                let body = &rest[1..];
                let end = body.find(c).ok_or_else(|| unclosed(i))?;
                let start = out.utf16;
                out.push_str(&body[..end]);
                out.add(if c == '*' { "bold" } else { "italic" }, start, None, None);
                i += end + 2;
            }
            '`' if rest.starts_with("```") => {
                let body = &rest[3..];
                let end = body.find("```").ok_or_else(|| unclosed(i))?;
                let mut code = &body[..end];
                let mut language = None;
                if let Some(nl) = code.find('\n') {
                    let first = code[..nl].trim();
                    if !first.is_empty() && !first.contains(char::is_whitespace) {
                        language = Some(first.to_string());
                    }
                    if language.is_some() || first.is_empty() {
                        code = &code[nl + 1..];
                    }
                }
                let start = out.utf16;
                out.push_str(code);
                out.add("pre", start, None, language);
                i += 3 + end + 3;
            }
            '`' => {
                let body = &rest[1..];
                let end = body.find('`').ok_or_else(|| unclosed(i))?;
                let start = out.utf16;
                out.push_str(&body[..end]);
                out.add("code", start, None, None);
                i += end + 2;
            }
            '[' => {
                let body = &rest[1..];
                let close = body.find(']').ok_or_else(|| unclosed(i))?;
                let after = &body[close + 1..];
                let start = out.utf16;
                out.push_str(&body[..close]);
                if let Some(url_part) = after.strip_prefix('(') {
                    let url_end = url_part.find(')').ok_or_else(|| unclosed(i))?;
                    out.add(
                        "text_link",
                        start,
                        Some(url_part[..url_end].trim().to_string()),
                        None,
                    );
                    i += 1 + close + 1 + 1 + url_end + 1;
                } else {
                    i += 1 + close + 1;
                }
            }
            _ => {
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    Ok(out.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str, mode: &str) -> Parsed {
        parse(text, Some(mode)).unwrap()
    }

    fn err(text: &str, mode: &str) -> String {
        match parse(text, Some(mode)) {
            Err(ParseError::Entities(detail)) => detail,
            other => panic!("expected an entity error, got {other:?}"),
        }
    }

    #[test]
    fn html_bold_link_and_escapes() {
        let p = ok(
            "<b>Hi</b> &lt;you&gt; <a href=\"https://t.me/x\">link</a>",
            "HTML",
        );
        assert_eq!(p.text, "Hi <you> link");
        assert_eq!(
            p.entities,
            vec![
                json!({"type":"bold","offset":0,"length":2}),
                json!({"type":"text_link","offset":9,"length":4,"url":"https://t.me/x"}),
            ]
        );
    }

    #[test]
    fn html_offsets_are_utf16() {
        let p = ok("😀 <i>سلام</i>", "HTML");
        assert_eq!(
            p.entities,
            vec![json!({"type":"italic","offset":3,"length":4})]
        );
    }

    #[test]
    fn html_pre_with_language() {
        let p = ok(
            "<pre><code class=\"language-rust\">fn x()</code></pre>",
            "HTML",
        );
        assert_eq!(
            p.entities,
            vec![json!({"type":"pre","offset":0,"length":6,"language":"rust"})]
        );
    }

    #[test]
    fn html_errors_read_like_telegram() {
        assert_eq!(
            err("<b>bold", "HTML"),
            "Can't find end tag corresponding to start tag \"b\""
        );
        assert_eq!(
            err("<foo>x</foo>", "HTML"),
            "Unsupported start tag \"foo\" at byte offset 0"
        );
        assert_eq!(
            err("<b>x</i>", "HTML"),
            "Unmatched end tag at byte offset 4, expected \"</b>\", found \"</i>\""
        );
        assert_eq!(err("x</b>", "HTML"), "Unexpected end tag at byte offset 1");
    }

    #[test]
    fn markdown_v2_entities_and_reserved_characters() {
        let p = ok(
            "*bold* _it_ __u__ ~s~ ||sp|| `c` [l](https://a.b/\\)) 1\\.5",
            "MarkdownV2",
        );
        assert_eq!(p.text, "bold it u s sp c l 1.5");
        let kinds: Vec<&str> = p
            .entities
            .iter()
            .map(|e| e["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            [
                "bold",
                "italic",
                "underline",
                "strikethrough",
                "spoiler",
                "code",
                "text_link"
            ]
        );
        assert_eq!(p.entities[6]["url"], "https://a.b/)");
        assert_eq!(
            err("Price: 1.5", "MarkdownV2"),
            "Character '.' is reserved and must be escaped with the preceding '\\'"
        );
        assert_eq!(
            err("*open", "MarkdownV2"),
            "Can't find end of Bold entity at byte offset 0"
        );
    }

    #[test]
    fn markdown_v2_pre_and_quote() {
        let p = ok("```python\nprint(1)\n```", "MarkdownV2");
        assert_eq!(p.text, "print(1)");
        assert_eq!(p.entities[0]["language"], "python");
        let q = ok(">quoted\n>more\nafter", "MarkdownV2");
        assert_eq!(q.text, "quoted\nmore\nafter");
        assert_eq!(
            q.entities,
            vec![json!({"type":"blockquote","offset":0,"length":11})]
        );
    }

    #[test]
    fn legacy_markdown() {
        let p = ok("*b* _i_ `c` [t](http://x.y)", "Markdown");
        assert_eq!(p.text, "b i c t");
        assert_eq!(p.entities.len(), 4);
        assert_eq!(
            err("*unclosed", "Markdown"),
            "Can't find end of the entity starting at byte offset 0"
        );
    }

    #[test]
    fn trims_and_rejects_unknown_modes() {
        assert_eq!(parse("  <b>x</b>  ", Some("html")).unwrap().text, "x");
        assert_eq!(parse("x", Some("xml")), Err(ParseError::UnsupportedMode));
        assert_eq!(parse("<b>", None).unwrap().text, "<b>");
    }

    #[test]
    fn random_input_never_panics_and_entities_stay_inside_the_text() {
        use rand::{Rng, SeedableRng};
        const PIECES: &[&str] = &[
            "<b>",
            "</b>",
            "<i>",
            "</i>",
            "<a href=\"x\">",
            "</a>",
            "<pre>",
            "<code>",
            "</code>",
            "</pre>",
            "&lt;",
            "&#128512;",
            "&",
            "<",
            ">",
            "*",
            "_",
            "__",
            "~",
            "||",
            "`",
            "```",
            "[",
            "](http://a)",
            "]",
            "(",
            ")",
            "\\",
            "\\*",
            ".",
            "!",
            "\n",
            "\n>",
            "a",
            " ",
            "سلام",
            "😀",
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..20_000 {
            let count = rng.gen_range(0..12);
            let text: String = (0..count)
                .map(|_| PIECES[rng.gen_range(0..PIECES.len())])
                .collect();
            for mode in ["HTML", "MarkdownV2", "Markdown"] {
                if let Ok(parsed) = parse(&text, Some(mode)) {
                    let len = utf16_len(&parsed.text) as u64;
                    for e in &parsed.entities {
                        let end = e["offset"].as_u64().unwrap() + e["length"].as_u64().unwrap();
                        assert!(end <= len, "{text:?} in {mode}: {e}");
                    }
                }
            }
        }
    }

    #[test]
    fn finds_bot_commands() {
        assert_eq!(
            bot_commands("/start ref_1"),
            vec![json!({"type":"bot_command","offset":0,"length":6})]
        );
        assert_eq!(
            bot_commands("hi /help@my_bot x"),
            vec![json!({"type":"bot_command","offset":3,"length":12})]
        );
        assert!(bot_commands("a/b").is_empty());
    }
}
