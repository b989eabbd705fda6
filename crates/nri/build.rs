//! Generates the protobuf messages and ttrpc services from `proto/nri.proto`
//! into `OUT_DIR/gen` (pure-Rust parser: no `protoc` needed).

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=proto/nri.proto");
    println!("cargo:rerun-if-changed=build.rs");

    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    // A dedicated directory: the code generators write their own `mod.rs`,
    // which must not clobber anything else in OUT_DIR.
    let gen_dir = out_dir.join("gen");
    fs::create_dir_all(&gen_dir).expect("create OUT_DIR/gen");

    ttrpc_codegen::Codegen::new()
        .out_dir(&gen_dir)
        .inputs(["proto/nri.proto"])
        .include("proto")
        .rust_protobuf()
        .customize(ttrpc_codegen::Customize {
            async_all: true,
            ..Default::default()
        })
        .rust_protobuf_customize(ttrpc_codegen::ProtobufCustomize::default().gen_mod_rs(false))
        .run()
        .expect("generating NRI protobuf and ttrpc code from proto/nri.proto");

    // The generated files start with inner attributes (`#![...]`), which
    // `include!` rejects; loading them as modules through `#[path]` keeps
    // them intact. `src/proto.rs` includes this file.
    let modules = format!(
        "#[path = {nri:?}]\npub mod nri;\n#[path = {ttrpc:?}]\npub mod nri_ttrpc;\n",
        nri = gen_dir.join("nri.rs"),
        ttrpc = gen_dir.join("nri_ttrpc.rs"),
    );
    fs::write(out_dir.join("generated_modules.rs"), modules).expect("write generated_modules.rs");
}
