//! TEMPORARY stand-in (replaced by the real wheel): same API over a BTreeMap.
#![allow(dead_code)]
use std::collections::BTreeMap;

#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub(crate) struct TimerKey {
    index: u32,
    generation: u32,
}

pub(crate) struct Wheel<T> {
    tick: u64,
    now: u64,
    seq: u64,
    entries: slab::Slab<(u64, u64, bool, T, u32)>,
    gens: Vec<u32>,
    order: BTreeMap<(u64, u64), usize>,
}

impl<T> Wheel<T> {
    pub(crate) fn new(tick: u64) -> Wheel<T> {
        Wheel {
            tick,
            now: 0,
            seq: 0,
            entries: slab::Slab::new(),
            gens: Vec::new(),
            order: BTreeMap::new(),
        }
    }
    fn slot_tick(&self, d: u64) -> u64 {
        d / self.tick + u64::from(d % self.tick != 0)
    }
    pub(crate) fn insert(&mut self, deadline: u64, value: T) -> TimerKey {
        self.seq += 1;
        let idx = self.entries.vacant_key();
        if self.gens.len() <= idx {
            self.gens.resize(idx + 1, 0);
        }
        let g = self.gens[idx];
        self.entries.insert((deadline, self.seq, true, value, g));
        self.order.insert((self.slot_tick(deadline), self.seq), idx);
        TimerKey {
            index: idx as u32,
            generation: g,
        }
    }
    fn valid(&self, key: TimerKey) -> bool {
        self.entries
            .get(key.index as usize)
            .is_some_and(|e| e.4 == key.generation)
    }
    pub(crate) fn remove(&mut self, key: TimerKey) -> Option<T> {
        if !self.valid(key) {
            return None;
        }
        let e = self.entries.remove(key.index as usize);
        self.gens[key.index as usize] += 1;
        if e.2 {
            self.order.remove(&(self.slot_tick(e.0), e.1));
        }
        Some(e.3)
    }
    pub(crate) fn get(&self, key: TimerKey) -> Option<&T> {
        if !self.valid(key) {
            return None;
        }
        Some(&self.entries[key.index as usize].3)
    }
    pub(crate) fn get_mut(&mut self, key: TimerKey) -> Option<&mut T> {
        if !self.valid(key) {
            return None;
        }
        Some(&mut self.entries[key.index as usize].3)
    }
    pub(crate) fn advance(&mut self, now: u64, out: &mut Vec<TimerKey>) {
        self.now = self.now.max(now);
        let now_tick = self.now / self.tick;
        let mut batch = Vec::new();
        while let Some((&(t, s), &idx)) = self.order.iter().next() {
            if t > now_tick {
                break;
            }
            self.order.remove(&(t, s));
            self.entries[idx].2 = false;
            batch.push((self.entries[idx].0, s, idx));
        }
        batch.sort();
        for (_, _, idx) in batch {
            out.push(TimerKey {
                index: idx as u32,
                generation: self.entries[idx].4,
            });
        }
    }
    pub(crate) fn next_expiration(&self) -> Option<u64> {
        self.order
            .keys()
            .next()
            .map(|&(t, _)| t.saturating_mul(self.tick).max(self.now))
    }
    pub(crate) fn pending(&self) -> usize {
        self.order.len()
    }
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    pub(crate) fn now(&self) -> u64 {
        self.now
    }
    pub(crate) fn drain(&mut self) -> Vec<T> {
        self.order.clear();
        for g in self.gens.iter_mut() {
            *g += 1;
        }
        self.entries.drain().map(|e| e.3).collect()
    }
}
