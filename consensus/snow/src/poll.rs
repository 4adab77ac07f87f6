//! One poll: a weighted sample of peers asked for their preference at a height, and the answers so far.

use cairn_primitives::{Hash, Height};

/// A poll in flight. Polls finish in any order but are applied in the order they were issued.
#[derive(Debug)]
pub struct Poll {
    pub id: u32,
    pub height: Height,
    /// The block we preferred when issuing it (answers supporting it end the poll early).
    pub block: Hash,
    /// Validator indices (in the set of `height`) asked, and whether each answered.
    pub sample: Vec<(u32, bool)>,
    /// Answered blocks and how many sampled peers named each (few distinct blocks: a short vector).
    pub votes: Vec<(Hash, u32)>,
    pub received: u32,
    /// Answers for `block` or a descendant.
    pub support: u32,
    pub done: bool,
}

impl Poll {
    pub fn new(id: u32, height: Height, block: Hash, sample: &[u32]) -> Poll {
        Poll {
            id,
            height,
            block,
            sample: sample.iter().map(|i| (*i, false)).collect(),
            votes: Vec::new(),
            received: 0,
            support: 0,
            done: false,
        }
    }

    /// Records the answer of validator `index`; false if it was not asked or already answered.
    pub fn answer(&mut self, index: u32, block: Hash, supports: bool) -> bool {
        let Some(slot) = self.sample.iter_mut().find(|(i, answered)| *i == index && !*answered) else {
            return false;
        };
        slot.1 = true;
        self.received += 1;
        if block != Hash::ZERO {
            match self.votes.iter_mut().find(|(b, _)| *b == block) {
                Some((_, c)) => *c += 1,
                None => self.votes.push((block, 1)),
            }
        }
        if supports {
            self.support += 1;
        }
        true
    }

    /// Early termination: every answer is in, or `alpha_c` answers already support our block.
    pub fn finished(&self, alpha_c: u32) -> bool {
        self.received as usize == self.sample.len() || self.support >= alpha_c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_only_from_the_sample_once() {
        let b = Hash::digest(b"b");
        let mut p = Poll::new(1, Height(1), b, &[3, 5, 9]);
        assert!(p.answer(5, b, true));
        assert!(!p.answer(5, b, true), "a second answer from the same peer is ignored");
        assert!(!p.answer(4, b, true), "peers not sampled are ignored");
        assert!(p.answer(3, Hash::ZERO, false));
        assert_eq!((p.received, p.support, p.votes.clone()), (2, 1, vec![(b, 1)]));
        assert!(!p.finished(3));
        assert!(p.answer(9, b, true));
        assert!(p.finished(3));
    }

    #[test]
    fn enough_support_ends_early() {
        let b = Hash::digest(b"b");
        let mut p = Poll::new(1, Height(1), b, &[1, 2, 3, 4]);
        p.answer(1, b, true);
        p.answer(2, b, true);
        assert!(p.finished(2) && !p.finished(3));
    }
}
