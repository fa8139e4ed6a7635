//! The `WWW-Authenticate` grammar (RFC 9110 §11.6.1, §11.2, §5.6).

use std::collections::HashSet;

use super::{Challenge, HEADER};
use crate::error::{ProtocolError, Result};

/// Parses a `WWW-Authenticate` field value into its challenges (RFC 9110 §11.6.1, §11.2).
///
/// The full grammar: several challenges in one value, each an auth-scheme followed by a token68
/// or a comma-separated list of auth-params (`name = token` or `name = "quoted \"string\""`),
/// with optional whitespace around commas and `=`, and empty list elements tolerated
/// (RFC 9110 §5.6.1). Parameter names are lowercased. An empty value gives no challenges.
///
/// RFC 9110 §11.2 says each parameter name MUST occur only once per challenge; a duplicate is
/// refused rather than resolved, since either choice of value could be the one an intermediary
/// injected.
///
/// ```
/// use mcpauth_core::challenge::parse_www_authenticate;
/// let cs = parse_www_authenticate(r#"Basic realm="x", Bearer error="invalid_token", scope="a b""#)?;
/// assert_eq!(cs.len(), 2);
/// assert_eq!(cs[1].param("Scope"), Some("a b"));
/// # Ok::<(), mcpauth_core::Error>(())
/// ```
///
/// # Errors
/// [`ProtocolError::InvalidHeader`] naming what was expected and at which byte offset: an
/// unterminated quoted-string, a parameter without `=` or without a value, `=` without a name,
/// a duplicate parameter, or anything else after a value.
pub fn parse_www_authenticate(header: &str) -> Result<Vec<Challenge>> {
    let mut parser = Parser { s: header, pos: 0 };
    let mut challenges = Vec::new();
    loop {
        parser.skip_separators();
        if parser.peek().is_none() {
            return Ok(challenges);
        }
        challenges.push(parser.challenge()?);
    }
}

/// A cursor over the header's bytes. Every stop is at an ASCII delimiter or the end, so byte
/// offsets are always char boundaries; all access goes through `get`, so nothing can panic.
struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.peek_at(self.pos)
    }

    fn peek_at(&self, at: usize) -> Option<u8> {
        self.s.as_bytes().get(at).copied()
    }

    /// Skips OWS (RFC 9110 §5.6.3).
    fn skip_ows(&mut self) {
        self.pos = self.ows_end(self.pos);
    }

    fn ows_end(&self, mut at: usize) -> usize {
        while matches!(self.peek_at(at), Some(b' ' | b'\t')) {
            at += 1;
        }
        at
    }

    /// Skips OWS and commas: list separators and empty list elements (RFC 9110 §5.6.1).
    fn skip_separators(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.pos += 1;
        }
    }

    /// Whether the current list element ends here (end of input or a comma).
    fn at_element_end(&self) -> bool {
        matches!(self.peek(), None | Some(b','))
    }

    fn token_end(&self, mut at: usize) -> usize {
        while self.peek_at(at).is_some_and(is_tchar) {
            at += 1;
        }
        at
    }

    /// Consumes a token (RFC 9110 §5.6.2); empty when none starts here.
    fn token(&mut self) -> &'a str {
        let start = self.pos;
        self.pos = self.token_end(start);
        self.s.get(start..self.pos).unwrap_or_default()
    }

    fn challenge(&mut self) -> Result<Challenge> {
        let scheme = self.token();
        if scheme.is_empty() {
            return Err(self.unexpected("an auth-scheme"));
        }
        let mut challenge = Challenge {
            scheme: scheme.to_owned(),
            ..Challenge::default()
        };
        if self.at_element_end() {
            return Ok(challenge);
        }
        if !matches!(self.peek(), Some(b' ' | b'\t')) {
            return Err(self.unexpected(&format!("a space or `,` after auth-scheme `{scheme}`")));
        }
        self.skip_ows();
        if self.at_element_end() {
            return Ok(challenge);
        }
        if let Some(token68) = self.token68() {
            challenge.token68 = Some(token68.to_owned());
            return Ok(challenge);
        }
        self.params(&mut challenge)?;
        Ok(challenge)
    }

    /// Consumes a token68 (RFC 9110 §11.2) if the rest of the list element is exactly one.
    fn token68(&mut self) -> Option<&'a str> {
        let start = self.pos;
        let mut end = start;
        while self.peek_at(end).is_some_and(is_token68_char) {
            end += 1;
        }
        if end == start {
            return None;
        }
        while self.peek_at(end) == Some(b'=') {
            end += 1;
        }
        let after = self.ows_end(end);
        if !matches!(self.peek_at(after), None | Some(b',')) {
            return None;
        }
        self.pos = after;
        self.s.get(start..end)
    }

    /// Consumes the auth-param list of one challenge, up to the next challenge or the end.
    fn params(&mut self, challenge: &mut Challenge) -> Result<()> {
        // A set, not a scan of `params`: a hostile header may carry very many parameters.
        let mut seen = HashSet::new();
        loop {
            let (at, name, value) = self.param()?;
            if !seen.insert(name.clone()) {
                return Err(invalid(format!(
                    "parameter `{name}` at byte {at} occurs twice in one challenge"
                )));
            }
            self.skip_ows();
            if !self.at_element_end() {
                return Err(self.unexpected(&format!("`,` or the end after parameter `{name}`")));
            }
            challenge.params.push((name, value));
            self.skip_separators();
            if !self.param_follows() {
                return Ok(());
            }
        }
    }

    /// Whether an auth-param (`token BWS "="`) starts here, rather than the next challenge.
    fn param_follows(&self) -> bool {
        let end = self.token_end(self.pos);
        end > self.pos && self.peek_at(self.ows_end(end)) == Some(b'=')
    }

    /// Consumes `token BWS "=" BWS ( token / quoted-string )`; returns where the name started.
    fn param(&mut self) -> Result<(usize, String, String)> {
        let at = self.pos;
        let name = self.token().to_ascii_lowercase();
        if name.is_empty() {
            return Err(self.unexpected("a parameter name"));
        }
        self.skip_ows();
        if self.peek() != Some(b'=') {
            return Err(self.unexpected(&format!("`=` after parameter `{name}`")));
        }
        self.pos += 1;
        self.skip_ows();
        let value = if self.peek() == Some(b'"') {
            self.quoted_string()?
        } else {
            let value = self.token();
            if value.is_empty() {
                return Err(self.unexpected(&format!("a value for parameter `{name}`")));
            }
            value.to_owned()
        };
        Ok((at, name, value))
    }

    /// Consumes a quoted-string and returns its unescaped content (RFC 9110 §5.6.4).
    fn quoted_string(&mut self) -> Result<String> {
        let start = self.pos;
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => {
                    return Err(invalid(format!(
                        "unterminated quoted-string starting at byte {start}"
                    )));
                }
                Some(b'"') => break,
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b) if is_quoted_pair_char(b) => out.push(b),
                        None => {
                            return Err(invalid(format!(
                                "unterminated quoted-string starting at byte {start}"
                            )));
                        }
                        Some(_) => return Err(self.unexpected("an escapable character after `\\`")),
                    }
                }
                Some(b) if is_qdtext(b) => out.push(b),
                Some(_) => return Err(self.unexpected("quoted-string text or `\"`")),
            }
            self.pos += 1;
        }
        self.pos += 1;
        // Only ASCII quotes and backslashes were dropped, so the bytes are still UTF-8.
        String::from_utf8(out).map_err(|_| {
            invalid(format!(
                "quoted-string starting at byte {start} is not UTF-8"
            ))
        })
    }

    /// An error naming what was expected, where, and what was found instead.
    fn unexpected(&self, expected: &str) -> crate::Error {
        let found = match self.s.get(self.pos..).map(|rest| rest.chars().next()) {
            Some(Some(c)) if c.is_control() => format!("`{}`", c.escape_debug()),
            Some(Some(c)) => format!("`{c}`"),
            Some(None) => "the end".to_owned(),
            // Unreachable: every stop is at a char boundary (see `Parser`).
            None => "part of a character".to_owned(),
        };
        invalid(format!(
            "expected {expected} at byte {}, found {found}",
            self.pos
        ))
    }
}

fn invalid(reason: String) -> crate::Error {
    ProtocolError::InvalidHeader {
        header: HEADER,
        reason,
    }
    .into()
}

/// `tchar` (RFC 9110 §5.6.2).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The characters of a token68 before its `=` padding (RFC 9110 §11.2).
fn is_token68_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)
}

/// `qdtext` (RFC 9110 §5.6.4); bytes of non-ASCII characters count as `obs-text`.
fn is_qdtext(b: u8) -> bool {
    matches!(b, b'\t' | b' ' | 0x21 | 0x23..=0x5B | 0x5D..=0x7E | 0x80..=0xFF)
}

/// What may follow `\` in a `quoted-pair` (RFC 9110 §5.6.4).
fn is_quoted_pair_char(b: u8) -> bool {
    matches!(b, b'\t' | 0x20..=0x7E | 0x80..=0xFF)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::challenge::BearerChallenge;
    use crate::challenge::tests::{params, parse};

    fn reason(header: &str) -> String {
        match parse_www_authenticate(header).unwrap_err() {
            crate::Error::Protocol(ProtocolError::InvalidHeader { header, reason }) => {
                assert_eq!(header, "WWW-Authenticate");
                reason
            }
            other => panic!("unexpected error {other:?}"),
        }
    }

    #[test]
    fn rfc9110_example_with_several_challenges_and_escapes() {
        let cs = parse(
            r#"Basic realm="simple", Newauth realm="apps", type=1, title="Login to \"apps\"""#,
        );
        assert_eq!(cs.len(), 2);
        assert_eq!(cs[0].scheme, "Basic");
        assert_eq!(cs[0].params, params(&[("realm", "simple")]));
        assert_eq!(cs[1].scheme, "Newauth");
        assert_eq!(
            cs[1].params,
            params(&[
                ("realm", "apps"),
                ("type", "1"),
                ("title", r#"Login to "apps""#)
            ])
        );
    }

    #[test]
    fn challenges_without_params_and_empty_elements_are_tolerated() {
        let cs = parse(r#" , Basic,, Bearer realm="a",, scope="b" ,Digest , "#);
        let schemes: Vec<_> = cs.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["Basic", "Bearer", "Digest"]);
        assert!(cs[0].params.is_empty());
        assert_eq!(cs[1].params, params(&[("realm", "a"), ("scope", "b")]));
        assert!(parse("").is_empty());
        assert!(parse(" ,\t, ").is_empty());
    }

    #[test]
    fn quoted_pairs_unescape_any_character() {
        let cs = parse(r#"Bearer a="a\"b", b="back\\slash", c="\x\ y", d="", e="é ü""#);
        assert_eq!(
            cs[0].params,
            params(&[
                ("a", "a\"b"),
                ("b", "back\\slash"),
                ("c", "x y"),
                ("d", ""),
                ("e", "é ü")
            ])
        );
    }

    #[test]
    fn token68_is_recognised_and_distinct_from_params() {
        let cs = parse("Negotiate abc+/==, Basic realm=x, Other abc");
        assert_eq!(cs[0].token68.as_deref(), Some("abc+/=="));
        assert!(cs[0].params.is_empty());
        assert_eq!(cs[1].token68, None);
        assert_eq!(cs[1].params, params(&[("realm", "x")]));
        assert_eq!(cs[2].token68.as_deref(), Some("abc"));
        // A trailing `=` is token68 padding, not an empty parameter.
        assert_eq!(parse("X a= ")[0].token68.as_deref(), Some("a="));
    }

    #[test]
    fn names_are_case_insensitive_and_stored_lowercase() {
        let cs = parse(r#"bEaReR Realm="x", SCOPE=y"#);
        assert!(cs[0].is_bearer());
        assert_eq!(cs[0].scheme, "bEaReR");
        assert_eq!(cs[0].params, params(&[("realm", "x"), ("scope", "y")]));
        assert_eq!(cs[0].param("ReAlM"), Some("x"));
        let bearer = BearerChallenge::from_challenge(&cs[0]).unwrap();
        assert_eq!(bearer.scope.as_deref(), Some("y"));
    }

    #[test]
    fn tabs_count_as_whitespace() {
        let cs = parse("Bearer\trealm\t=\t\"x\"\t,\tscope=y");
        assert_eq!(cs[0].params, params(&[("realm", "x"), ("scope", "y")]));
    }

    #[test]
    fn unterminated_quote_is_refused_with_its_offset() {
        let r = reason(r#"Bearer realm="abc"#);
        assert_eq!(r, "unterminated quoted-string starting at byte 13");
        let r = reason(r#"Bearer realm="abc\"#);
        assert!(
            r.contains("unterminated quoted-string starting at byte 13"),
            "{r}"
        );
    }

    #[test]
    fn missing_equals_is_refused() {
        let r = reason(r#"Bearer realm "x""#);
        assert_eq!(
            r,
            "expected `=` after parameter `realm` at byte 13, found `\"`"
        );
    }

    #[test]
    fn equals_without_name_is_refused() {
        let r = reason(r#"Bearer ="x""#);
        assert_eq!(r, "expected a parameter name at byte 7, found `=`");
        let r = reason(r#"Bearer a=b, ="x""#);
        assert!(r.starts_with("expected an auth-scheme at byte 12"), "{r}");
    }

    #[test]
    fn missing_value_is_refused() {
        let r = reason(r#"Bearer realm="x", scope=, error="y""#);
        assert_eq!(
            r,
            "expected a value for parameter `scope` at byte 24, found `,`"
        );
    }

    #[test]
    fn trailing_garbage_is_refused() {
        let r = reason(r#"Bearer realm="x" junk"#);
        assert_eq!(
            r,
            "expected `,` or the end after parameter `realm` at byte 17, found `j`"
        );
        let r = reason(r#"Basic realm="x";"#);
        assert!(r.contains("found `;`"), "{r}");
        let r = reason(r#"Bearer"x""#);
        assert!(r.contains("after auth-scheme `Bearer` at byte 6"), "{r}");
        let r = reason("Bearer realm=https://x.example/");
        assert!(r.contains("at byte 18, found `:`"), "{r}");
    }

    #[test]
    fn control_characters_are_refused() {
        let r = reason("Bearer realm=\"a\nb\"");
        assert!(r.contains("found `\\n`"), "{r}");
        let r = reason("Bearer realm=\"a\\\u{7f}\"");
        assert!(r.contains("escapable character"), "{r}");
    }

    #[test]
    fn duplicate_parameters_are_refused() {
        let r = reason(r#"Bearer scope="a", Scope="b""#);
        assert_eq!(
            r,
            "parameter `scope` at byte 18 occurs twice in one challenge"
        );
        // The same name in different challenges is fine.
        assert_eq!(parse(r#"Basic realm="a", Bearer realm="b""#).len(), 2);
    }

    #[test]
    fn offsets_count_bytes_of_non_ascii_text() {
        let r = reason("Bearer a=\"é\" é");
        assert_eq!(
            r,
            "expected `,` or the end after parameter `a` at byte 14, found `é`"
        );
    }

    /// Renders a value as a quoted-string, escaping `"` and `\`.
    fn quote(value: &str) -> String {
        let mut out = String::from("\"");
        for c in value.chars() {
            if matches!(c, '"' | '\\') {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
        out
    }

    fn challenge_strategy() -> impl Strategy<Value = Challenge> {
        let scheme = "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}";
        let param = ("[a-z0-9_-]{1,10}", "[ -~\t\u{a0}-\u{10ffff}]{0,24}");
        let token68 = proptest::option::of("[A-Za-z0-9._~+/-]{1,10}={0,2}");
        (scheme, token68, proptest::collection::vec(param, 0..5)).prop_map(
            |(scheme, token68, raw)| {
                let mut params: Vec<(String, String)> = Vec::new();
                if token68.is_none() {
                    for (name, value) in raw {
                        if params.iter().all(|(n, _)| *n != name) {
                            params.push((name, value));
                        }
                    }
                }
                Challenge {
                    scheme,
                    token68,
                    params,
                }
            },
        )
    }

    /// Renders challenges as a header value; names in upper case, values always quoted.
    fn render(challenges: &[Challenge], sep: &str, bws: &str) -> String {
        let rendered: Vec<String> = challenges
            .iter()
            .map(|c| {
                let params: Vec<String> = c
                    .params
                    .iter()
                    .map(|(n, v)| format!("{}{bws}={bws}{}", n.to_uppercase(), quote(v)))
                    .collect();
                match &c.token68 {
                    Some(t) => format!("{} {t}", c.scheme),
                    None if params.is_empty() => c.scheme.clone(),
                    None => format!("{} {}", c.scheme, params.join(sep)),
                }
            })
            .collect();
        rendered.join(sep)
    }

    #[test]
    fn many_parameters_parse_in_linear_time() {
        let params: Vec<String> = (0..50_000).map(|i| format!("p{i}=v")).collect();
        let header = format!("Bearer {}", params.join(","));
        let cs = parse(&header);
        assert_eq!(cs[0].params.len(), 50_000);
        let r = reason(&format!("{header}, p49999=w"));
        assert!(r.contains("`p49999`") && r.contains("occurs twice"), "{r}");
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics(s in any::<String>()) {
            let _ = parse_www_authenticate(&s);
        }

        #[test]
        fn header_like_input_never_panics(s in "[a-zA-Z0-9=\",\\\\ \t;/+é\u{7f}\n]{0,48}") {
            let _ = parse_www_authenticate(&s);
        }

        #[test]
        fn rendered_challenges_parse_back(
            challenges in proptest::collection::vec(challenge_strategy(), 0..4),
            sep in prop::sample::select(vec![",", ", ", " ,\t", ",,  ,"]),
            bws in prop::sample::select(vec!["", " ", "\t "]),
        ) {
            let header = render(&challenges, sep, bws);
            prop_assert_eq!(parse_www_authenticate(&header).unwrap(), challenges);
        }
    }
}
