// Rust std consumer (no crates): fs::read, read_dir + metadata (statx,
// dirfd-relative), fs::copy (copy_file_range), canonicalize, File + seek.
// Built by tests/py/shim/test_langs.py with rustc into a tmp dir.
// usage: rust_std ROOT OUTFILE
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

fn fnv(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for x in b {
        h ^= *x as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
    let mut ents: Vec<_> = fs::read_dir(dir).expect("read_dir").map(|e| e.unwrap()).collect();
    ents.sort_by_key(|e| e.file_name());
    for e in ents {
        let ft = e.file_type().unwrap();
        let md = e.metadata().unwrap(); // statx(dirfd, name, AT_SYMLINK_NOFOLLOW)
        let rel = e.path().strip_prefix(root).unwrap().display().to_string();
        let size = if ft.is_dir() { -1 } else { md.len() as i64 };
        out.push(format!("{} dir={} link={} size={}", rel, ft.is_dir(), ft.is_symlink(), size));
        if ft.is_dir() {
            walk(&e.path(), root, out);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let root = Path::new(&args[1]);
    for n in ["mid.bin", "b4097.bin", "empty.bin", "link_deep", "big40.bin"] {
        let b = fs::read(root.join(n)).expect("fs::read");
        println!("read {} {} {:016x}", n, b.len(), fnv(&b));
    }
    let t = fs::read_to_string(root.join("text.txt")).expect("read_to_string");
    println!("text {} {:016x}", t.lines().count(), fnv(t.as_bytes()));
    let mut out = Vec::new();
    walk(root, root, &mut out);
    for l in out {
        println!("{}", l);
    }
    let md = fs::metadata(root.join("dirlink")).unwrap();
    println!("metadata dirlink is_dir={}", md.is_dir());
    println!("exists nope={}", root.join("nope").exists());
    let n = fs::copy(root.join("mid.bin"), &args[2]).expect("fs::copy");
    let c = fs::read(&args[2]).unwrap();
    println!("copy {} {:016x}", n, fnv(&c));
    let canon = fs::canonicalize(root.join("nested/a/b/up3")).unwrap();
    println!("canonicalize {}", canon.display());
    let mut f = fs::File::open(root.join("b4097.bin")).unwrap();
    f.seek(SeekFrom::Start(4090)).unwrap();
    let mut b = [0u8; 16];
    let k = f.read(&mut b).unwrap();
    println!("seek read {} {:016x}", k, fnv(&b[..k]));
    match fs::File::create(root.join("new.bin")) {
        Ok(_) => println!("create ok"),
        Err(e) => println!("create err {:?}", e.raw_os_error().is_some()),
    }
}
