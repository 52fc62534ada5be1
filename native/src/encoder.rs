//! Encoding one item (one corpus line): UTF-8 check, pre-tokenization, word
//! cache, BPE, offsets. Schedulers call `Encoder::encode` from their workers.

use crate::bpe::merge_word;
use crate::cache::{word_hash, SlotData, Slots};
use crate::pretok::PreTokenizer;
use crate::vocab::Vocab;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// One input of a batch: a corpus line as raw bytes (it may be invalid UTF-8;
/// the worker that encodes it finds out) and its 1-based line number.
#[derive(Clone, Copy, Debug)]
pub struct Item<'a> {
    pub line: usize,
    pub bytes: &'a [u8],
}

/// The per-item result, shaped like the part of upstream's `Encoding` that
/// costs: token ids and the byte span of each token within the line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Encoding {
    pub ids: Vec<u32>,
    pub offsets: Vec<(u32, u32)>,
}

/// An item that is not valid UTF-8. `byte` is the 0-based offset, within the
/// line, of the first byte that is not part of a valid UTF-8 sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodeError {
    pub line: usize,
    pub byte: usize,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "corpus line {} is not valid UTF-8 (byte {})", self.line, self.byte)
    }
}

impl std::error::Error for EncodeError {}

/// The target of `--contend`: one counter every worker hits, deliberately NOT
/// padded or per-thread, so that each add is a cache-line transfer between cores.
pub static CONTENDED: AtomicU64 = AtomicU64::new(0);

pub struct Encoder {
    vocab: Vocab,
    pretok: PreTokenizer,
    /// Atomic adds on `CONTENDED` after each item (`--contend`; 0 = none).
    pub contend: usize,
    /// One slot per worker; see `cache.rs` and the schedulers for who may use
    /// which slot when.
    pub slots: Slots,
}

impl Encoder {
    pub fn new(vocab: Vocab, pretok: PreTokenizer, slots: usize) -> Encoder {
        Encoder { vocab, pretok, contend: 0, slots: Slots::new(slots) }
    }

    /// Encodes one item using the given worker slot's cache and scratch, or
    /// uncached with fresh scratch when `slot` is `None`.
    pub fn encode(&self, slot: Option<&mut SlotData>, item: &Item<'_>) -> Result<Encoding, EncodeError> {
        let text =
            std::str::from_utf8(item.bytes).map_err(|e| EncodeError { line: item.line, byte: e.valid_up_to() })?;
        let mut fallback;
        let (slot, cached) = match slot {
            Some(s) => (s, true),
            None => {
                fallback = SlotData::default();
                (&mut fallback, false)
            }
        };
        // Rough guess (English averages ~4.5 bytes per token) to avoid most
        // regrowth without over-allocating.
        let guess = text.len() / 4 + 1;
        let mut ids = Vec::with_capacity(guess);
        let mut offsets = Vec::with_capacity(guess);
        let bytes = text.as_bytes();
        for (start, end) in self.pretok.words(text) {
            let word = &bytes[start..end];
            // Line lengths are checked < 4 GiB when the corpus is split.
            let mut pos = start as u32;
            let h = word_hash(word);
            if let Some(hit) = slot.words.get(word, h) {
                ids.extend_from_slice(slot.words.ids(hit));
                for &len in slot.words.lens(hit) {
                    let end = pos + u32::from(len);
                    offsets.push((pos, end));
                    pos = end;
                }
                continue;
            }
            let first = ids.len();
            merge_word(&self.vocab, word, &mut slot.scratch, &mut ids);
            if cached {
                slot.words.insert(word, h, &ids[first..], |id| self.vocab.token_len(id));
            }
            for &id in &ids[first..] {
                let end = pos + self.vocab.token_len(id);
                offsets.push((pos, end));
                pos = end;
            }
        }
        for _ in 0..self.contend {
            CONTENDED.fetch_add(1, Ordering::AcqRel);
        }
        Ok(Encoding { ids, offsets })
    }

    /// Uncached encoding of a text, for tests.
    #[cfg(test)]
    pub fn encode_str(&self, text: &str) -> Encoding {
        self.encode(None, &Item { line: 1, bytes: text.as_bytes() }).unwrap()
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::vocab::tests::tiny_vocab;

    /// A small encoder: bytes plus a few English merges.
    pub fn tiny_encoder(slots: usize) -> Encoder {
        let v = tiny_vocab(&[("t", "h"), ("th", "e"), (" ", "the"), ("i", "n"), (" ", " "), ("'", "s")]);
        Encoder::new(v, PreTokenizer::new().unwrap(), slots)
    }

    /// 300 short lines of varied length with repeated words (cache hits and misses).
    pub fn sample_lines() -> Vec<Vec<u8>> {
        (0..300).map(|i| format!("the {i} cat's\tin  the hat {}", "x".repeat(i % 7)).into_bytes()).collect()
    }

    /// 200 lines; line 121 has a UTF-8 sequence cut short at byte 3.
    pub fn lines_with_bad_utf8() -> Vec<Vec<u8>> {
        let mut lines: Vec<Vec<u8>> = (0..200).map(|i| format!("line {i}").into_bytes()).collect();
        lines[120] = b"ok \xe2\x82 broken".to_vec();
        lines
    }

    /// One item per line, numbered from 1.
    pub fn items_of(lines: &[Vec<u8>]) -> Vec<Item<'_>> {
        lines.iter().enumerate().map(|(i, l)| Item { line: i + 1, bytes: l }).collect()
    }

    /// What an uncached encoder makes of `items`, one at a time: the reference.
    pub fn sequential(items: &[Item<'_>]) -> Vec<Encoding> {
        let seq = tiny_encoder(1);
        items.iter().map(|it| seq.encode(None, it).unwrap()).collect()
    }

    #[test]
    fn offsets_cover_the_line() {
        let e = tiny_encoder(1);
        let text = "the cat's in  the hat 日本 😀";
        let enc = e.encode_str(text);
        assert_eq!(enc.ids.len(), enc.offsets.len());
        let mut pos = 0;
        for &(a, b) in &enc.offsets {
            assert_eq!(a, pos);
            assert!(b > a);
            pos = b;
        }
        assert_eq!(pos as usize, text.len());
    }

    #[test]
    fn cached_and_uncached_agree() {
        let mut e = tiny_encoder(1);
        let text = "the the the 's in  in\tthe";
        let plain = e.encode_str(text);
        for _ in 0..3 {
            // SAFETY: this test is the only user of the encoder.
            let slot = unsafe { e.slots.get(0) };
            let got = e.encode(Some(slot), &Item { line: 1, bytes: text.as_bytes() }).unwrap();
            assert_eq!(got, plain);
        }
        assert!(e.slots.cached_words()[0] > 0);
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        let e = tiny_encoder(1);
        let err = e.encode(None, &Item { line: 17, bytes: b"abc\xffdef" }).unwrap_err();
        assert_eq!(err, EncodeError { line: 17, byte: 3 });
        assert_eq!(err.to_string(), "corpus line 17 is not valid UTF-8 (byte 3)");
    }

    #[test]
    fn contend_adds_to_the_shared_counter() {
        let mut e = tiny_encoder(1);
        e.contend = 5;
        let before = CONTENDED.load(Ordering::Relaxed);
        e.encode(None, &Item { line: 1, bytes: b"ab" }).unwrap();
        assert!(CONTENDED.load(Ordering::Relaxed) >= before + 5);
    }

    #[test]
    fn empty_item_has_no_ids() {
        let e = tiny_encoder(1);
        assert_eq!(e.encode_str(""), Encoding::default());
    }
}
