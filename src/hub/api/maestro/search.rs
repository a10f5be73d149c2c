//! Maestro's `search` parameter: the part of its language (tree-search-language, plus the
//! PostgreSQL JSON operators its clients write) that Maestro's clients send, parsed by recursive
//! descent into the store's [`Search`].
//!
//! Grammar (keywords in any case, values in single quotes with `''` for a quote):
//!
//! ```text
//! or     := and ("or" and)*
//! and    := factor ("and" factor)*
//! factor := "(" or ")" | field ("=" | "!=" | "<>") value | field ("!=" | "<>") "null"
//!         | field ["not"] "in" "(" value ("," value)* ")" | map "@>" value
//! field  := id | name | consumer_name | source                         (resource bundles)
//!         | payload->'metadata'->'labels'->>'KEY' | ...->'annotations'->>'KEY'
//!         | id | name | labels->>'KEY'                                  (consumers)
//! map    := payload->'metadata'->'labels' | payload->'metadata'->'annotations' | labels
//! ```
//!
//! Anything else is a [`SearchError`] naming the part that is not supported. Owns the language;
//! must not know SQL (the store translates a [`Search`], binding every value).

use std::fmt;

use crate::store::{
    ConsumerField, ConsumerMap, Labels, ResourceField, ResourceMap, Search, search::SearchField,
};

/// The longest search accepted, in bytes (the document says 2,048 characters: percent-encoded,
/// longer ones could pass the HTTP server's limit on a request line).
const MAX_LEN: usize = 8192;
/// The deepest nesting of parentheses.
const MAX_DEPTH: usize = 32;
/// The most values in one search (each is a bound parameter).
const MAX_VALUES: usize = 1000;
/// The most comparisons in one search: each is a level of the SQL expression tree, and
/// SQLite stops at 1,000.
const MAX_COMPARISONS: usize = 200;

/// Why a search is refused: what is unsupported or malformed, for a 400 naming `search`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SearchError(String);

fn error<T>(reason: impl Into<String>) -> Result<T, SearchError> {
    Err(SearchError(reason.into()))
}

/// The fields one list may search, resolved from the identifier and the JSON path after it.
pub trait Target: SearchField + Sized {
    /// What the error lists as supported.
    const SUPPORTED: &'static str;
    /// The field `path` names, for comparisons.
    fn field(path: &FieldPath, hub_source_id: &str) -> Option<Self>;
    /// The JSON object `path` names, for `@>`.
    fn map(path: &FieldPath) -> Option<Self::Map>;
}

/// An identifier and the JSON keys after it: `payload->'metadata'->'labels'->>'app'` is
/// `payload`, `[metadata, labels]`, text key `app`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    pub base: String,
    pub keys: Vec<String>,
    pub text_key: Option<String>,
}

impl FieldPath {
    fn is(&self, base: &str, keys: &[&str]) -> bool {
        self.base == base
            && self
                .keys
                .iter()
                .map(String::as_str)
                .eq(keys.iter().copied())
    }

    fn plain(&self) -> Option<&str> {
        (self.keys.is_empty() && self.text_key.is_none()).then_some(self.base.as_str())
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base)?;
        for key in &self.keys {
            write!(f, "->'{key}'")?;
        }
        if let Some(key) = &self.text_key {
            write!(f, "->>'{key}'")?;
        }
        Ok(())
    }
}

impl Target for ResourceField {
    const SUPPORTED: &'static str = "id, name, consumer_name, source, \
        payload->'metadata'->'labels'->>'KEY', payload->'metadata'->'annotations'->>'KEY'";

    fn field(path: &FieldPath, hub_source_id: &str) -> Option<Self> {
        match (path.plain(), &path.text_key) {
            (Some("id"), _) => Some(Self::Id),
            (Some("name"), _) => Some(Self::Name),
            (Some("consumer_name"), _) => Some(Self::ConsumerName),
            (Some("source"), _) => Some(Self::Source {
                hub_source_id: hub_source_id.to_owned(),
            }),
            (None, Some(key)) if path.is("payload", &["metadata", "labels"]) => {
                Some(Self::Label(key.clone()))
            }
            (None, Some(key)) if path.is("payload", &["metadata", "annotations"]) => {
                Some(Self::Annotation(key.clone()))
            }
            _ => None,
        }
    }

    fn map(path: &FieldPath) -> Option<ResourceMap> {
        if path.text_key.is_some() {
            None
        } else if path.is("payload", &["metadata", "labels"]) {
            Some(ResourceMap::Labels)
        } else if path.is("payload", &["metadata", "annotations"]) {
            Some(ResourceMap::Annotations)
        } else {
            None
        }
    }
}

impl Target for ConsumerField {
    const SUPPORTED: &'static str = "id, name, labels->>'KEY'";

    fn field(path: &FieldPath, _: &str) -> Option<Self> {
        match (path.plain(), &path.text_key) {
            (Some("id"), _) => Some(Self::Id),
            (Some("name"), _) => Some(Self::Name),
            (None, Some(key)) if path.is("labels", &[]) => Some(Self::Label(key.clone())),
            _ => None,
        }
    }

    fn map(path: &FieldPath) -> Option<ConsumerMap> {
        (path.plain() == Some("labels")).then_some(ConsumerMap::Labels)
    }
}

/// Parses `search` for the list of `T`; an empty search is `None` (everything). `source`
/// values stand for what the hub with `hub_source_id` owns.
pub fn parse<T: Target>(
    search: &str,
    hub_source_id: &str,
) -> Result<Option<Search<T>>, SearchError> {
    let search = search.trim();
    if search.is_empty() {
        return Ok(None);
    }
    if search.len() > MAX_LEN {
        return error(format!("longer than {MAX_LEN} bytes"));
    }
    if search.contains('\0') {
        return error("U+0000 is not allowed");
    }
    let tokens = tokenize(search)?;
    let mut parser = Parser {
        tokens,
        at: 0,
        depth: 0,
        values: 0,
        comparisons: 0,
        hub_source_id,
    };
    let tree = parser.or::<T>()?;
    match parser.peek() {
        None => Ok(Some(tree)),
        Some(token) => error(format!("unexpected {token} after a complete condition")),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Str(String),
    Open,
    Close,
    Comma,
    Eq,
    Ne,
    Contains,
    Arrow,
    TextArrow,
    /// An operator or character the language here does not have (`<`, `like`'s `%`...).
    Other(String),
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Word(w) => write!(f, "`{w}`"),
            Self::Str(s) => write!(f, "value '{s}'"),
            Self::Open => f.write_str("`(`"),
            Self::Close => f.write_str("`)`"),
            Self::Comma => f.write_str("`,`"),
            Self::Eq => f.write_str("`=`"),
            Self::Ne => f.write_str("`!=`"),
            Self::Contains => f.write_str("`@>`"),
            Self::Arrow => f.write_str("`->`"),
            Self::TextArrow => f.write_str("`->>`"),
            Self::Other(o) => write!(f, "`{o}`"),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, SearchError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let rest = &text[at..];
        let token = match c {
            c if c.is_whitespace() => continue,
            '(' => Token::Open,
            ')' => Token::Close,
            ',' => Token::Comma,
            '=' => Token::Eq,
            '\'' => {
                let mut value = String::new();
                loop {
                    match chars.next() {
                        Some((_, '\'')) if chars.peek().is_some_and(|(_, c)| *c == '\'') => {
                            chars.next();
                            value.push('\'');
                        }
                        Some((_, '\'')) => break,
                        Some((_, c)) => value.push(c),
                        None => return error(format!("unterminated value at byte {at}")),
                    }
                }
                Token::Str(value)
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut word = String::from(c);
                while let Some((_, c)) =
                    chars.next_if(|(_, c)| c.is_ascii_alphanumeric() || *c == '_')
                {
                    word.push(c);
                }
                Token::Word(word)
            }
            _ => {
                let (token, len) = if rest.starts_with("->>") {
                    (Token::TextArrow, 3)
                } else if rest.starts_with("->") {
                    (Token::Arrow, 2)
                } else if rest.starts_with("!=") || rest.starts_with("<>") {
                    (Token::Ne, 2)
                } else if rest.starts_with("@>") {
                    (Token::Contains, 2)
                } else {
                    // One operator of symbols (`<=`, `~~`) or one other character.
                    let len = rest
                        .find(|c: char| {
                            c.is_alphanumeric() || c.is_whitespace() || "()',_".contains(c)
                        })
                        .filter(|len| *len > 0)
                        .unwrap_or(c.len_utf8());
                    (Token::Other(rest[..len].to_owned()), len)
                };
                for _ in 1..rest[..len].chars().count() {
                    chars.next();
                }
                token
            }
        };
        tokens.push(token);
    }
    Ok(tokens)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
    values: usize,
    comparisons: usize,
    hub_source_id: &'a str,
}

fn is_keyword(token: Option<&Token>, keyword: &str) -> bool {
    matches!(token, Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword))
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn expect(&mut self, wanted: &Token, after: &str) -> Result<(), SearchError> {
        match self.next() {
            Some(token) if token == *wanted => Ok(()),
            Some(token) => error(format!("expected {wanted} {after}, found {token}")),
            None => error(format!("expected {wanted} {after}, found the end")),
        }
    }

    fn or<T: Target>(&mut self) -> Result<Search<T>, SearchError> {
        let mut any = vec![self.and::<T>()?];
        while is_keyword(self.peek(), "or") {
            self.at += 1;
            any.push(self.and::<T>()?);
        }
        Ok(if any.len() == 1 {
            any.remove(0)
        } else {
            Search::Or(any)
        })
    }

    fn and<T: Target>(&mut self) -> Result<Search<T>, SearchError> {
        let mut all = vec![self.factor::<T>()?];
        while is_keyword(self.peek(), "and") {
            self.at += 1;
            all.push(self.factor::<T>()?);
        }
        Ok(if all.len() == 1 {
            all.remove(0)
        } else {
            Search::And(all)
        })
    }

    fn factor<T: Target>(&mut self) -> Result<Search<T>, SearchError> {
        match self.peek() {
            Some(Token::Open) => {
                self.at += 1;
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return error(format!("parentheses nested deeper than {MAX_DEPTH}"));
                }
                let inner = self.or::<T>()?;
                self.expect(&Token::Close, "to close `(`")?;
                self.depth -= 1;
                Ok(inner)
            }
            Some(Token::Word(w))
                if ["not", "and", "or", "in"]
                    .iter()
                    .any(|k| w.eq_ignore_ascii_case(k)) =>
            {
                error(format!(
                    "operator `{w}` is not supported here (a field comparison was expected)"
                ))
            }
            Some(Token::Word(_)) => self.comparison::<T>(),
            Some(token) => error(format!("expected a field or `(`, found {token}")),
            None => error("expected a field or `(`, found the end"),
        }
    }

    fn path(&mut self) -> Result<FieldPath, SearchError> {
        let Some(Token::Word(base)) = self.next() else {
            return error("expected a field");
        };
        // Unquoted SQL names are case-insensitive; the quoted keys after them are not.
        let mut path = FieldPath {
            base: base.to_ascii_lowercase(),
            keys: Vec::new(),
            text_key: None,
        };
        loop {
            match self.peek() {
                Some(Token::Arrow) if path.text_key.is_none() => {
                    self.at += 1;
                    path.keys.push(self.key(&path)?);
                }
                Some(Token::TextArrow) if path.text_key.is_none() => {
                    self.at += 1;
                    path.text_key = Some(self.key(&path)?);
                }
                _ => return Ok(path),
            }
        }
    }

    fn key(&mut self, path: &FieldPath) -> Result<String, SearchError> {
        match self.next() {
            Some(Token::Str(key)) => Ok(key),
            _ => error(format!("expected a quoted key after `{path}`")),
        }
    }

    fn value(&mut self, field: &FieldPath) -> Result<String, SearchError> {
        self.values += 1;
        if self.values > MAX_VALUES {
            return error(format!("more than {MAX_VALUES} values"));
        }
        match self.next() {
            Some(Token::Str(value)) => Ok(value),
            Some(token) => error(format!(
                "expected a quoted value for `{field}`, found {token} (values are 'single-quoted' strings)"
            )),
            None => error(format!(
                "expected a quoted value for `{field}`, found the end"
            )),
        }
    }

    fn comparison<T: Target>(&mut self) -> Result<Search<T>, SearchError> {
        self.comparisons += 1;
        if self.comparisons > MAX_COMPARISONS {
            return error(format!("more than {MAX_COMPARISONS} comparisons"));
        }
        let path = self.path()?;
        let field = |path: &FieldPath, hub: &str| {
            T::field(path, hub).ok_or_else(|| {
                SearchError(format!(
                    "field `{path}` is not supported (supported: {})",
                    T::SUPPORTED
                ))
            })
        };
        if self.peek() != Some(&Token::Contains) {
            // The field first: what a client most often gets wrong.
            field(&path, self.hub_source_id)?;
        }
        let negated = is_keyword(self.peek(), "not");
        if negated {
            self.at += 1;
            if !is_keyword(self.peek(), "in") {
                return error(format!("`not` after `{path}` must be followed by `in`"));
            }
        }
        match self.next() {
            Some(Token::Eq) => Ok(Search::In {
                field: field(&path, self.hub_source_id)?,
                values: vec![self.value(&path)?],
                negated: false,
            }),
            Some(Token::Ne) if is_keyword(self.peek(), "null") => {
                self.at += 1;
                Ok(Search::Exists {
                    field: field(&path, self.hub_source_id)?,
                })
            }
            Some(Token::Ne) => Ok(Search::In {
                field: field(&path, self.hub_source_id)?,
                values: vec![self.value(&path)?],
                negated: true,
            }),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("in") => {
                let field = field(&path, self.hub_source_id)?;
                self.expect(&Token::Open, "after `in`")?;
                let mut values = vec![self.value(&path)?];
                while self.peek() == Some(&Token::Comma) {
                    self.at += 1;
                    values.push(self.value(&path)?);
                }
                self.expect(&Token::Close, "to close the `in` list")?;
                Ok(Search::In {
                    field,
                    values,
                    negated,
                })
            }
            Some(Token::Contains) => {
                let map = T::map(&path).ok_or_else(|| {
                    SearchError(format!(
                        "`@>` applies to a labels or annotations object, not `{path}`"
                    ))
                })?;
                let document = self.value(&path)?;
                let pairs: Labels = serde_json::from_str(&document).map_err(|_| {
                    SearchError(format!(
                        "`{path} @>` takes a JSON object of string values, not '{document}'"
                    ))
                })?;
                if pairs
                    .iter()
                    .any(|(k, v)| k.contains('\0') || v.contains('\0'))
                {
                    return error("U+0000 is not allowed");
                }
                Ok(Search::Contains { map, pairs })
            }
            Some(token) => error(format!(
                "operator {token} after `{path}` is not supported (supported: =, !=, <>, in, not in, @>)"
            )),
            None => error(format!(
                "expected an operator after `{path}`, found the end"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resources(text: &str) -> Result<Option<Search<ResourceField>>, SearchError> {
        parse::<ResourceField>(text, "hub")
    }

    fn is(field: ResourceField, values: &[&str], negated: bool) -> Search<ResourceField> {
        Search::In {
            field,
            values: values.iter().map(|v| (*v).to_owned()).collect(),
            negated,
        }
    }

    fn source() -> ResourceField {
        ResourceField::Source {
            hub_source_id: "hub".into(),
        }
    }

    fn refused(text: &str) -> String {
        match resources(text) {
            Err(SearchError(reason)) => reason,
            Ok(tree) => panic!("{text:?} parsed as {tree:?}"),
        }
    }

    #[test]
    fn empty_searches_match_everything() {
        assert_eq!(resources("").unwrap(), None);
        assert_eq!(resources("   ").unwrap(), None);
    }

    #[test]
    fn the_searches_maestros_source_client_writes_parse() {
        // grpcsource ToSyncSearch and the watcher store's list.
        assert_eq!(
            resources("source='maestro' and (consumer_name='c1' or consumer_name='c2')").unwrap(),
            Some(Search::And(vec![
                is(source(), &["maestro"], false),
                Search::Or(vec![
                    is(ResourceField::ConsumerName, &["c1"], false),
                    is(ResourceField::ConsumerName, &["c2"], false),
                ]),
            ]))
        );
        // ToLabelSearch: equality as containment, in, not equal, exists.
        let labels = r#"payload->'metadata'->'labels'@>'{"app":"web","tier":"a"}' and payload->'metadata'->'labels'->>'env'in('prod','dev') and payload->'metadata'->'labels'->>'x'<>'y' and payload->'metadata'->'labels'->>'k'<>null"#;
        assert_eq!(
            resources(labels).unwrap(),
            Some(Search::And(vec![
                Search::Contains {
                    map: ResourceMap::Labels,
                    pairs: Labels::from([
                        ("app".into(), "web".into()),
                        ("tier".into(), "a".into())
                    ]),
                },
                is(ResourceField::Label("env".into()), &["prod", "dev"], false),
                is(ResourceField::Label("x".into()), &["y"], true),
                Search::Exists {
                    field: ResourceField::Label("k".into())
                },
            ]))
        );
    }

    #[test]
    fn operators_keywords_and_quotes() {
        assert_eq!(
            resources("NAME NOT IN ('a', 'it''s') Or id != 'x' AND name = 'b'").unwrap(),
            Some(Search::Or(vec![
                is(ResourceField::Name, &["a", "it's"], true),
                Search::And(vec![
                    is(ResourceField::Id, &["x"], true),
                    is(ResourceField::Name, &["b"], false),
                ]),
            ]))
        );
        assert_eq!(
            resources("((name = 'a'))").unwrap(),
            Some(is(ResourceField::Name, &["a"], false))
        );
        assert_eq!(
            resources("payload->'metadata'->'annotations'->>'a/b.c' = 'é'").unwrap(),
            Some(is(ResourceField::Annotation("a/b.c".into()), &["é"], false))
        );
    }

    #[test]
    fn consumers_search_their_own_fields() {
        assert_eq!(
            parse::<ConsumerField>("labels->>'env' = 'prod' and name in ('a')", "hub").unwrap(),
            Some(Search::And(vec![
                Search::In {
                    field: ConsumerField::Label("env".into()),
                    values: vec!["prod".into()],
                    negated: false
                },
                Search::In {
                    field: ConsumerField::Name,
                    values: vec!["a".into()],
                    negated: false
                },
            ]))
        );
        let err = parse::<ConsumerField>("consumer_name = 'a'", "hub").unwrap_err();
        assert!(err.0.contains("`consumer_name` is not supported"), "{err}");
    }

    #[test]
    fn bad_input_is_refused_naming_the_part() {
        for (text, part) in [
            ("name like 'a%'", "`like`"),
            ("version > '1'", "`version` is not supported"),
            ("name < 'a'", "`<`"),
            ("name = 'a' and", "found the end"),
            ("name = a", "found `a`"),
            ("name = 1", "found `1`"),
            ("(name = 'a'", "to close `(`"),
            ("name = 'a')", "unexpected `)`"),
            ("name = 'unterminated", "unterminated value"),
            ("not name = 'a'", "operator `not`"),
            ("name not = 'a'", "must be followed by `in`"),
            ("name in ()", "found `)`"),
            ("name in 'a'", "expected `(` after `in`"),
            ("payload->'spec' = 'a'", "payload->'spec'"),
            ("payload->'metadata'->'labels' = 'a'", "is not supported"),
            ("name @> '{}'", "`@>` applies to a labels"),
            (
                "payload->'metadata'->'labels' @> '[1]'",
                "JSON object of string values",
            ),
            ("name = 'a\0'", "U+0000"),
            ("name is null", "`is`"),
            ("name between 'a' and 'b'", "`between`"),
        ] {
            let reason = refused(text);
            assert!(
                reason.contains(part),
                "{text:?}: {reason:?} does not name {part:?}"
            );
        }
        assert!(
            refused(&format!("{}name = 'a'{}", "(".repeat(40), ")".repeat(40))).contains("deeper")
        );
        let many = vec!["'v'"; 1001].join(",");
        assert!(refused(&format!("name in ({many})")).contains("more than 1000"));
        assert!(refused(&"x".repeat(9000)).contains("longer"));
        let many = vec!["name = 'a'"; 201].join(" or ");
        assert!(refused(&many).contains("more than 200 comparisons"));
        assert!(refused(r#"payload->'metadata'->'labels' @> '{"a":"\u0000"}'"#).contains("U+0000"));
    }
}
