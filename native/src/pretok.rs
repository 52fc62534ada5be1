//! GPT-2 pre-tokenization, hand-written.
//!
//! Semantics are those of the regex (leftmost-first alternation)
//!
//! ```text
//! 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//! ```
//!
//! A regex engine spends most of its time here on generic machinery; a direct
//! scanner with an ASCII table is several times faster and easy to check
//! against tiktoken. Every character falls in exactly one of four classes
//! (letter, number, white space, other), so each alternative is "a run of one
//! class", optionally preceded by one ASCII space. The Unicode classes are not
//! hard-coded: they come from regex-syntax at start-up, i.e. the same Unicode
//! tables the `regex` crate (and so tiktoken's fancy-regex) uses.

use regex_syntax::hir::{Class as HirClass, HirKind};
use regex_syntax::ParserBuilder;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Letter,
    Number,
    Space,
    Other,
}

pub struct PreTokenizer {
    /// Class of every ASCII byte: the fast path for English text.
    ascii: [Class; 128],
    /// Sorted, disjoint inclusive code point ranges of \p{L}, \p{N} and \s;
    /// anything not covered is `Other`.
    ranges: Vec<(u32, u32, Class)>,
}

/// The inclusive code point ranges of a one-class regex such as `\p{L}`.
fn class_ranges(pattern: &str) -> Result<Vec<(u32, u32)>, String> {
    let hir = ParserBuilder::new()
        .unicode(true)
        .build()
        .parse(pattern)
        .map_err(|e| format!("internal error: cannot parse {pattern}: {e}"))?;
    match hir.kind() {
        HirKind::Class(HirClass::Unicode(cls)) => {
            Ok(cls.ranges().iter().map(|r| (r.start() as u32, r.end() as u32)).collect())
        }
        _ => Err(format!("internal error: {pattern} is not a Unicode class")),
    }
}

impl PreTokenizer {
    pub fn new() -> Result<PreTokenizer, String> {
        let mut ranges = Vec::new();
        for (pattern, class) in [(r"\p{L}", Class::Letter), (r"\p{N}", Class::Number), (r"\s", Class::Space)] {
            ranges.extend(class_ranges(pattern)?.into_iter().map(|(a, b)| (a, b, class)));
        }
        ranges.sort_unstable_by_key(|r| r.0);
        // Letters, numbers and white space are disjoint Unicode categories; if a
        // future table broke that, the four-class scanner would be wrong.
        if ranges.windows(2).any(|w| w[0].1 >= w[1].0) {
            return Err("internal error: \\p{L}, \\p{N} and \\s overlap".to_string());
        }
        let mut pt = PreTokenizer { ascii: [Class::Other; 128], ranges };
        for b in 0..128u32 {
            pt.ascii[b as usize] = pt.lookup(b);
        }
        Ok(pt)
    }

    fn lookup(&self, cp: u32) -> Class {
        let i = self.ranges.partition_point(|r| r.1 < cp);
        match self.ranges.get(i) {
            Some(&(start, _, class)) if start <= cp => class,
            _ => Class::Other,
        }
    }

    /// Class of `c`, exposed for tests.
    #[cfg(test)]
    pub fn class_of(&self, c: char) -> Class {
        if c.is_ascii() {
            self.ascii[c as usize]
        } else {
            self.lookup(c as u32)
        }
    }

    /// Class and byte length of the character starting at byte `i` of `s`.
    #[inline(always)]
    fn class_at(&self, s: &[u8], i: usize) -> (Class, usize) {
        let b0 = s[i];
        if b0 < 0x80 {
            return (self.ascii[b0 as usize], 1);
        }
        // `s` is valid UTF-8 (it came from a &str) and `i` is a char boundary.
        let cont = |k: usize| u32::from(s[i + k] & 0x3F);
        let b0 = u32::from(b0);
        let (cp, len) = if b0 < 0xE0 {
            (((b0 & 0x1F) << 6) | cont(1), 2)
        } else if b0 < 0xF0 {
            (((b0 & 0x0F) << 12) | (cont(1) << 6) | cont(2), 3)
        } else {
            (((b0 & 0x07) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3), 4)
        };
        (self.lookup(cp), len)
    }

    /// End of the run of `class` characters starting at `i`.
    #[inline(always)]
    fn run_end(&self, s: &[u8], mut i: usize, class: Class) -> usize {
        while i < s.len() {
            let (c, len) = self.class_at(s, i);
            if c != class {
                break;
            }
            i += len;
        }
        i
    }

    /// End (exclusive byte index) of the pre-token that starts at byte `i`
    /// (`i < s.len()`, a char boundary of valid UTF-8).
    #[inline]
    pub fn token_end(&self, s: &[u8], i: usize) -> usize {
        let b = s[i];
        // 's 't 're 've 'm 'll 'd: tried first, case-sensitive, no prefix of
        // another, so their order does not matter.
        if b == b'\'' {
            match (s.get(i + 1), s.get(i + 2)) {
                (Some(b's' | b't' | b'm' | b'd'), _) => return i + 2,
                (Some(b'r' | b'v'), Some(b'e')) | (Some(b'l'), Some(b'l')) => return i + 3,
                _ => {}
            }
        }
        // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an ASCII space joins the
        // run that follows it unless that run is white space.
        if b == b' ' && i + 1 < s.len() {
            let (next, len) = self.class_at(s, i + 1);
            if next != Class::Space {
                return self.run_end(s, i + 1 + len, next);
            }
        }
        let (class, len) = self.class_at(s, i);
        if class != Class::Space {
            return self.run_end(s, i + len, class);
        }
        // `\s+(?!\S)`: the whole white-space run if it ends the text; otherwise
        // backtrack one character so the last one can lead the next token. A
        // single white-space character before non-space falls to `\s+`.
        let mut last = i;
        let mut j = i + len;
        while j < s.len() {
            let (c, l) = self.class_at(s, j);
            if c != Class::Space {
                break;
            }
            last = j;
            j += l;
        }
        if j == s.len() || last == i {
            j
        } else {
            last
        }
    }

    /// Iterator over the `(start, end)` byte spans of the pre-tokens of `text`.
    pub fn words<'a>(&'a self, text: &'a str) -> Words<'a> {
        Words { pt: self, s: text.as_bytes(), pos: 0 }
    }
}

pub struct Words<'a> {
    pt: &'a PreTokenizer,
    s: &'a [u8],
    pos: usize,
}

impl Iterator for Words<'_> {
    type Item = (usize, usize);

    #[inline]
    fn next(&mut self) -> Option<(usize, usize)> {
        if self.pos >= self.s.len() {
            return None;
        }
        let start = self.pos;
        self.pos = self.pt.token_end(self.s, start);
        Some((start, self.pos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Vec<&str> {
        let pt = PreTokenizer::new().unwrap();
        pt.words(text).map(|(a, b)| &text[a..b]).collect()
    }

    #[test]
    fn classes_come_from_unicode_tables() {
        let pt = PreTokenizer::new().unwrap();
        assert_eq!(pt.class_of('a'), Class::Letter);
        assert_eq!(pt.class_of('7'), Class::Number);
        assert_eq!(pt.class_of('\t'), Class::Space);
        assert_eq!(pt.class_of('\r'), Class::Space);
        assert_eq!(pt.class_of('\''), Class::Other);
        assert_eq!(pt.class_of('é'), Class::Letter);
        assert_eq!(pt.class_of('日'), Class::Letter);
        assert_eq!(pt.class_of('½'), Class::Number);
        assert_eq!(pt.class_of('٣'), Class::Number);
        assert_eq!(pt.class_of('\u{a0}'), Class::Space);
        assert_eq!(pt.class_of('\u{3000}'), Class::Space);
        assert_eq!(pt.class_of('\u{200b}'), Class::Other); // zero-width space is Cf
        assert_eq!(pt.class_of('\u{94d}'), Class::Other); // Devanagari virama is Mn
        assert_eq!(pt.class_of('😀'), Class::Other);
        assert_eq!(pt.class_of('𝐀'), Class::Letter); // astral letter
    }

    #[test]
    fn words_and_spaces() {
        assert_eq!(split("Hello world"), ["Hello", " world"]);
        assert_eq!(split("Hello, world!"), ["Hello", ",", " world", "!"]);
        assert_eq!(split(" lead"), [" lead"]);
        assert_eq!(split("a 123 4b"), ["a", " 123", " 4", "b"]);
        assert_eq!(split("x ... y"), ["x", " ...", " y"]);
        assert_eq!(split(""), Vec::<&str>::new());
    }

    #[test]
    fn contractions() {
        assert_eq!(
            split("I'm you're he'll it's we've I'd can't"),
            ["I", "'m", " you", "'re", " he", "'ll", " it", "'s", " we", "'ve", " I", "'d", " can", "'t"]
        );
        // Case-sensitive, and only at the start of a token.
        assert_eq!(split("IT'S"), ["IT", "'", "S"]);
        assert_eq!(split("'sup"), ["'s", "up"]);
        assert_eq!(split(" 's"), [" '", "s"]);
        assert_eq!(split("..'s"), ["..'", "s"]);
        assert_eq!(split("'x"), ["'", "x"]);
        assert_eq!(split("'"), ["'"]);
        assert_eq!(split("'l"), ["'", "l"]);
        assert_eq!(split("'lll"), ["'ll", "l"]);
    }

    #[test]
    fn whitespace_runs() {
        assert_eq!(split("a  b"), ["a", " ", " b"]);
        assert_eq!(split("a   b"), ["a", "  ", " b"]);
        assert_eq!(split("a \tb"), ["a", " ", "\t", "b"]);
        assert_eq!(split("a\t b"), ["a", "\t", " b"]);
        assert_eq!(split("a\tb"), ["a", "\t", "b"]);
        assert_eq!(split("a   "), ["a", "   "]);
        assert_eq!(split("   "), ["   "]);
        assert_eq!(split(" "), [" "]);
        let long = format!("x{}y", " \t".repeat(3000));
        let w = split(&long);
        assert_eq!(w.len(), 4);
        assert_eq!(w[1].len(), 5999);
        assert_eq!(w[2], "\t");
        assert_eq!(w[3], "y");
    }

    #[test]
    fn crlf_and_stray_carriage_returns() {
        assert_eq!(split("line\r"), ["line", "\r"]);
        assert_eq!(split("a\rb"), ["a", "\r", "b"]);
        assert_eq!(split("a \r\n b"), ["a", " \r\n", " b"]);
        assert_eq!(split("a\r\r"), ["a", "\r\r"]);
    }

    #[test]
    fn unicode_text() {
        assert_eq!(split("日本語のテキスト"), ["日本語のテキスト"]);
        assert_eq!(split("中文，句子。"), ["中文", "，", "句子", "。"]);
        assert_eq!(split("hi 😀😀 there"), ["hi", " 😀😀", " there"]);
        assert_eq!(split("👍🏽!"), ["👍🏽!"]);
        // Devanagari: letters and combining marks (class Other) alternate.
        assert_eq!(split("नमस्ते दुनिया"), ["नमस", "्", "त", "े", " द", "ु", "न", "ि", "य", "ा"]);
        assert_eq!(split("a\u{3000}b"), ["a", "\u{3000}", "b"]);
        assert_eq!(split("a\u{a0}\u{a0}b"), ["a", "\u{a0}", "\u{a0}", "b"]);
        assert_eq!(split("café 42½"), ["café", " 42½"]);
    }
}
