//! A small strict JSON reader for filter configs (the host passes the
//! operator's `config` as JSON, and the SDK has no dependencies, so no
//! serde). RFC 8259 grammar; errors name the byte offset.

use std::fmt;

/// A parsed JSON value. Objects keep their keys in document order.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Value>),
    Object(Vec<(String, Value)>),
}

/// Why a document did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset of the problem.
    pub offset: usize,
    pub msg: &'static str,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid JSON at byte {}: {}", self.offset, self.msg)
    }
}

impl std::error::Error for ParseError {}

/// Nesting deeper than this is refused (keeps recursion bounded).
const MAX_DEPTH: usize = 64;

/// Parse a whole document (surrounding whitespace allowed).
pub fn parse(input: &[u8]) -> Result<Value, ParseError> {
    let mut p = Parser { s: input, i: 0 };
    let v = p.value(0)?;
    p.ws();
    if p.i != input.len() {
        return Err(p.err("trailing characters"));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn err(&self, msg: &'static str) -> ParseError {
        ParseError { offset: self.i, msg }
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn literal(&mut self, word: &[u8], v: Value) -> Result<Value, ParseError> {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(self.err("unknown literal"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, ParseError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        self.ws();
        match self.peek() {
            None => Err(self.err("unexpected end of input")),
            Some(b'n') => self.literal(b"null", Value::Null),
            Some(b't') => self.literal(b"true", Value::Bool(true)),
            Some(b'f') => self.literal(b"false", Value::Bool(false)),
            Some(b'"') => self.string().map(Value::String),
            Some(b'[') => self.array(depth),
            Some(b'{') => self.object(depth),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err("unexpected character")),
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, ParseError> {
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.err("expected ',' or ']'")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, ParseError> {
        self.i += 1;
        let mut fields = Vec::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(Value::Object(fields));
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.err("expected a string key"));
            }
            let key = self.string()?;
            self.ws();
            if self.peek() != Some(b':') {
                return Err(self.err("expected ':'"));
            }
            self.i += 1;
            let v = self.value(depth + 1)?;
            fields.push((key, v));
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Value::Object(fields));
                }
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }

    fn number(&mut self) -> Result<Value, ParseError> {
        let start = self.i;
        let digits = |p: &mut Parser<'_>| {
            let from = p.i;
            while let Some(b'0'..=b'9') = p.peek() {
                p.i += 1;
            }
            p.i - from
        };
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let int_start = self.i;
        let n = digits(self);
        if n == 0 {
            return Err(self.err("expected digits"));
        }
        if n > 1 && self.s[int_start] == b'0' {
            return Err(ParseError { offset: int_start, msg: "leading zero" });
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if digits(self) == 0 {
                return Err(self.err("expected digits after '.'"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if digits(self) == 0 {
                return Err(self.err("expected exponent digits"));
            }
        }
        // The grammar above only admits ASCII that f64 parses.
        let text = std::str::from_utf8(&self.s[start..self.i]).expect("ascii");
        text.parse::<f64>().map(Value::Number).map_err(|_| ParseError { offset: start, msg: "bad number" })
    }

    fn hex4(&mut self) -> Result<u32, ParseError> {
        let h = self.s.get(self.i..self.i + 4).ok_or_else(|| self.err("short \\u escape"))?;
        let text = std::str::from_utf8(h).map_err(|_| self.err("bad \\u escape"))?;
        let v = u32::from_str_radix(text, 16).map_err(|_| self.err("bad \\u escape"))?;
        self.i += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, ParseError> {
        self.i += 1; // opening quote
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.err("unterminated string"));
            };
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(e) = self.peek() else {
                        return Err(self.err("unterminated escape"));
                    };
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return Err(self.err("unknown escape")),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                0..=0x1f => return Err(self.err("control character in string")),
                _ => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|_| self.err("string is not UTF-8"))
    }

    fn unicode_escape(&mut self) -> Result<char, ParseError> {
        let hi = self.hex4()?;
        let code = if (0xd800..0xdc00).contains(&hi) {
            // A high surrogate must be followed by \u and a low surrogate.
            if self.s.get(self.i..self.i + 2) != Some(b"\\u") {
                return Err(self.err("lone surrogate"));
            }
            self.i += 2;
            let lo = self.hex4()?;
            if !(0xdc00..0xe000).contains(&lo) {
                return Err(self.err("bad low surrogate"));
            }
            0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
        } else {
            hi
        };
        char::from_u32(code).ok_or_else(|| self.err("lone surrogate"))
    }
}

/// A filter config read field by field, with errors a constructor can
/// return as its rejection reason:
///
/// ```
/// use sluice_sdk::json::Config;
/// let c = Config::parse(br#"{"key": "k", "ttl": 30}"#, &["key", "ttl", "mode"]).unwrap();
/// assert_eq!(c.string("key").unwrap(), "k");
/// assert_eq!(c.u64_or("ttl", 60).unwrap(), 30);
/// assert_eq!(c.string_or("mode", "fast").unwrap(), "fast");
/// assert_eq!(
///     Config::parse(br#"{"kye": "k"}"#, &["key"]).err().unwrap(),
///     r#"unknown field "kye" (allowed: key)"#
/// );
/// ```
pub struct Config {
    root: Value,
}

impl Config {
    /// Parse `config` (the JSON sluice passes; `null` or empty = no
    /// fields) and refuse any field not in `allowed`: a misspelled field is
    /// an error, not a silent default.
    pub fn parse(config: &[u8], allowed: &[&str]) -> Result<Config, String> {
        let trimmed = config.iter().all(|b| b.is_ascii_whitespace());
        let root = if trimmed { Value::Null } else { parse(config).map_err(|e| format!("config: {e}"))? };
        let root = match root {
            Value::Null => Value::Object(Vec::new()),
            v @ Value::Object(_) => v,
            _ => return Err("config: want a JSON object".to_string()),
        };
        for (k, _) in root.as_object().unwrap_or(&[]) {
            if !allowed.contains(&k.as_str()) {
                return Err(format!("unknown field \"{k}\" (allowed: {})", allowed.join(", ")));
            }
        }
        Ok(Config { root })
    }

    /// The raw value of a field.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.root.get(key)
    }

    /// A required string field.
    pub fn string(&self, key: &str) -> Result<String, String> {
        match self.get(key) {
            None => Err(format!("field \"{key}\" is required")),
            Some(v) => v.as_str().map(str::to_string).ok_or_else(|| format!("field \"{key}\" must be a string")),
        }
    }

    /// An optional string field.
    pub fn string_or(&self, key: &str, default: &str) -> Result<String, String> {
        if self.get(key).is_none() {
            return Ok(default.to_string());
        }
        self.string(key)
    }

    /// An optional non-negative integer field.
    pub fn u64_or(&self, key: &str, default: u64) -> Result<u64, String> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.as_u64().ok_or_else(|| format!("field \"{key}\" must be a non-negative integer")),
        }
    }

    /// An optional boolean field.
    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool, String> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.as_bool().ok_or_else(|| format!("field \"{key}\" must be true or false")),
        }
    }
}

impl Value {
    /// Field `key` of an object (the last one if repeated).
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(fields) => fields.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }
    /// A non-negative integer that fits in u64 exactly.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Number(n) if *n >= 0.0 && n.fract() == 0.0 && *n <= 9_007_199_254_740_992.0 => Some(*n as u64),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
    pub fn as_object(&self) -> Option<&[(String, Value)]> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind() {
        let v =
            parse(br#" {"a": [1, -2.5e1, true, false, null], "s": "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00", "o": {}} "#)
                .unwrap();
        assert_eq!(
            v.get("a").unwrap().as_array().unwrap(),
            &[Value::Number(1.0), Value::Number(-25.0), Value::Bool(true), Value::Bool(false), Value::Null]
        );
        assert_eq!(v.get("s").unwrap().as_str().unwrap(), "x\"\\/\u{8}\u{c}\n\r\té😀");
        assert_eq!(v.get("o").unwrap().as_object().unwrap().len(), 0);
        assert_eq!(v.get("missing"), None);
    }

    #[test]
    fn accessors() {
        let v = parse(br#"{"n": 3, "f": 1.5, "neg": -1, "b": true, "k": 1, "k": 2}"#).unwrap();
        assert_eq!(v.get("n").unwrap().as_u64(), Some(3));
        assert_eq!(v.get("f").unwrap().as_u64(), None);
        assert_eq!(v.get("neg").unwrap().as_u64(), None);
        assert_eq!(v.get("f").unwrap().as_f64(), Some(1.5));
        assert_eq!(v.get("b").unwrap().as_bool(), Some(true));
        assert_eq!(v.get("k").unwrap().as_u64(), Some(2), "last duplicate wins");
        assert!(parse(b"null").unwrap().is_null());
    }

    #[test]
    fn rejects_with_offsets() {
        let cases: &[(&[u8], usize, &str)] = &[
            (b"", 0, "unexpected end of input"),
            (b"{", 1, "expected a string key"),
            (b"[1,]", 3, "unexpected character"),
            (b"[1 2]", 3, "expected ',' or ']'"),
            (b"{\"a\" 1}", 5, "expected ':'"),
            (b"{\"a\":1,}", 7, "expected a string key"),
            (b"01", 0, "leading zero"),
            (b"1.", 2, "expected digits after '.'"),
            (b"1e", 2, "expected exponent digits"),
            (b"-", 1, "expected digits"),
            (b"tru", 0, "unknown literal"),
            (b"\"abc", 4, "unterminated string"),
            (b"\"a\x01\"", 3, "control character in string"),
            (b"\"\\x\"", 3, "unknown escape"),
            (b"\"\\ud800\"", 7, "lone surrogate"),
            (b"\"\\ud800\\u0041\"", 13, "bad low surrogate"),
            (b"\"\\u12\"", 3, "short \\u escape"),
            (b"\"\\u12zz\"", 3, "bad \\u escape"),
            (b"1 2", 2, "trailing characters"),
            (b"\"\xff\"", 3, "string is not UTF-8"),
        ];
        for (input, offset, msg) in cases {
            assert_eq!(
                parse(input),
                Err(ParseError { offset: *offset, msg }),
                "input {:?}",
                String::from_utf8_lossy(input)
            );
        }
        assert_eq!(parse(b"1 2").unwrap_err().to_string(), "invalid JSON at byte 2: trailing characters");
    }

    #[test]
    fn depth_is_bounded() {
        let deep = "[".repeat(MAX_DEPTH + 2);
        assert_eq!(parse(deep.as_bytes()).unwrap_err().msg, "nesting too deep");
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(ok.as_bytes()).is_ok());
    }

    /// A tiny deterministic generator (xorshift) for the round-trip test.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn random_string(r: &mut Rng) -> String {
        let pool = ['a', 'Z', '0', ' ', '"', '\\', '/', '\n', '\t', '\u{1}', '\u{1f}', 'é', '€', '😀', '\u{ffff}'];
        (0..r.below(8)).map(|_| pool[r.below(pool.len() as u64) as usize]).collect()
    }

    fn random_value(r: &mut Rng, depth: usize) -> Value {
        match r.below(if depth > 4 { 4 } else { 6 }) {
            0 => Value::Null,
            1 => Value::Bool(r.below(2) == 0),
            2 => {
                let n = (r.next() % 2_000_001) as f64 - 1_000_000.0;
                Value::Number(if r.below(2) == 0 { n } else { n / 1024.0 })
            }
            3 => Value::String(random_string(r)),
            4 => Value::Array((0..r.below(4)).map(|_| random_value(r, depth + 1)).collect()),
            _ => Value::Object((0..r.below(4)).map(|_| (random_string(r), random_value(r, depth + 1))).collect()),
        }
    }

    /// Serialize with escapes (\uXXXX for controls, surrogate pairs for
    /// astral characters half the time) and random whitespace.
    fn write(v: &Value, r: &mut Rng, out: &mut String) {
        let ws = |r: &mut Rng, out: &mut String| {
            for _ in 0..r.below(3) {
                out.push([' ', '\n', '\t', '\r'][r.below(4) as usize]);
            }
        };
        ws(r, out);
        match v {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => out.push_str(&n.to_string()),
            Value::String(s) => write_str(s, r, out),
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, r, out);
                }
                ws(r, out);
                out.push(']');
            }
            Value::Object(fields) => {
                out.push('{');
                for (i, (k, item)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    ws(r, out);
                    write_str(k, r, out);
                    ws(r, out);
                    out.push(':');
                    write(item, r, out);
                }
                ws(r, out);
                out.push('}');
            }
        }
        ws(r, out);
    }

    fn write_str(s: &str, r: &mut Rng, out: &mut String) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c if (c as u32) > 0xffff && r.below(2) == 0 => {
                    let v = c as u32 - 0x10000;
                    out.push_str(&format!("\\u{:04X}\\u{:04x}", 0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff)));
                }
                c if (c as u32) <= 0xffff && r.below(4) == 0 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
    }

    #[test]
    fn random_documents_round_trip() {
        let mut r = Rng(0x9e3779b97f4a7c15);
        for _ in 0..2000 {
            let v = random_value(&mut r, 0);
            let mut text = String::new();
            write(&v, &mut r, &mut text);
            assert_eq!(parse(text.as_bytes()).as_ref(), Ok(&v), "document {text:?}");
        }
    }
}
