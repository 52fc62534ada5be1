//! Byte-pair merging of one pre-token.
//!
//! Rule (as Hugging Face tokenizers and tiktoken apply it): repeatedly merge
//! the adjacent pair with the lowest merge rank, the leftmost one on ties,
//! until no adjacent pair has a rule.
//!
//! Two implementations of that one rule:
//! - short words (almost all of them): a flat array of symbols with the rank
//!   of each adjacent pair cached; each step scans for the minimum. O(n^2) but
//!   tiny n, no allocation, cache friendly.
//! - long words (corpora have whitespace runs thousands of characters long):
//!   a min-heap of candidate merges keyed by (rank, position) over a doubly
//!   linked list of symbols, O(n log n). Stale heap entries are skipped when
//!   popped, as in tokenizers' `Word::merge_all`.

use crate::vocab::{merge_id, merge_rank, PackedMerge, Vocab};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Words up to this many bytes use the quadratic scan.
pub const SHORT_WORD_MAX: usize = 48;

const NONE: u32 = u32::MAX;

#[derive(Clone, Copy)]
struct Node {
    id: u32,
    prev: u32,
    next: u32,
    alive: bool,
}

/// Buffers reused across words so merging allocates nothing in steady state;
/// one lives in each worker slot.
#[derive(Default)]
pub struct Scratch {
    syms: Vec<u32>,
    pairs: Vec<PackedMerge>,
    nodes: Vec<Node>,
    heap: BinaryHeap<Reverse<u64>>,
}

/// Appends the token ids of `word` (non-empty) to `out`.
pub fn merge_word(vocab: &Vocab, word: &[u8], scratch: &mut Scratch, out: &mut Vec<u32>) {
    match word.len() {
        0 => {}
        1 => out.push(vocab.byte_id(word[0])),
        n if n <= SHORT_WORD_MAX => merge_scan(vocab, word, scratch, out),
        _ => merge_heap(vocab, word, scratch, out),
    }
}

fn merge_scan(vocab: &Vocab, word: &[u8], scratch: &mut Scratch, out: &mut Vec<u32>) {
    let pair = |l: u32, r: u32| vocab.merge(l, r).unwrap_or(PackedMerge::MAX);
    let syms = &mut scratch.syms;
    let pairs = &mut scratch.pairs;
    syms.clear();
    syms.extend(word.iter().map(|&b| vocab.byte_id(b)));
    pairs.clear();
    pairs.extend(word.windows(2).map(|w| vocab.byte_pair(w[0], w[1])));
    loop {
        // Leftmost minimum: strict `<` keeps the first of equal ranks. Packed
        // values order by rank (each rank is one rule, so one merged id).
        let mut best = PackedMerge::MAX;
        let mut at = 0;
        for (i, &p) in pairs.iter().enumerate() {
            if p < best {
                best = p;
                at = i;
            }
        }
        if best == PackedMerge::MAX {
            break;
        }
        syms[at] = merge_id(best);
        syms.remove(at + 1);
        pairs.remove(at);
        if at > 0 {
            pairs[at - 1] = pair(syms[at - 1], syms[at]);
        }
        if at + 1 < syms.len() {
            pairs[at] = pair(syms[at], syms[at + 1]);
        }
    }
    out.extend_from_slice(syms);
}

fn merge_heap(vocab: &Vocab, word: &[u8], scratch: &mut Scratch, out: &mut Vec<u32>) {
    let nodes = &mut scratch.nodes;
    let heap = &mut scratch.heap;
    nodes.clear();
    heap.clear();
    let n = word.len();
    nodes.extend(word.iter().enumerate().map(|(i, &b)| Node {
        id: vocab.byte_id(b),
        prev: if i == 0 { NONE } else { (i - 1) as u32 },
        next: if i + 1 == n { NONE } else { (i + 1) as u32 },
        alive: true,
    }));
    // Heap key: rank << 32 | position of the pair's left symbol. Reverse makes
    // the max-heap pop the lowest rank, then the leftmost position.
    let key = |m: PackedMerge, pos: u32| Reverse(u64::from(merge_rank(m)) << 32 | u64::from(pos));
    for (i, w) in word.windows(2).enumerate() {
        let m = vocab.byte_pair(w[0], w[1]);
        if m != PackedMerge::MAX {
            heap.push(key(m, i as u32));
        }
    }
    while let Some(Reverse(k)) = heap.pop() {
        let rank = (k >> 32) as u32;
        let pos = k as u32 as usize;
        let node = nodes[pos];
        if !node.alive || node.next == NONE {
            continue;
        }
        let right = node.next as usize;
        // Stale entry: the pair at `pos` changed since it was pushed. A rank
        // names exactly one rule, so comparing ranks compares pairs.
        let Some(m) = vocab.merge(node.id, nodes[right].id) else { continue };
        if merge_rank(m) != rank {
            continue;
        }
        let after = nodes[right].next;
        nodes[pos].id = merge_id(m);
        nodes[pos].next = after;
        nodes[right].alive = false;
        if after != NONE {
            nodes[after as usize].prev = pos as u32;
        }
        if node.prev != NONE {
            if let Some(m) = vocab.merge(nodes[node.prev as usize].id, nodes[pos].id) {
                heap.push(key(m, node.prev));
            }
        }
        if after != NONE {
            if let Some(m) = vocab.merge(nodes[pos].id, nodes[after as usize].id) {
                heap.push(key(m, pos as u32));
            }
        }
    }
    // Node 0 is never removed: only the right symbol of a pair disappears.
    let mut i = 0u32;
    while i != NONE {
        out.push(nodes[i as usize].id);
        i = nodes[i as usize].next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::tests::tiny_vocab;

    fn scan(v: &Vocab, w: &[u8]) -> Vec<u32> {
        let mut out = Vec::new();
        merge_scan(v, w, &mut Scratch::default(), &mut out);
        out
    }

    fn heap(v: &Vocab, w: &[u8]) -> Vec<u32> {
        let mut out = Vec::new();
        merge_heap(v, w, &mut Scratch::default(), &mut out);
        out
    }

    fn lens(v: &Vocab, ids: &[u32]) -> Vec<u32> {
        ids.iter().map(|&i| v.token_len(i)).collect()
    }

    #[test]
    fn lowest_rank_first_leftmost_on_ties() {
        // "bc" outranks "ab", so "abc" -> a + bc, not ab + c.
        let v = tiny_vocab(&[("b", "c"), ("a", "b")]);
        assert_eq!(lens(&v, &scan(&v, b"abc")), [1, 2]);
        assert_eq!(lens(&v, &heap(&v, b"abc")), [1, 2]);
        // Overlapping equal pairs merge left to right: "aaa" -> aa + a.
        let v = tiny_vocab(&[("a", "a")]);
        assert_eq!(lens(&v, &scan(&v, b"aaa")), [2, 1]);
        assert_eq!(lens(&v, &heap(&v, b"aaa")), [2, 1]);
        assert_eq!(lens(&v, &heap(&v, b"aaaaa")), [2, 2, 1]);
    }

    #[test]
    fn scan_and_heap_agree() {
        let v = tiny_vocab(&[
            (" ", " "),
            ("  ", "  "),
            ("    ", "    "),
            ("a", "b"),
            ("ab", "ab"),
            ("b", "a"),
            ("\t", " "),
            ("ba", "b"),
            ("abab", "ab"),
        ]);
        // Deterministic pseudo-random words over a small alphabet.
        let mut x = 0x9e3779b97f4a7c15u64;
        for len in 1..200 {
            for _ in 0..20 {
                let w: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        [b'a', b'b', b' ', b'\t'][(x % 4) as usize]
                    })
                    .collect();
                assert_eq!(scan(&v, &w), heap(&v, &w), "word {:?}", String::from_utf8_lossy(&w));
            }
        }
    }

    #[test]
    fn long_run_of_spaces() {
        let v = tiny_vocab(&[(" ", " "), ("  ", "  "), ("    ", "    ")]);
        let w = vec![b' '; 5003];
        let ids = heap(&v, &w);
        assert_eq!(lens(&v, &ids).iter().sum::<u32>(), 5003);
        assert_eq!(ids.len(), 5000 / 8 + 2); // 625 x 8 spaces, then 2 + 1
    }
}
