//! Property tests: the line parser never panics, on arbitrary bytes and on
//! mutated real strace lines, and always returns slices of its input.

use _core::parse::parse_line;
use proptest::prelude::*;

const LINES: &[&[u8]] = &[
    b"4849  1795816365.090711 openat(AT_FDCWD</tmp/d>, \"/x\", O_RDONLY) = 3</x> <0.000016>\n",
    b"[pid  4937] 21:52:50.715991 openat(AT_FDCWD, \"/x\", O_RDONLY) = -1 ENOENT (No such file) <0.1>\n",
    b"4850  <... wait4 resumed>[{WIFEXITED(s) && WEXITSTATUS(s) == 0}], 0, NULL) = 4850 <0.05>\n",
    b"5507  execve(\"/bin/true\", [\"true\"], 0x7ffe /* 35 vars */ <pid changed to 5506 ...>\n",
    b"5506  --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=5507} ---\n",
    b"5506  +++ killed by SIGSEGV (core dumped) +++\n",
    b"3 socket(AF_INET, SOCK_STREAM, 0) = 3<TCP:[1.2.3.4:5->6.7.8.9:10]>\n",
    b"3 openat(AT_FDCWD, \"/dev/null\", O_RDONLY) = 3</dev/null<char 1:3>>(deleted)\n",
    b"21:52:50.702852 (+     0.000000) fcntl(3, F_GETFL) = 0x8002 (flags O_RDWR) <0.000004>\n",
    b"strace: Process 4969 attached with 3 threads\n",
];

fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(LINES),
        prop::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 0..8),
    )
        .prop_map(|(line, edits)| {
            let mut v = line.to_vec();
            for (pos, byte, op) in edits {
                let i = if v.is_empty() { 0 } else { pos % (v.len() + 1) };
                match op {
                    0 => v.insert(i, byte),
                    1 if i < v.len() => {
                        v.remove(i);
                    }
                    _ if i < v.len() => v[i] = byte,
                    _ => v.push(byte),
                }
            }
            v
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(b in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse_line(&b);
    }

    #[test]
    fn mutated_lines_never_panic(b in mutated()) {
        if let Some(l) = parse_line(&b) {
            // every borrowed field is a part of the line
            prop_assert!(l.args.len() <= b.len());
            if let Some(n) = l.name { prop_assert!(n.len() <= b.len()); }
        }
    }

    #[test]
    fn long_junk_lines_never_panic(rep in 1usize..3000, piece in prop::sample::select(vec![&b") = "[..], b" = ", b"<", b"x(", b"\\"])) {
        let mut v = b"x(".to_vec();
        for _ in 0..rep { v.extend_from_slice(piece); }
        let _ = parse_line(&v);
    }
}
