//! Encode and decode+validate of the same messages with idlc's generated
//! FIDL types, postcard and prost; and the compile time of a library of
//! 1,000 types and 100 protocols. Run with `cargo bench -p idlc-bench`.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use idlc_bench::{bench as idl, prost_types as pb, serde_types as sd};
use prost::Message;

fn tree_idl(depth: u32, value: &mut u64) -> idl::TreeNode {
    *value += 1;
    let me = *value;
    let children = if depth == 0 {
        vec![]
    } else {
        vec![tree_idl(depth - 1, value), tree_idl(depth - 1, value)]
    };
    idl::TreeNode {
        value: me,
        children,
    }
}

fn tree_serde(t: &idl::TreeNode) -> sd::TreeNode {
    sd::TreeNode {
        value: t.value,
        children: t.children.iter().map(tree_serde).collect(),
    }
}

fn tree_prost(t: &idl::TreeNode) -> pb::TreeNode {
    pb::TreeNode {
        value: t.value,
        children: t.children.iter().map(tree_prost).collect(),
    }
}

fn idl_decode<T: idlc_runtime::Wire>(_like: &T, bytes: &[u8]) -> T {
    idlc_runtime::decode(bytes, &mut []).unwrap()
}

fn postcard_decode<'a, T: serde::Deserialize<'a>>(_like: &T, bytes: &'a [u8]) -> T {
    postcard::from_bytes(bytes).unwrap()
}

fn prost_decode<T: Message + Default>(_like: &T, bytes: &[u8]) -> T {
    T::decode(bytes).unwrap()
}

macro_rules! compare {
    ($c:expr, $name:expr, $idl:expr, $serde:expr, $prost:expr) => {{
        let mut idl_value = $idl;
        let serde_value = $serde;
        let prost_value = $prost;
        let mut bytes = Vec::with_capacity(16384);
        let mut handles = Vec::new();
        let mut group = $c.benchmark_group(format!("encode/{}", $name));
        group.bench_function("idlc", |b| {
            b.iter(|| {
                bytes.clear();
                idlc_runtime::encode(black_box(&mut idl_value), &mut bytes, &mut handles).unwrap();
                black_box(bytes.len())
            })
        });
        let mut buffer = vec![0u8; 16384];
        group.bench_function("postcard", |b| {
            b.iter(|| {
                black_box(
                    postcard::to_slice(black_box(&serde_value), &mut buffer)
                        .unwrap()
                        .len(),
                )
            })
        });
        let mut pbytes = Vec::with_capacity(16384);
        group.bench_function("prost", |b| {
            b.iter(|| {
                pbytes.clear();
                black_box(&prost_value).encode(&mut pbytes).unwrap();
                black_box(pbytes.len())
            })
        });
        group.finish();

        bytes.clear();
        idlc_runtime::encode(&mut idl_value, &mut bytes, &mut handles).unwrap();
        let postcard_bytes = postcard::to_allocvec(&serde_value).unwrap();
        let prost_bytes = prost_value.encode_to_vec();
        let mut group = $c.benchmark_group(format!("decode/{}", $name));
        group.bench_function("idlc", |b| {
            b.iter(|| black_box(idl_decode(&idl_value, black_box(&bytes))))
        });
        group.bench_function("postcard", |b| {
            b.iter(|| black_box(postcard_decode(&serde_value, black_box(&postcard_bytes))))
        });
        group.bench_function("prost", |b| {
            b.iter(|| black_box(prost_decode(&prost_value, black_box(&prost_bytes))))
        });
        group.finish();
    }};
}

fn wire(c: &mut Criterion) {
    compare!(
        c,
        "small_struct",
        idl::Small {
            id: 42,
            x: -1,
            y: 7,
            flag: true
        },
        sd::Small {
            id: 42,
            x: -1,
            y: 7,
            flag: true
        },
        pb::Small {
            id: 42,
            x: -1,
            y: 7,
            flag: true
        }
    );
    let data: Vec<u8> = (0..4096u32).map(|i| i as u8).collect();
    compare!(
        c,
        "bytes_4k",
        idl::Blob { data: data.clone() },
        sd::Blob { data: data.clone() },
        pb::Blob { data: data.clone() }
    );
    let tree = tree_idl(5, &mut 0);
    compare!(
        c,
        "tree_63",
        tree.clone(),
        tree_serde(&tree),
        tree_prost(&tree)
    );
    let tag = "netstack".to_string();
    let message = "connection from 10.0.0.1 closed after 1532 ms (reason: peer reset)".to_string();
    let file = "src/connectivity/network/tcp.rs".to_string();
    compare!(
        c,
        "log_record",
        idl::LogRecord {
            timestamp: Some(1_700_000_000_000),
            severity: Some(3),
            tag: Some(tag.clone()),
            message: Some(message.clone()),
            pid: Some(1234),
            tid: Some(5678),
            file: Some(file.clone()),
            line: Some(321),
            ..Default::default()
        },
        sd::LogRecord {
            timestamp: Some(1_700_000_000_000),
            severity: Some(3),
            tag: Some(tag.clone()),
            message: Some(message.clone()),
            pid: Some(1234),
            tid: Some(5678),
            file: Some(file.clone()),
            line: Some(321),
        },
        pb::LogRecord {
            timestamp: Some(1_700_000_000_000),
            severity: Some(3),
            tag: Some(tag),
            message: Some(message),
            pid: Some(1234),
            tid: Some(5678),
            file: Some(file),
            line: Some(321),
        }
    );
}

fn compile_time(c: &mut Criterion) {
    let text = idlc_bench::synthetic_library(1000, 100);
    let mut group = c.benchmark_group("compile");
    group.sample_size(10);
    group.bench_with_input(
        BenchmarkId::new("idlc", "1000_types_100_protocols"),
        &text,
        |b, text| {
            b.iter(|| {
                let mut sources = idlc::source::SourceMap::new();
                sources.add("synthetic.idl", text.as_str());
                let ir = idlc::compile(&sources, &Default::default()).unwrap();
                black_box(idlc::backend::rust::generate(&ir))
            })
        },
    );
    group.finish();
}

criterion_group!(benches, wire, compile_time);
criterion_main!(benches);
