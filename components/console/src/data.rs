//! `/data` at the console: `write`, `rm` and `df`'s line, through
//! `zx.data.DataFs` (reads are `ls /data` and `cat /data/FILE`, through
//! the `data` directory like any other).

use crate::bindings::zx_data::{
    DataFsClient, DataFsMarker, DataFsRemoveRequest, DataFsWriteRequest, MAX_WRITE,
};
use alloc::format;
use alloc::string::String;
use zx_idl::ChannelTransport;
use zx_runtime::println;

fn client() -> Result<DataFsClient<ChannelTransport>, String> {
    let name = DataFsMarker::DISCOVERABLE_NAME.unwrap_or("zx.data.DataFs");
    zx_component::connect(name)
        .map(|channel| DataFsClient::new(ChannelTransport::new(channel)))
        .map_err(|status| format!("{status}"))
}

/// The file name `path` gives below `/data`.
fn file_name(path: &str) -> Option<&str> {
    path.strip_prefix("/data/")
        .filter(|name| !name.is_empty() && !name.contains('/'))
}

fn answer<T, E: core::fmt::Debug>(result: Result<Result<T, i32>, E>) -> Result<T, String> {
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(code)) => Err(format!("{}", zx::Status(code))),
        Err(error) => Err(format!("datafs does not answer: {error:?}")),
    }
}

/// `write /data/FILE text...`: the text and a newline replace the file.
pub fn write(path: &str, text: &str) {
    let Some(name) = file_name(path) else {
        return println!("write: {path} is not a file of /data (/data/NAME)");
    };
    let mut content = String::from(text);
    content.push('\n');
    if content.len() > MAX_WRITE as usize {
        return println!("write: at most {} bytes at a time", MAX_WRITE - 1);
    }
    let result = client().and_then(|client| {
        answer(client.write(DataFsWriteRequest {
            name: name.into(),
            data: content.as_bytes().to_vec(),
            append: false,
        }))
    });
    match result {
        Ok(_) => println!("wrote {} bytes to {path}", content.len()),
        Err(why) => println!("write: {path}: {why}"),
    }
}

/// `rm /data/FILE`.
pub fn remove(path: &str) {
    let Some(name) = file_name(path) else {
        return println!("rm: {path} is not a file of /data (/data/NAME)");
    };
    let result = client()
        .and_then(|client| answer(client.remove(DataFsRemoveRequest { name: name.into() })));
    match result {
        Ok(_) => println!("removed {path}"),
        Err(why) => println!("rm: {path}: {why}"),
    }
}

/// `df`'s line for `/data`.
pub fn print_usage() {
    let info = client().and_then(|client| {
        client
            .get_info()
            .map_err(|error| format!("datafs does not answer: {error:?}"))
    });
    let info = match info {
        Ok(response) => response.info,
        Err(why) => return println!("df: /data: {why}"),
    };
    let block = u64::from(info.block_size);
    let total = info.total_blocks * block;
    let used = info.used_blocks * block;
    let percent = (used * 100).checked_div(total).unwrap_or(0);
    println!(
        "{:<10} {:>12} {:>12} {:>12} {:>4}%  {} files",
        "datafs",
        total,
        used,
        total - used,
        percent,
        info.file_count
    );
}
