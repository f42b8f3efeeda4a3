//! A set of integers that iterates in the order CPython 3.11's `set` does.
//!
//! The Python importer iterates sets of thread ids and of close-on-exec fds
//! (`for t in list(proc.tids)`), and the order decides the order of the
//! events it emits.  To emit the same events the core keeps these sets the
//! way `Objects/setobject.c` does: open addressing with 9 linear probes,
//! perturbed probing, dummies on removal, the same resize rule.  A test
//! checks the order against the running interpreter.

const LINEAR_PROBES: usize = 9;
const PERTURB_SHIFT: u32 = 5;
const MINSIZE: usize = 8;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Slot {
    Unused,
    Dummy,
    Active(i64, i64),
}

/// CPython's `hash()` of an int.
pub fn py_hash(v: i64) -> i64 {
    const P: i128 = (1 << 61) - 1;
    let a = i128::from(v).abs() % P;
    let h = if v < 0 { -a } else { a } as i64;
    if h == -1 {
        -2
    } else {
        h
    }
}

/// An insertion-history-faithful model of a CPython `set` of ints.
#[derive(Clone, Debug)]
pub struct PySet {
    table: Vec<Slot>,
    fill: usize,
    used: usize,
}

impl Default for PySet {
    fn default() -> Self {
        PySet {
            table: vec![Slot::Unused; MINSIZE],
            fill: 0,
            used: 0,
        }
    }
}

impl PySet {
    /// `{a}`.
    pub fn of(v: i64) -> Self {
        let mut s = PySet::default();
        s.add(v);
        s
    }

    fn mask(&self) -> usize {
        self.table.len() - 1
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.used
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.used == 0
    }

    /// `v in s`.
    pub fn contains(&self, v: i64) -> bool {
        self.find(v).is_some()
    }

    fn find(&self, v: i64) -> Option<usize> {
        let hash = py_hash(v);
        let mask = self.mask();
        let mut i = (hash as u64 as usize) & mask;
        let mut perturb = hash as u64;
        loop {
            let probes = if i + LINEAR_PROBES <= mask {
                LINEAR_PROBES
            } else {
                0
            };
            for j in i..=i + probes {
                match self.table[j] {
                    Slot::Unused => return None,
                    Slot::Active(k, _) if k == v => return Some(j),
                    _ => {}
                }
            }
            perturb >>= PERTURB_SHIFT;
            i = (i
                .wrapping_mul(5)
                .wrapping_add(1)
                .wrapping_add(perturb as usize))
                & mask;
        }
    }

    /// `s.add(v)`.
    pub fn add(&mut self, v: i64) {
        let hash = py_hash(v);
        let mask = self.mask();
        let mut i = (hash as u64 as usize) & mask;
        let mut perturb = hash as u64;
        let mut freeslot: Option<usize> = None;
        let unused;
        'outer: loop {
            let probes = if i + LINEAR_PROBES <= mask {
                LINEAR_PROBES
            } else {
                0
            };
            for j in i..=i + probes {
                match self.table[j] {
                    Slot::Unused => {
                        unused = j;
                        break 'outer;
                    }
                    Slot::Active(k, _) if k == v => return,
                    Slot::Dummy if freeslot.is_none() => freeslot = Some(j),
                    _ => {}
                }
            }
            perturb >>= PERTURB_SHIFT;
            i = (i
                .wrapping_mul(5)
                .wrapping_add(1)
                .wrapping_add(perturb as usize))
                & mask;
        }
        if let Some(f) = freeslot {
            self.used += 1;
            self.table[f] = Slot::Active(v, hash);
            return;
        }
        self.fill += 1;
        self.used += 1;
        self.table[unused] = Slot::Active(v, hash);
        if self.fill * 5 < mask * 3 {
            return;
        }
        let minused = if self.used > 50000 {
            self.used * 2
        } else {
            self.used * 4
        };
        self.resize(minused);
    }

    /// `s.discard(v)`.
    pub fn discard(&mut self, v: i64) {
        if let Some(j) = self.find(v) {
            self.table[j] = Slot::Dummy;
            self.used -= 1;
        }
    }

    fn resize(&mut self, minused: usize) {
        let mut newsize = MINSIZE;
        while newsize <= minused {
            newsize <<= 1;
        }
        if newsize == MINSIZE && self.table.len() == MINSIZE && self.fill == self.used {
            return;
        }
        let old = std::mem::replace(&mut self.table, vec![Slot::Unused; newsize]);
        self.fill = self.used;
        for s in old {
            if let Slot::Active(k, h) = s {
                self.insert_clean(k, h);
            }
        }
    }

    fn insert_clean(&mut self, k: i64, hash: i64) {
        let mask = self.mask();
        let mut i = (hash as u64 as usize) & mask;
        let mut perturb = hash as u64;
        loop {
            if self.table[i] == Slot::Unused {
                self.table[i] = Slot::Active(k, hash);
                return;
            }
            if i + LINEAR_PROBES <= mask {
                for j in 1..=LINEAR_PROBES {
                    if self.table[i + j] == Slot::Unused {
                        self.table[i + j] = Slot::Active(k, hash);
                        return;
                    }
                }
            }
            perturb >>= PERTURB_SHIFT;
            i = (i
                .wrapping_mul(5)
                .wrapping_add(1)
                .wrapping_add(perturb as usize))
                & mask;
        }
    }

    /// `set(s)`: a copy as CPython's `set_merge` into an empty set makes it.
    pub fn copy(&self) -> PySet {
        let mut n = PySet::default();
        if self.used == 0 {
            return n;
        }
        if (self.used) * 5 >= n.mask() * 3 {
            n.resize(self.used * 2);
        }
        if n.table.len() == self.table.len() && self.fill == self.used {
            n.table = self.table.clone();
            n.fill = self.fill;
            n.used = self.used;
            return n;
        }
        n.fill = self.used;
        n.used = self.used;
        for s in &self.table {
            if let Slot::Active(k, h) = *s {
                n.insert_clean(k, h);
            }
        }
        n
    }

    /// The members in iteration order.
    pub fn items(&self) -> Vec<i64> {
        self.table
            .iter()
            .filter_map(|s| match s {
                Slot::Active(k, _) => Some(*k),
                _ => None,
            })
            .collect()
    }
}
