//! The GPT-2 byte-level vocabulary: `encoder.json` (token -> id) and
//! `vocab.bpe` (merge rules, ranked by line order).
//!
//! GPT-2 stores tokens as strings over a 256-character "byte-level" alphabet
//! (every byte mapped to a printable code point). We undo that mapping at load
//! time so the encoder works on raw bytes and never builds those strings.

use rustc_hash::FxHashMap;
use std::collections::HashMap;
use std::path::Path;

/// Largest token id we accept; keeps the per-id tables small and `u32` safe.
const MAX_TOKEN_ID: u32 = 1 << 24;

/// A merge rule as the BPE loop needs it, packed into one `u64` so a single
/// hash lookup yields both: `rank << 32 | merged_id`. Lower rank merges first,
/// and comparing packed values compares ranks (each rank names one rule).
pub type PackedMerge = u64;

#[inline]
pub fn merge_rank(m: PackedMerge) -> u32 {
    (m >> 32) as u32
}

#[inline]
pub fn merge_id(m: PackedMerge) -> u32 {
    m as u32
}

#[inline]
fn pair_key(left: u32, right: u32) -> u64 {
    (u64::from(left) << 32) | u64::from(right)
}

/// (left id, right id) -> packed (rank, merged id).
///
/// The BPE loop is bound by these lookups, and most of them miss in a
/// general-purpose hash map of 50k entries (16 bytes each, plus control
/// bytes, beyond L2). When ids and ranks fit in 16 bits (GPT-2: 50257 ids,
/// 50000 merges) a whole entry fits in one u64, and a linear-probing table of
/// those is half the size and touches one cache line per lookup.
enum MergeTable {
    /// Entries `key << 32 | rank << 16 | id` with `key = left << 16 | right`;
    /// `EMPTY` marks a free slot.
    Compact { slots: Vec<u64>, shift: u32 },
    /// Any other vocabulary.
    Wide(FxHashMap<u64, PackedMerge>),
}

const EMPTY: u64 = u64::MAX;

impl MergeTable {
    fn build(rules: &[(u32, u32, u32, u32)], max_id: u32) -> MergeTable {
        // Ids must stay below 0xFFFF so no key collides with EMPTY's.
        if max_id < 0xFFFF && rules.len() <= 0xFFFF {
            // Load factor <= 3/4.
            let size = (rules.len() * 4 / 3 + 1).next_power_of_two().max(16);
            let mut slots = vec![EMPTY; size];
            let shift = 64 - size.trailing_zeros();
            for &(l, r, rank, id) in rules {
                let key = u64::from(l << 16 | r);
                let mut i = Self::home(key, shift);
                loop {
                    if slots[i] == EMPTY {
                        slots[i] = key << 32 | u64::from(rank << 16 | id);
                        break;
                    }
                    if slots[i] >> 32 == key {
                        break; // repeated rule: the first (best) rank stays
                    }
                    i = (i + 1) & (size - 1);
                }
            }
            MergeTable::Compact { slots, shift }
        } else {
            let mut map = FxHashMap::default();
            map.reserve(rules.len());
            for &(l, r, rank, id) in rules {
                map.entry(pair_key(l, r)).or_insert(u64::from(rank) << 32 | u64::from(id));
            }
            MergeTable::Wide(map)
        }
    }

    #[inline(always)]
    fn home(key: u64, shift: u32) -> usize {
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize
    }

    #[inline(always)]
    fn get(&self, left: u32, right: u32) -> Option<PackedMerge> {
        match self {
            MergeTable::Compact { slots, shift } => {
                if (left | right) > 0xFFFF {
                    return None;
                }
                let key = u64::from(left << 16 | right);
                let mask = slots.len() - 1;
                let mut i = Self::home(key, *shift);
                loop {
                    let s = slots[i];
                    if s == EMPTY {
                        return None;
                    }
                    if s >> 32 == key {
                        return Some((s >> 16 & 0xFFFF) << 32 | (s & 0xFFFF));
                    }
                    i = (i + 1) & mask;
                }
            }
            MergeTable::Wide(map) => map.get(&pair_key(left, right)).copied(),
        }
    }
}

pub struct Vocab {
    /// Id of the single-byte token for each byte value.
    byte_ids: [u32; 256],
    merges: MergeTable,
    /// Merge of each pair of single bytes, indexed by `b0 << 8 | b1`
    /// (`PackedMerge::MAX` if none): the first round of every word is
    /// direct-indexed, no hashing.
    byte_pairs: Vec<PackedMerge>,
    /// Byte length of every token, indexed by id: offsets of cached words are
    /// rebuilt from their ids alone.
    token_len: Vec<u32>,
}

/// GPT-2's byte -> code point table (`bytes_to_unicode` in the reference code):
/// printable Latin-1 bytes map to themselves, the other 68 bytes to 256.. in
/// byte order.
pub fn byte_to_char() -> [char; 256] {
    let printable = |b: u32| (0x21..=0x7E).contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b);
    let mut table = ['\0'; 256];
    let mut next = 256u32;
    for b in 0..256u32 {
        let cp = if printable(b) {
            b
        } else {
            let cp = next;
            next += 1;
            cp
        };
        // All code points here are < 0x144, never surrogates.
        table[b as usize] = char::from_u32(cp).expect("byte-level code point");
    }
    table
}

/// The inverse of [`byte_to_char`], indexed by code point (< 0x144).
fn char_to_byte_table() -> Vec<Option<u8>> {
    let fwd = byte_to_char();
    let mut inv = vec![None; 0x144];
    for (b, c) in fwd.iter().enumerate() {
        inv[*c as usize] = Some(b as u8);
    }
    inv
}

fn token_bytes(token: &str, inv: &[Option<u8>]) -> Option<Vec<u8>> {
    token.chars().map(|c| inv.get(c as usize).copied().flatten()).collect()
}

impl Vocab {
    /// Loads `DIR/encoder.json` and `DIR/vocab.bpe`. Errors are one-line
    /// messages saying which file is wrong and what to do.
    pub fn load(dir: &Path) -> Result<Vocab, String> {
        let enc_path = dir.join("encoder.json");
        let bpe_path = dir.join("vocab.bpe");
        let hint = "pass --vocab DIR holding GPT-2's encoder.json and vocab.bpe (`lseprof data fetch` downloads them)";
        let enc_text = std::fs::read_to_string(&enc_path)
            .map_err(|e| format!("cannot read vocabulary file {}: {e}; {hint}", enc_path.display()))?;
        let bpe_text = std::fs::read_to_string(&bpe_path)
            .map_err(|e| format!("cannot read merges file {}: {e}; {hint}", bpe_path.display()))?;
        let encoder: HashMap<String, u32> = serde_json::from_str(&enc_text)
            .map_err(|e| format!("{} is not a JSON object of token -> id: {e}; {hint}", enc_path.display()))?;
        let inv = char_to_byte_table();
        let mut tokens = Vec::with_capacity(encoder.len());
        for (tok, id) in encoder {
            let bytes = token_bytes(&tok, &inv).ok_or_else(|| {
                format!(
                    "{}: token {tok:?} has characters outside GPT-2's byte-level alphabet; {hint}",
                    enc_path.display()
                )
            })?;
            tokens.push((bytes, id));
        }
        let mut merges = Vec::new();
        for (lineno, line) in bpe_text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if (lineno == 0 && line.starts_with("#version")) || line.trim().is_empty() {
                continue;
            }
            let mut parts = line.split(' ');
            let (Some(a), Some(b), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(format!(
                    "{} line {}: expected two tokens separated by one space, got {line:?}; {hint}",
                    bpe_path.display(),
                    lineno + 1
                ));
            };
            let (Some(a), Some(b)) = (token_bytes(a, &inv), token_bytes(b, &inv)) else {
                return Err(format!(
                    "{} line {}: token outside GPT-2's byte-level alphabet; {hint}",
                    bpe_path.display(),
                    lineno + 1
                ));
            };
            merges.push((a, b, lineno + 1));
        }
        Vocab::from_parts(&tokens, &merges).map_err(|e| format!("{e}; {hint}"))
    }

    /// Builds a vocabulary from raw-byte tokens and merge rules (each with the
    /// 1-based line it came from, for error messages). Merge rank = position
    /// in `merges`. Used by `load` and by tests with tiny vocabularies.
    pub fn from_parts(tokens: &[(Vec<u8>, u32)], merges: &[(Vec<u8>, Vec<u8>, usize)]) -> Result<Vocab, String> {
        let mut ids: FxHashMap<&[u8], u32> = FxHashMap::default();
        let mut max_id = 0;
        for (bytes, id) in tokens {
            if *id >= MAX_TOKEN_ID {
                return Err(format!("encoder.json: token id {id} is too large (limit {MAX_TOKEN_ID})"));
            }
            if bytes.is_empty() {
                return Err("encoder.json: empty token".to_string());
            }
            max_id = max_id.max(*id);
            ids.insert(bytes.as_slice(), *id);
        }
        let mut token_len = vec![0u32; max_id as usize + 1];
        for (bytes, id) in tokens {
            token_len[*id as usize] = bytes.len() as u32;
        }
        let mut byte_ids = [0u32; 256];
        for (b, slot) in byte_ids.iter_mut().enumerate() {
            *slot = *ids
                .get(&[b as u8][..])
                .ok_or_else(|| format!("encoder.json has no token for the single byte 0x{b:02x}"))?;
        }
        let mut rules = Vec::with_capacity(merges.len());
        let mut joined = Vec::new();
        for (rank, (a, b, line)) in merges.iter().enumerate() {
            let missing = |t: &[u8]| {
                format!("vocab.bpe line {line}: token {:?} is not in encoder.json", String::from_utf8_lossy(t))
            };
            let ia = *ids.get(a.as_slice()).ok_or_else(|| missing(a))?;
            let ib = *ids.get(b.as_slice()).ok_or_else(|| missing(b))?;
            joined.clear();
            joined.extend_from_slice(a);
            joined.extend_from_slice(b);
            let merged = *ids.get(joined.as_slice()).ok_or_else(|| missing(&joined))?;
            rules.push((ia, ib, rank as u32, merged));
        }
        let merges = MergeTable::build(&rules, max_id);
        let mut byte_pairs = vec![PackedMerge::MAX; 65536];
        for (i, m) in byte_pairs.iter_mut().enumerate() {
            if let Some(found) = merges.get(byte_ids[i >> 8], byte_ids[i & 0xFF]) {
                *m = found;
            }
        }
        Ok(Vocab { byte_ids, merges, byte_pairs, token_len })
    }

    #[inline]
    pub fn byte_id(&self, b: u8) -> u32 {
        self.byte_ids[b as usize]
    }

    #[inline]
    pub fn merge(&self, left: u32, right: u32) -> Option<PackedMerge> {
        self.merges.get(left, right)
    }

    /// The merge of two single-byte tokens, `PackedMerge::MAX` if none.
    #[inline]
    pub fn byte_pair(&self, b0: u8, b1: u8) -> PackedMerge {
        self.byte_pairs[usize::from(b0) << 8 | usize::from(b1)]
    }

    #[inline]
    pub fn token_len(&self, id: u32) -> u32 {
        self.token_len[id as usize]
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A tiny vocabulary: all 256 bytes (ids 0..=255 by byte value) plus the
    /// given merges; merged tokens get ids from 256 in rule order.
    pub fn tiny_vocab(rules: &[(&str, &str)]) -> Vocab {
        let mut tokens: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], u32::from(b))).collect();
        let mut merges = Vec::new();
        for (i, (a, b)) in rules.iter().enumerate() {
            let mut t = a.as_bytes().to_vec();
            t.extend_from_slice(b.as_bytes());
            if !tokens.iter().any(|(x, _)| *x == t) {
                let id = tokens.len() as u32;
                tokens.push((t, id));
            }
            merges.push((a.as_bytes().to_vec(), b.as_bytes().to_vec(), i + 1));
        }
        Vocab::from_parts(&tokens, &merges).expect("tiny vocab")
    }

    #[test]
    fn byte_level_alphabet_is_a_bijection() {
        let t = byte_to_char();
        assert_eq!(t[b'!' as usize], '!');
        assert_eq!(t[b' ' as usize], '\u{120}'); // 'Ġ'
        assert_eq!(t[b'\n' as usize], '\u{10a}'); // 'Ċ'
        let inv = char_to_byte_table();
        for b in 0..=255u8 {
            assert_eq!(inv[t[b as usize] as usize], Some(b));
        }
    }

    #[test]
    fn merges_are_ranked_by_order() {
        let v = tiny_vocab(&[("a", "b"), ("ab", "c")]);
        let m = v.merge(u32::from(b'a'), u32::from(b'b')).unwrap();
        assert_eq!(merge_rank(m), 0);
        assert_eq!(v.token_len(merge_id(m)), 2);
        let m2 = v.merge(merge_id(m), u32::from(b'c')).unwrap();
        assert_eq!(merge_rank(m2), 1);
        assert!(v.merge(u32::from(b'b'), u32::from(b'a')).is_none());
    }

    #[test]
    fn merge_with_unknown_token_is_an_error() {
        let tokens: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], u32::from(b))).collect();
        let merges = vec![(b"a".to_vec(), b"b".to_vec(), 2)];
        let err = Vocab::from_parts(&tokens, &merges).err().unwrap();
        assert!(err.contains("vocab.bpe line 2"), "{err}");
    }
}
