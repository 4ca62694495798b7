//! Layers: applying a layer tar onto a directory (`apply`) and producing one from a
//! container's changes (`diff`).

pub mod apply;
pub mod diff;
