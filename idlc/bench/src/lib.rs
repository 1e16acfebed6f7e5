//! The same four messages in three encodings: idlc's generated FIDL types,
//! serde + postcard, and prost (protobuf), plus a generator of a large
//! synthetic library for measuring compile time. See `benches/wire.rs`
//! and the idlc section of `docs/performance.md`.

include!(concat!(env!("OUT_DIR"), "/idl.rs"));

pub mod serde_types {
    use serde::{Deserialize, Serialize};

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct Small {
        pub id: u64,
        pub x: i32,
        pub y: i32,
        pub flag: bool,
    }

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct Blob {
        pub data: Vec<u8>,
    }

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct TreeNode {
        pub value: u64,
        pub children: Vec<TreeNode>,
    }

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct LogRecord {
        pub timestamp: Option<i64>,
        pub severity: Option<u8>,
        pub tag: Option<String>,
        pub message: Option<String>,
        pub pid: Option<u64>,
        pub tid: Option<u64>,
        pub file: Option<String>,
        pub line: Option<u32>,
    }
}

pub mod prost_types {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Small {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        #[prost(int32, tag = "2")]
        pub x: i32,
        #[prost(int32, tag = "3")]
        pub y: i32,
        #[prost(bool, tag = "4")]
        pub flag: bool,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Blob {
        #[prost(bytes = "vec", tag = "1")]
        pub data: Vec<u8>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TreeNode {
        #[prost(uint64, tag = "1")]
        pub value: u64,
        #[prost(message, repeated, tag = "2")]
        pub children: Vec<TreeNode>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct LogRecord {
        #[prost(int64, optional, tag = "1")]
        pub timestamp: Option<i64>,
        #[prost(uint32, optional, tag = "2")]
        pub severity: Option<u32>,
        #[prost(string, optional, tag = "3")]
        pub tag: Option<String>,
        #[prost(string, optional, tag = "4")]
        pub message: Option<String>,
        #[prost(uint64, optional, tag = "5")]
        pub pid: Option<u64>,
        #[prost(uint64, optional, tag = "6")]
        pub tid: Option<u64>,
        #[prost(string, optional, tag = "7")]
        pub file: Option<String>,
        #[prost(uint32, optional, tag = "8")]
        pub line: Option<u32>,
    }
}

/// A library of `types` struct/table/union/enum declarations and
/// `protocols` protocols of 5 methods each, for compile-time measurements.
pub fn synthetic_library(types: usize, protocols: usize) -> String {
    let mut out = String::from("library synthetic;\n");
    for i in 0..types {
        let decl = match i % 4 {
            0 => format!(
                "type T{i} = struct {{ a uint32; b string:64; c vector<uint64>:8; d bool; }};\n"
            ),
            1 => format!(
                "type T{i} = table {{ 1: a uint32; 2: b string; 3: c T{}; }};\n",
                i - 1
            ),
            2 => format!(
                "type T{i} = flexible union {{ 1: a uint32; 2: b T{}; }};\n",
                i - 2
            ),
            _ => format!("type T{i} = strict enum : uint16 {{ A = 1; B = 2; C = 3; }};\n"),
        };
        out.push_str(&decl);
    }
    for p in 0..protocols {
        out.push_str(&format!("open protocol P{p} {{\n"));
        for m in 0..5 {
            let t = (p * 5 + m) % types.max(1) / 4 * 4;
            out.push_str(&format!(
                "    flexible M{m}(struct {{ value T{t}; }}) -> (struct {{ result uint64; }}) error int32;\n"
            ));
        }
        out.push_str("};\n");
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn synthetic_library_compiles_to_rust() {
        let text = super::synthetic_library(1000, 100);
        let mut sources = idlc::source::SourceMap::new();
        sources.add("synthetic.idl", text);
        let start = std::time::Instant::now();
        let ir = idlc::compile(&sources, &Default::default()).unwrap();
        let files = idlc::backend::rust::generate(&ir);
        eprintln!(
            "1000 types + 100 protocols: {:?} (unoptimized)",
            start.elapsed()
        );
        assert_eq!(ir.libraries[0].protocols.len(), 100);
        assert!(files[0].1.len() > 100_000);
    }

    #[test]
    fn the_three_encodings_agree_on_values() {
        use crate::bench::Small;
        let mut value = Small {
            id: 1,
            x: 2,
            y: 3,
            flag: true,
        };
        let mut bytes = Vec::new();
        idlc_runtime::encode(&mut value, &mut bytes, &mut Vec::new()).unwrap();
        assert_eq!(bytes.len(), 24);
        assert_eq!(
            idlc_runtime::decode::<Small>(&bytes, &mut []).unwrap(),
            value
        );
    }
}
