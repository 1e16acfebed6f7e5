//! Read-only directories and files over `zx.io` (`idl/io.idl`): serving a
//! tree of them, and reading one.
//!
//! A server describes its tree with [`Tree`] (what a path is, what a
//! directory holds, the bytes of a file) and hands each connection to
//! [`serve`], which answers `Directory` and `File` requests on an async
//! executor, one task per connection. The component manager serves the
//! bootfs this way; the logger serves its records.
//!
//! A client reads with [`read_dir`] and [`read_file`] on a directory
//! channel, such as one from the namespace (`crate::namespace`).

use crate::bindings::zx_io::{
    dispatch_directory, dispatch_file, DirEntry, DirectoryClient, DirectoryOpenRequest,
    DirectoryReadDirResponse, DirectoryServer, EntryKind, FileClient, FileGetSizeResponse,
    FileReadRequest, FileReadResponse, FileServer, MAX_READ,
};
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use idlc_runtime::Transport;
use zx::{AsHandleRef, Channel, Handle, Status};
use zx_async::Spawner;
use zx_idl::ChannelTransport;

/// What a path of a [`Tree`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    /// A directory.
    Directory,
    /// A file of this many bytes.
    File(u64),
    /// A service: an `Open` of it is handed to [`Tree::connect`].
    Service,
}

/// A read-only tree of directories and files. Paths are relative to its
/// root (`""` is the root itself) and already checked: segments joined by
/// `/`, none empty, `.` or `..`.
pub trait Tree {
    /// What `path` names, if anything.
    fn lookup(&self, path: &str) -> Option<Node>;
    /// The entries of directory `path`.
    fn list(&self, path: &str) -> Vec<DirEntry>;
    /// Up to `count` bytes of file `path` from `offset`.
    fn read(&self, path: &str, offset: u64, count: usize) -> Option<Vec<u8>>;
    /// [`Tree::read`] with a reason when it fails: a tree whose reads can
    /// fail for more than "no such file" (blobfs: `IO_DATA_INTEGRITY`)
    /// overrides this. The default is `NOT_FOUND` where `read` is `None`.
    fn read_checked(&self, path: &str, offset: u64, count: usize) -> Result<Vec<u8>, Status> {
        self.read(path, offset, count).ok_or(Status::NOT_FOUND)
    }
    /// Connects `channel` to service `path` (the default closes it).
    fn connect(&self, _path: &str, _channel: Channel) {}
    /// The whole contents of file `path` as of now, for a file whose
    /// contents change: a connection opened to it then reads that copy,
    /// never a mix of two versions. `None` (the default): reads go to
    /// [`Tree::read`].
    fn snapshot(&self, _path: &str) -> Option<Vec<u8>> {
        None
    }
}

/// Most entries one `ReadDir` returns (`vector<DirEntry>:256`).
const MAX_ENTRIES: usize = 256;

/// `base` and `relative` joined, if `relative` is a valid relative path
/// (segments without `.`, `..` or empty ones), or `.` (`base` itself).
pub fn join(base: &str, relative: &str) -> Option<String> {
    if relative == "." {
        return Some(base.to_string());
    }
    if relative.is_empty()
        || relative
            .split('/')
            .any(|segment| segment.is_empty() || segment == "." || segment == "..")
    {
        return None;
    }
    Some(if base.is_empty() {
        relative.to_string()
    } else {
        alloc::format!("{base}/{relative}")
    })
}

/// Most connections open at once to one served tree (the first one and
/// everything opened through it): past it, opens are refused by closing
/// the new channel, so one client cannot make the server hold without
/// bound.
pub const MAX_CONNECTIONS_PER_TREE: usize = 64;

/// Serves `path` of `tree` on `channel`: as a directory or a file, as the
/// tree says; closes `channel` if `path` names nothing, or if the tree has
/// [`MAX_CONNECTIONS_PER_TREE`] connections already.
pub fn serve(tree: Rc<dyn Tree>, path: String, channel: Channel, spawner: &Spawner) {
    // Each connection holds the tree: the count is the connections open
    // (plus this caller's reference).
    if Rc::strong_count(&tree) > MAX_CONNECTIONS_PER_TREE {
        return;
    }
    match tree.lookup(&path) {
        Some(Node::Directory) => {
            spawner.spawn(serve_directory(tree, path, channel, spawner.clone()))
        }
        Some(Node::File(_)) => {
            let snapshot = tree.snapshot(&path);
            spawner.spawn(serve_file(tree, path, snapshot, channel))
        }
        Some(Node::Service) => tree.connect(&path, channel),
        None => {} // `channel` closes: the client sees PEER_CLOSED
    }
}

struct DirectoryConnection {
    tree: Rc<dyn Tree>,
    path: String,
    opened: Option<DirectoryOpenRequest>,
}

impl DirectoryServer for DirectoryConnection {
    fn open(&mut self, request: DirectoryOpenRequest) {
        self.opened = Some(request);
    }

    fn read_dir(&mut self) -> Result<DirectoryReadDirResponse, i32> {
        let entries = self.tree.list(&self.path);
        if entries.len() > MAX_ENTRIES {
            return Err(Status::BUFFER_TOO_SMALL.0);
        }
        Ok(DirectoryReadDirResponse { entries })
    }
}

async fn serve_directory(tree: Rc<dyn Tree>, path: String, channel: Channel, spawner: Spawner) {
    let transport = ChannelTransport::new(channel);
    let mut connection = DirectoryConnection {
        tree,
        path,
        opened: None,
    };
    while let Some(mut message) = crate::next_message(&transport).await {
        let reply = dispatch_directory(&mut connection, &mut message);
        if let Some(request) = connection.opened.take() {
            let object = Channel::from_handle(Handle::from_raw(request.object.into_raw()));
            if let Some(path) = join(&connection.path, &request.path) {
                serve(Rc::clone(&connection.tree), path, object, &spawner);
            }
        }
        match reply {
            Ok(Some(reply)) => {
                if transport.send(reply).is_err() {
                    return;
                }
            }
            Ok(None) => {}
            Err(_) => return, // a malformed request: drop the connection
        }
    }
}

struct FileConnection {
    tree: Rc<dyn Tree>,
    path: String,
    snapshot: Option<Vec<u8>>,
}

impl FileServer for FileConnection {
    fn read(&mut self, request: FileReadRequest) -> Result<FileReadResponse, i32> {
        let count = request.count.min(MAX_READ) as usize;
        let Some(snapshot) = &self.snapshot else {
            return self
                .tree
                .read_checked(&self.path, request.offset, count)
                .map(|data| FileReadResponse { data })
                .map_err(|status| status.0);
        };
        let start = usize::try_from(request.offset)
            .unwrap_or(usize::MAX)
            .min(snapshot.len());
        let end = start.saturating_add(count).min(snapshot.len());
        Ok(FileReadResponse {
            data: snapshot[start..end].to_vec(),
        })
    }

    fn get_size(&mut self) -> FileGetSizeResponse {
        let size = match (&self.snapshot, self.tree.lookup(&self.path)) {
            (Some(snapshot), _) => snapshot.len() as u64,
            (None, Some(Node::File(size))) => size,
            _ => 0,
        };
        FileGetSizeResponse { size }
    }
}

async fn serve_file(tree: Rc<dyn Tree>, path: String, snapshot: Option<Vec<u8>>, channel: Channel) {
    let transport = ChannelTransport::new(channel);
    let mut connection = FileConnection {
        tree,
        path,
        snapshot,
    };
    while let Some(mut message) = crate::next_message(&transport).await {
        match dispatch_file(&mut connection, &mut message) {
            Ok(Some(reply)) => {
                if transport.send(reply).is_err() {
                    return;
                }
            }
            Ok(None) => {}
            Err(_) => return,
        }
    }
}

/// Opens `path` below the directory `directory` (borrowed); returns the
/// client end (speak `Directory` or `File` on it, as `path` is).
pub fn open_at(directory: &Channel, path: &str) -> Result<Channel, Status> {
    let (client, server) = Channel::create()?;
    crate::open(directory.raw_handle(), path, server)?;
    Ok(client)
}

/// Lists the directory `directory`. `NOT_FOUND` if the server closed it
/// (an `Open` of something that is not there, or not a directory).
pub fn read_dir(directory: Channel) -> Result<Vec<DirEntry>, Status> {
    let client = DirectoryClient::new(ChannelTransport::new(directory));
    match client.read_dir() {
        Ok(Ok(response)) => Ok(response.entries),
        Ok(Err(status)) => Err(Status(status)),
        Err(_) => Err(Status::NOT_FOUND),
    }
}

/// Reads the whole file `file`, up to `limit` bytes. `NOT_FOUND` if the
/// server closed it (an `Open` of something that is not there, or not a
/// file).
pub fn read_file(file: Channel, limit: usize) -> Result<Vec<u8>, Status> {
    let mut data = Vec::new();
    read_file_with(file, limit, |_, piece| {
        data.extend_from_slice(piece);
        Ok(())
    })?;
    Ok(data)
}

/// Reads at most `limit` bytes of `file` one reply at a time, giving each
/// piece to `sink` with its offset, so that a large file never needs to
/// be held whole; the number of bytes read.
pub fn read_file_with(
    file: Channel,
    limit: usize,
    mut sink: impl FnMut(u64, &[u8]) -> Result<(), Status>,
) -> Result<u64, Status> {
    let client = FileClient::new(ChannelTransport::new(file));
    let mut read = 0usize;
    while read < limit {
        let count = (limit - read).min(MAX_READ as usize) as u32;
        let request = FileReadRequest {
            offset: read as u64,
            count,
        };
        match client.read(request) {
            Ok(Ok(response)) if response.data.is_empty() => break,
            Ok(Ok(response)) => {
                let piece = &response.data[..response.data.len().min(limit - read)];
                sink(read as u64, piece)?;
                read += piece.len();
            }
            Ok(Err(status)) => return Err(Status(status)),
            Err(_) => return Err(Status::NOT_FOUND),
        }
    }
    Ok(read as u64)
}

/// The kind of an entry, as a word for listings.
pub fn kind_name(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Directory => "dir",
        EntryKind::File => "file",
        EntryKind::Service => "service",
    }
}
