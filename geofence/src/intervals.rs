//! Interval structures along a route (positions in metres, always >= 0).
//!
//! Keys are `f64::to_bits` of non-negative positions, which sort like the
//! numbers themselves, so a map ordered by `u64` key is ordered by position.
//! The maps are small (a route's few covered stretches, pass-count steps and
//! last-served runs: a handful to a few hundred entries) and updated on every
//! fix, so they are sorted vectors ([`SortedMap`]) with the operations of a
//! `BTreeMap` the algorithms below use, rather than B-trees.

use serde::{Deserialize, Serialize};
use std::fmt;

#[inline]
fn key(x: f64) -> u64 {
    // +0.0 for -0.0 and tiny negatives from rounding
    x.max(0.0).to_bits()
}
#[inline]
fn val(k: u64) -> f64 {
    f64::from_bits(k)
}

/// An ordered map from `u64` keys, as a vector sorted by key (unique keys).
#[derive(Clone, PartialEq)]
struct SortedMap<V> {
    v: Vec<(u64, V)>,
}

impl<V> Default for SortedMap<V> {
    fn default() -> Self {
        SortedMap { v: Vec::new() }
    }
}

impl<V: fmt::Debug> fmt::Debug for SortedMap<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.v.iter().map(|(k, v)| (k, v)))
            .finish()
    }
}

impl<V: Copy> SortedMap<V> {
    /// Index of the first entry with key `>= k`.
    #[inline]
    fn lower(&self, k: u64) -> usize {
        self.v.partition_point(|e| e.0 < k)
    }
    fn get(&self, k: u64) -> Option<V> {
        let i = self.lower(k);
        self.v.get(i).filter(|e| e.0 == k).map(|e| e.1)
    }
    /// Insert or replace.
    fn insert(&mut self, k: u64, val: V) {
        let i = self.lower(k);
        match self.v.get_mut(i) {
            Some(e) if e.0 == k => e.1 = val,
            _ => self.v.insert(i, (k, val)),
        }
    }
    fn remove(&mut self, k: u64) -> Option<V> {
        let i = self.lower(k);
        if self.v.get(i).is_some_and(|e| e.0 == k) {
            Some(self.v.remove(i).1)
        } else {
            None
        }
    }
    /// `range(..k).next_back()`
    fn last_below(&self, k: u64) -> Option<(u64, V)> {
        self.lower(k).checked_sub(1).map(|i| self.v[i])
    }
    /// `range(lo..hi)` (empty when `lo >= hi`)
    fn range(&self, lo: u64, hi: u64) -> &[(u64, V)] {
        let i = self.lower(lo);
        let j = self.lower(hi).max(i);
        &self.v[i..j]
    }
    /// `range(lo..)`
    fn range_from(&self, lo: u64) -> &[(u64, V)] {
        &self.v[self.lower(lo)..]
    }
    fn iter(&self) -> impl Iterator<Item = (u64, V)> + '_ {
        self.v.iter().copied()
    }
    fn len(&self) -> usize {
        self.v.len()
    }
    fn is_empty(&self) -> bool {
        self.v.is_empty()
    }
}

/// A set of disjoint, non-adjacent half-open intervals `[from, to)`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Vec<(f64, f64)>", into = "Vec<(f64, f64)>")]
pub struct IntervalSet {
    map: SortedMap<f64>,
}

impl From<Vec<(f64, f64)>> for IntervalSet {
    fn from(v: Vec<(f64, f64)>) -> Self {
        let mut s = IntervalSet::default();
        for (a, b) in v {
            s.insert(a, b);
        }
        s
    }
}
impl From<IntervalSet> for Vec<(f64, f64)> {
    fn from(s: IntervalSet) -> Self {
        s.iter().collect()
    }
}

impl IntervalSet {
    /// Add `[a, b)`, merging with what it touches. Empty or NaN input is ignored.
    pub fn insert(&mut self, a: f64, b: f64) {
        let (mut a, mut b) = (a.max(0.0), b);
        if b.partial_cmp(&a) != Some(std::cmp::Ordering::Greater) {
            return;
        }
        // the interval starting at or before a, if it reaches a, is merged
        // (an interval starting exactly at a always is)
        let m = &mut self.map.v;
        let mut from = m.partition_point(|e| e.0 <= key(a));
        let mut to = from;
        if let Some(&(k, e)) = from.checked_sub(1).and_then(|i| m.get(i))
            && e >= a
        {
            a = val(k);
            b = b.max(e);
            from -= 1;
        }
        // and every interval starting in [a, b], b growing as they merge
        while let Some(&(k, e)) = m.get(to)
            && k <= key(b)
        {
            b = b.max(e);
            to += 1;
        }
        m.splice(from..to, std::iter::once((key(a), b)));
    }

    /// The intervals in order.
    pub fn iter(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.map.iter().map(|(k, e)| (val(k), e))
    }

    /// Total length.
    pub fn measure(&self) -> f64 {
        self.iter().map(|(a, b)| b - a).sum()
    }

    /// Number of intervals.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are no intervals.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Union with another set.
    pub fn extend_from(&mut self, other: &IntervalSet) {
        for (a, b) in other.iter() {
            self.insert(a, b);
        }
    }
}

/// A step function of integer counts: `add(a, b, d)` adds `d` on `[a, b)`.
/// Equal and opposite steps cancel, so passes that tile the route end to end
/// collapse into two entries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Vec<(f64, i32)>", into = "Vec<(f64, i32)>")]
pub struct StepCounts {
    steps: SortedMap<i32>,
}

impl From<Vec<(f64, i32)>> for StepCounts {
    fn from(v: Vec<(f64, i32)>) -> Self {
        let mut s = StepCounts::default();
        for (x, d) in v {
            s.step(x, d);
        }
        s
    }
}
impl From<StepCounts> for Vec<(f64, i32)> {
    fn from(s: StepCounts) -> Self {
        s.steps.iter().map(|(k, d)| (val(k), d)).collect()
    }
}

impl StepCounts {
    fn step(&mut self, x: f64, d: i32) {
        let k = key(x);
        let i = self.steps.lower(k);
        match self.steps.v.get_mut(i) {
            Some(e) if e.0 == k => {
                e.1 += d;
                if e.1 == 0 {
                    self.steps.v.remove(i);
                }
            }
            _ if d != 0 => self.steps.v.insert(i, (k, d)),
            _ => {}
        }
    }

    /// Add `d` over `[a, b)`.
    pub fn add(&mut self, a: f64, b: f64, d: i32) {
        if b > a {
            self.step(a, d);
            self.step(b, -d);
        }
    }

    /// Maximal runs `(from, to, count)` with a constant non-zero count.
    pub fn runs(&self) -> Vec<(f64, f64, i32)> {
        let mut out = Vec::new();
        let mut acc = 0;
        let mut prev = 0.0;
        for (k, d) in self.steps.iter() {
            let x = val(k);
            if acc != 0 && x > prev {
                out.push((prev, x, acc));
            }
            acc += d;
            prev = x;
        }
        out
    }

    /// Number of breakpoints stored.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether no counts are stored.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// Disjoint intervals each carrying a value; `raise` keeps the maximum.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Vec<(f64, f64, i64)>", into = "Vec<(f64, f64, i64)>")]
pub struct MaxMap {
    map: SortedMap<(f64, i64)>,
}

impl From<Vec<(f64, f64, i64)>> for MaxMap {
    fn from(v: Vec<(f64, f64, i64)>) -> Self {
        let mut m = MaxMap::default();
        for (a, b, t) in v {
            m.raise(a, b, t);
        }
        m
    }
}
impl From<MaxMap> for Vec<(f64, f64, i64)> {
    fn from(m: MaxMap) -> Self {
        m.iter().collect()
    }
}

impl MaxMap {
    /// Set the value on `[a, b)` to the maximum of what is there and `v`.
    pub fn raise(&mut self, a: f64, b: f64, v: i64) {
        let a = a.max(0.0);
        if b.partial_cmp(&a) != Some(std::cmp::Ordering::Greater) {
            return;
        }
        // entries [i, j) start in [a, b); entry i - 1 starts before a
        let i = self.map.lower(key(a));
        let j = self.map.lower(key(b)).max(i);
        let left = i
            .checked_sub(1)
            .map(|k| self.map.v[k])
            .filter(|(_, (e, _))| *e > a);
        let newest = left.is_none_or(|(_, (_, t))| t <= v)
            && self.map.v[i..j].iter().all(|(_, (_, t))| *t <= v);
        if newest {
            self.overwrite(a, b, v, (i, j), left.is_some());
        } else {
            self.raise_general(a, b, v);
        }
    }

    /// `raise` when `v` is at least every value under `[a, b)` (the usual case:
    /// passes arrive in time order): one splice in place of the entries under
    /// `[a, b)` (`i..j`, found by `raise`; `left`: entry `i - 1` reaches past
    /// `a`). The stretch becomes `v`, merged with a neighbour of value `v`
    /// that touches it; what an old entry had beyond `b` is kept from `b` on.
    fn overwrite(&mut self, a: f64, b: f64, v: i64, (i, j): (usize, usize), left: bool) {
        let kb = key(b);
        let m = &mut self.map.v;
        // what reaches beyond b: the left entry, or the last entry under [a, b)
        let mut tail: Option<(f64, i64)> = None;
        if left {
            let (le, lt) = m[i - 1].1;
            m[i - 1].1.0 = a;
            if le > b {
                tail = Some((le, lt));
            }
        }
        if j > i {
            let (e, t) = m[j - 1].1;
            if e > b {
                tail = Some((e, t));
            }
        }
        let (mut from, mut start) = (i, key(a));
        if i > 0 {
            let (pk, (pe, pt)) = m[i - 1];
            if pe == a && pt == v {
                (from, start) = (i - 1, pk);
            }
        }
        let (mut to, mut end) = (j, b);
        let mut after = None;
        match tail {
            Some((e, t)) if t == v => end = e,
            Some(rest) => after = Some((kb, rest)),
            None => {
                if let Some(&(k, (ne, nt))) = m.get(j)
                    && k == kb
                    && nt == v
                {
                    (to, end) = (j + 1, ne);
                }
            }
        }
        m.splice(from..to, std::iter::once((start, (end, v))).chain(after));
    }

    fn raise_general(&mut self, a: f64, b: f64, v: i64) {
        let mut hit: Vec<(f64, f64, i64)> = Vec::new();
        if let Some((k, (e, t))) = self.map.last_below(key(a))
            && e > a
        {
            hit.push((val(k), e, t));
        }
        hit.extend(
            self.map
                .range(key(a), key(b))
                .iter()
                .map(|&(k, (e, t))| (val(k), e, t)),
        );
        for &(f, _, _) in &hit {
            self.map.remove(key(f));
        }
        let mut pieces: Vec<(f64, f64, i64)> = Vec::with_capacity(hit.len() * 2 + 1);
        let mut cursor = a;
        for &(f, e, t) in &hit {
            if f < a {
                pieces.push((f, a, t));
            }
            let (lo, hi) = (f.max(a), e.min(b));
            if lo > cursor {
                pieces.push((cursor, lo, v));
            }
            pieces.push((lo, hi, t.max(v)));
            cursor = hi;
            if e > b {
                pieces.push((b, e, t));
            }
        }
        if cursor < b {
            pieces.push((cursor, b, v));
        }
        for (f, e, t) in pieces {
            if e > f {
                self.map.insert(key(f), (e, t));
            }
        }
        self.coalesce(a, b);
    }

    /// Merge touching intervals with equal values around `[a, b]`.
    fn coalesce(&mut self, a: f64, b: f64) {
        let start = self.map.last_below(key(a)).map_or(key(a), |(k, _)| k);
        let keys: Vec<u64> = self
            .map
            .range_from(start)
            .iter()
            .take_while(|(k, _)| val(*k) <= b)
            .map(|&(k, _)| k)
            .chain(
                self.map
                    .range_from(key(b).saturating_add(1))
                    .iter()
                    .take(1)
                    .map(|&(k, _)| k),
            )
            .collect();
        let mut prev: Option<u64> = None;
        for k in keys {
            let Some((e, t)) = self.map.get(k) else {
                continue;
            };
            if let Some(p) = prev
                && let Some((pe, pt)) = self.map.get(p)
                && pe == val(k)
                && pt == t
            {
                self.map.insert(p, (e, t));
                self.map.remove(k);
                continue;
            }
            prev = Some(k);
        }
    }

    /// The intervals and their values, in order.
    pub fn iter(&self) -> impl Iterator<Item = (f64, f64, i64)> + '_ {
        self.map.iter().map(|(k, (e, t))| (val(k), e, t))
    }

    /// Number of intervals stored.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// The B-tree implementation these types had until the engine's budget work
/// (issue 18), kept as the reference the sorted-vector one must agree with.
#[cfg(test)]
#[expect(dead_code, reason = "the reference keeps its former API whole")]
mod reference {
    use super::{key, val};
    use std::collections::BTreeMap;

    /// A set of disjoint, non-adjacent half-open intervals `[from, to)`.
    #[derive(Debug, Clone, Default, PartialEq)]
    pub(super) struct RefIntervalSet {
        map: BTreeMap<u64, f64>,
    }

    impl RefIntervalSet {
        /// Add `[a, b)`, merging with what it touches. Empty or NaN input is ignored.
        pub(super) fn insert(&mut self, a: f64, b: f64) {
            let (mut a, mut b) = (a.max(0.0), b);
            if b.partial_cmp(&a) != Some(std::cmp::Ordering::Greater) {
                return;
            }
            if let Some((&k, &e)) = self.map.range(..=key(a)).next_back()
                && e >= a
            {
                a = val(k);
                b = b.max(e);
                self.map.remove(&k);
            }
            while let Some((k, e)) = self
                .map
                .range(key(a)..=key(b))
                .next()
                .map(|(&k, &e)| (k, e))
            {
                b = b.max(e);
                self.map.remove(&k);
            }
            self.map.insert(key(a), b);
        }

        /// The intervals in order.
        pub(super) fn iter(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
            self.map.iter().map(|(&k, &e)| (val(k), e))
        }

        /// Total length.
        pub(super) fn measure(&self) -> f64 {
            self.iter().map(|(a, b)| b - a).sum()
        }

        /// Number of intervals.
        pub(super) fn len(&self) -> usize {
            self.map.len()
        }

        /// Whether there are no intervals.
        pub(super) fn is_empty(&self) -> bool {
            self.map.is_empty()
        }

        /// Union with another set.
        pub(super) fn extend_from(&mut self, other: &RefIntervalSet) {
            for (a, b) in other.iter() {
                self.insert(a, b);
            }
        }
    }

    /// A step function of integer counts: `add(a, b, d)` adds `d` on `[a, b)`.
    /// Equal and opposite steps cancel, so passes that tile the route end to end
    /// collapse into two entries.
    #[derive(Debug, Clone, Default, PartialEq)]
    pub(super) struct RefStepCounts {
        steps: BTreeMap<u64, i32>,
    }

    impl RefStepCounts {
        fn step(&mut self, x: f64, d: i32) {
            let e = self.steps.entry(key(x)).or_insert(0);
            *e += d;
            if *e == 0 {
                self.steps.remove(&key(x));
            }
        }

        /// Add `d` over `[a, b)`.
        pub(super) fn add(&mut self, a: f64, b: f64, d: i32) {
            if b > a {
                self.step(a, d);
                self.step(b, -d);
            }
        }

        /// Maximal runs `(from, to, count)` with a constant non-zero count.
        pub(super) fn runs(&self) -> Vec<(f64, f64, i32)> {
            let mut out = Vec::new();
            let mut acc = 0;
            let mut prev = 0.0;
            for (&k, &d) in &self.steps {
                let x = val(k);
                if acc != 0 && x > prev {
                    out.push((prev, x, acc));
                }
                acc += d;
                prev = x;
            }
            out
        }

        /// Number of breakpoints stored.
        pub(super) fn len(&self) -> usize {
            self.steps.len()
        }

        /// Whether no counts are stored.
        pub(super) fn is_empty(&self) -> bool {
            self.steps.is_empty()
        }
    }

    /// Disjoint intervals each carrying a value; `raise` keeps the maximum.
    #[derive(Debug, Clone, Default, PartialEq)]
    pub(super) struct RefMaxMap {
        map: BTreeMap<u64, (f64, i64)>,
    }

    impl RefMaxMap {
        /// Set the value on `[a, b)` to the maximum of what is there and `v`.
        pub(super) fn raise(&mut self, a: f64, b: f64, v: i64) {
            let a = a.max(0.0);
            if b.partial_cmp(&a) != Some(std::cmp::Ordering::Greater) {
                return;
            }
            let left = self
                .map
                .range(..key(a))
                .next_back()
                .filter(|(_, (e, _))| *e > a)
                .map(|(&k, &x)| (k, x));
            let newest = left.is_none_or(|(_, (_, t))| t <= v)
                && self.map.range(key(a)..key(b)).all(|(_, (_, t))| *t <= v);
            if newest {
                self.overwrite(a, b, v, left);
            } else {
                self.raise_general(a, b, v);
            }
        }

        /// `raise` when `v` is at least every value under `[a, b)` (the usual case:
        /// passes arrive in time order): overwrite without allocating.
        fn overwrite(&mut self, a: f64, b: f64, v: i64, left: Option<(u64, (f64, i64))>) {
            if let Some((lk, (le, lt))) = left {
                self.map.insert(lk, (a, lt));
                if le > b {
                    self.map.insert(key(b), (le, lt));
                }
            }
            while let Some((k, (e, t))) =
                self.map.range(key(a)..key(b)).next().map(|(&k, &x)| (k, x))
            {
                self.map.remove(&k);
                if e > b {
                    self.map.insert(key(b), (e, t));
                }
            }
            let mut start = key(a);
            let mut end = b;
            if let Some((&pk, &(pe, pt))) = self.map.range(..key(a)).next_back()
                && pe == a
                && pt == v
            {
                start = pk;
            }
            if let Some(&(ne, nt)) = self.map.get(&key(b))
                && nt == v
            {
                self.map.remove(&key(b));
                end = ne;
            }
            self.map.insert(start, (end, v));
        }

        fn raise_general(&mut self, a: f64, b: f64, v: i64) {
            let mut hit: Vec<(f64, f64, i64)> = Vec::new();
            if let Some((&k, &(e, t))) = self.map.range(..key(a)).next_back()
                && e > a
            {
                hit.push((val(k), e, t));
            }
            hit.extend(
                self.map
                    .range(key(a)..key(b))
                    .map(|(&k, &(e, t))| (val(k), e, t)),
            );
            for &(f, _, _) in &hit {
                self.map.remove(&key(f));
            }
            let mut pieces: Vec<(f64, f64, i64)> = Vec::with_capacity(hit.len() * 2 + 1);
            let mut cursor = a;
            for &(f, e, t) in &hit {
                if f < a {
                    pieces.push((f, a, t));
                }
                let (lo, hi) = (f.max(a), e.min(b));
                if lo > cursor {
                    pieces.push((cursor, lo, v));
                }
                pieces.push((lo, hi, t.max(v)));
                cursor = hi;
                if e > b {
                    pieces.push((b, e, t));
                }
            }
            if cursor < b {
                pieces.push((cursor, b, v));
            }
            for (f, e, t) in pieces {
                if e > f {
                    self.map.insert(key(f), (e, t));
                }
            }
            self.coalesce(a, b);
        }

        /// Merge touching intervals with equal values around `[a, b]`.
        fn coalesce(&mut self, a: f64, b: f64) {
            let start = self
                .map
                .range(..key(a))
                .next_back()
                .map_or(key(a), |(&k, _)| k);
            let keys: Vec<u64> = self
                .map
                .range(start..)
                .take_while(|(k, _)| val(**k) <= b)
                .map(|(&k, _)| k)
                .chain(
                    self.map
                        .range(key(b).saturating_add(1)..)
                        .take(1)
                        .map(|(&k, _)| k),
                )
                .collect();
            let mut prev: Option<u64> = None;
            for k in keys {
                let Some(&(e, t)) = self.map.get(&k) else {
                    continue;
                };
                if let Some(p) = prev {
                    let (pe, pt) = self.map[&p];
                    if pe == val(k) && pt == t {
                        self.map.insert(p, (e, t));
                        self.map.remove(&k);
                        continue;
                    }
                }
                prev = Some(k);
            }
        }

        /// The intervals and their values, in order.
        pub(super) fn iter(&self) -> impl Iterator<Item = (f64, f64, i64)> + '_ {
            self.map.iter().map(|(&k, &(e, t))| (val(k), e, t))
        }

        /// Number of intervals stored.
        pub(super) fn len(&self) -> usize {
            self.map.len()
        }

        /// Whether empty.
        pub(super) fn is_empty(&self) -> bool {
            self.map.is_empty()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Positions on a coarse grid (so intervals touch and coincide often), a
    /// few off it, and the odd negative one (clamped to 0).
    fn pos() -> impl Strategy<Value = f64> {
        prop_oneof![
            8 => (0u32..40).prop_map(|i| f64::from(i) * 2.5),
            2 => 0.0f64..100.0,
            1 => -5.0f64..0.0,
        ]
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(f64, f64),
        Step(f64, f64, i32),
        Raise(f64, f64, i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (pos(), pos()).prop_map(|(a, b)| Op::Insert(a, b)),
            (
                pos(),
                pos(),
                prop_oneof![Just(1), Just(-1), Just(2), Just(0)]
            )
                .prop_map(|(a, b, d)| Op::Step(a, b, d)),
            (pos(), pos(), 0i64..6).prop_map(|(a, b, v)| Op::Raise(a, b, v)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The sorted-vector structures do exactly what the B-tree ones did.
        #[test]
        fn agree_with_the_b_tree_reference(ops in prop::collection::vec(op(), 1..60)) {
            let (mut s, mut rs) = (IntervalSet::default(), reference::RefIntervalSet::default());
            let (mut c, mut rc) = (StepCounts::default(), reference::RefStepCounts::default());
            let (mut m, mut rm) = (MaxMap::default(), reference::RefMaxMap::default());
            for o in ops {
                match o {
                    Op::Insert(a, b) => { s.insert(a, b); rs.insert(a, b); }
                    Op::Step(a, b, d) => { c.add(a, b, d); rc.add(a, b, d); }
                    Op::Raise(a, b, v) => { m.raise(a, b, v); rm.raise(a, b, v); }
                }
                prop_assert_eq!(s.iter().collect::<Vec<_>>(), rs.iter().collect::<Vec<_>>());
                prop_assert_eq!(s.measure(), rs.measure());
                prop_assert_eq!(c.runs(), rc.runs());
                prop_assert_eq!(c.len(), rc.len());
                prop_assert_eq!(m.iter().collect::<Vec<_>>(), rm.iter().collect::<Vec<_>>());
                prop_assert_eq!(m.len(), rm.len());
            }
        }
    }

    #[test]
    fn interval_set_merges() {
        let mut s = IntervalSet::default();
        s.insert(10.0, 20.0);
        s.insert(30.0, 40.0);
        s.insert(15.0, 32.0);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![(10.0, 40.0)]);
        s.insert(40.0, 45.0);
        s.insert(0.0, 1.0);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![(0.0, 1.0), (10.0, 45.0)]);
        assert_eq!(s.measure(), 36.0);
    }

    #[test]
    fn step_counts_cancel() {
        let mut c = StepCounts::default();
        c.add(0.0, 10.0, 1);
        c.add(10.0, 20.0, 1);
        assert_eq!(c.len(), 2);
        c.add(5.0, 15.0, 1);
        assert_eq!(
            c.runs(),
            vec![(0.0, 5.0, 1), (5.0, 15.0, 2), (15.0, 20.0, 1)]
        );
        c.add(5.0, 15.0, -1);
        assert_eq!(c.runs(), vec![(0.0, 20.0, 1)]);
    }

    #[test]
    fn max_map_keeps_newest() {
        let mut m = MaxMap::default();
        m.raise(0.0, 10.0, 5);
        m.raise(5.0, 15.0, 3);
        m.raise(12.0, 20.0, 7);
        assert_eq!(
            m.iter().collect::<Vec<_>>(),
            vec![(0.0, 10.0, 5), (10.0, 12.0, 3), (12.0, 20.0, 7)]
        );
        m.raise(0.0, 20.0, 7);
        assert_eq!(m.iter().collect::<Vec<_>>(), vec![(0.0, 20.0, 7)]);
    }
}
