//! Import a strace log with the core alone (profiling aid):
//! `cargo run --release --example import_file -- LOG`.
use std::io::Read;

fn main() {
    let path = std::env::args().nth(1).expect("usage: import_file LOG");
    let mut f = std::fs::File::open(&path).expect("open");
    let mut imp = _core::import::Importer::new(None);
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0usize;
    let t = std::time::Instant::now();
    loop {
        let k = f.read(&mut buf).expect("read");
        if k == 0 {
            break;
        }
        imp.feed_bytes(&buf[..k]);
        n += imp.out.len();
        imp.out.clear();
    }
    imp.finish();
    n += imp.out.len();
    eprintln!("{n} events in {:?}", t.elapsed());
}
